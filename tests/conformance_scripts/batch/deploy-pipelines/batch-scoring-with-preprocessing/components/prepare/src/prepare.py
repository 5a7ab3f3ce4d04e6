"""mlendpoints' stand-in for the example's prepare step (../shared/conformance holds no code).

Same command line as the component's: applies the registered column transformer to every CSV of
--data_path (or learns one when none is given) and writes the transformed features, one CSV per input,
plus the transformer it used.
"""

import argparse
import glob
import os

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

TRANSFORMER_FILE = "column_transformer.pkl"
CONTINUOUS = ["age", "chol", "oldpeak", "thalach", "trestbps"]
DISCRETE = ["ca", "cp", "exang", "fbs", "restecg", "sex", "slope", "thal"]
TARGET = "target"


def learn(encoding: str) -> ColumnTransformer:
    encoders = {
        "ordinal": lambda: OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=float("nan")),
        "onehot": lambda: OneHotEncoder(handle_unknown="ignore"),
    }
    if encoding not in encoders:
        raise SystemExit(f"--categorical_encoding must be ordinal or onehot, not {encoding!r}")
    numeric = Pipeline([("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())])
    categorical = Pipeline(
        [("imputer", SimpleImputer(strategy="most_frequent")), ("encoder", encoders[encoding]())]
    )
    return ColumnTransformer(
        [("continuous_pipe", numeric, CONTINUOUS), ("discrete_pipe", categorical, DISCRETE)],
        remainder="passthrough",
    )


def main() -> None:
    parser = argparse.ArgumentParser("prepare")
    parser.add_argument("--data_path", required=True)
    parser.add_argument("--transformations_path")
    parser.add_argument("--categorical_encoding", default="ordinal")
    parser.add_argument("--prepared_data_path", required=True)
    parser.add_argument("--transformations_output_path", required=True)
    args = parser.parse_args()

    transformer = None
    if args.transformations_path:
        transformer = joblib.load(os.path.join(args.transformations_path, TRANSFORMER_FILE))
        print(f"using the transformations in {args.transformations_path}")
    for path in sorted(glob.glob(os.path.join(args.data_path, "*.csv"))):
        frame = pd.read_csv(path)
        target = frame.pop(TARGET) if TARGET in frame.columns else None
        if transformer is None:
            transformer = learn(args.categorical_encoding).fit(frame)
        values = transformer.transform(frame)
        encoder = transformer.named_transformers_["discrete_pipe"].named_steps["encoder"]
        columns = CONTINUOUS + list(encoder.get_feature_names_out(DISCRETE))
        prepared = pd.DataFrame(values, columns=columns)
        if target is not None:
            prepared[TARGET] = target.to_numpy()
        out = os.path.join(args.prepared_data_path, os.path.splitext(os.path.basename(path))[0] + ".csv")
        prepared.to_csv(out, index=False)
        print(f"{path}: {len(prepared)} rows -> {out}")
    os.makedirs(args.transformations_output_path, exist_ok=True)
    joblib.dump(transformer, os.path.join(args.transformations_output_path, TRANSFORMER_FILE))


if __name__ == "__main__":
    main()
