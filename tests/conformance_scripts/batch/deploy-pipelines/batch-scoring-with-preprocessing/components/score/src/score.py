"""mlendpoints' stand-in for the example's score step (../shared/conformance holds no code).

Same command line as the component's: predicts every CSV of --data_path with the MLflow model, the
columns cast to the types of the model's input signature (MLflow refuses other types; the signature
says `long` for features the prepare step scaled to floats, so those are rounded), and writes the rows
with a `prediction` column (`--score_mode append`) or the predictions alone, one CSV per input.
"""

import argparse
import glob
import os

import mlflow.pyfunc
import pandas as pd

CASTS = {"long": "Int64", "integer": "Int64", "double": "float64", "float": "float64", "string": "str"}


def typed(frame: pd.DataFrame, model: "mlflow.pyfunc.PyFuncModel") -> pd.DataFrame:
    schema = model.metadata.get_input_schema()
    if schema is None:
        return frame
    for column in schema.inputs:
        if column.name in frame.columns:
            kind = CASTS.get(str(column.type).split(".")[-1].lower())
            if kind == "Int64":
                frame[column.name] = frame[column.name].round().astype("Int64")
            elif kind == "str":
                frame[column.name] = frame[column.name].round().astype("Int64").astype(str)
            elif kind is not None:
                frame[column.name] = frame[column.name].astype(kind)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser("score")
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--data_path", required=True)
    parser.add_argument("--score_mode", default="append")
    parser.add_argument("--scores_path", required=True)
    args = parser.parse_args()

    model = mlflow.pyfunc.load_model(args.model_path)
    for path in sorted(glob.glob(os.path.join(args.data_path, "*.csv"))):
        frame = typed(pd.read_csv(path), model)
        predictions = model.predict(frame)
        if args.score_mode == "append":
            frame["prediction"] = predictions
        else:
            frame = pd.DataFrame({"prediction": predictions})
        out = os.path.join(args.scores_path, os.path.basename(path))
        frame.to_csv(out, index=False)
        print(f"{path}: {len(frame)} predictions -> {out}")


if __name__ == "__main__":
    main()
