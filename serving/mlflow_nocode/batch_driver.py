"""No-code batch driver of MLflow models (mlendpoints' own, the output Azure's no-code driver writes).

Each input file is read as a table (CSV, or Parquet by its suffix), scored with `mlflow.pyfunc`, and
every prediction becomes one output line `row,prediction,file` (the row within its file, the
prediction, the file name), which is how Azure ML's MLflow batch samples read predictions.csv:
`pd.read_csv("predictions.csv", names=["row", "prediction", "file"])`. A model with several output
columns puts them all between the row and the file.
"""

from __future__ import annotations  # annotations stay text: these run on Python 3.9 images too

import csv
import io
import os
from typing import Any

from serving.mlflow_nocode.model_io import InputError, column_names, column_types, conform, load_model

model: Any = None
columns: list[str] | None = None
types: dict[str, Any] = {}
_READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".pq": "read_parquet"}


def init():
    global model, columns, types
    model = load_model()
    columns = column_names(model)
    types = column_types(model)


def _read(path):
    import pandas as pd

    suffix = os.path.splitext(path)[1].lower()
    reader = _READERS.get(suffix)
    if reader is None:
        what = suffix or "files without a suffix"
        raise InputError(
            f"{os.path.basename(path)}: MLflow batch deployments read CSV or Parquet files "
            f"(.csv, .parquet), not {what}"
        )
    return getattr(pd, reader)(path)


def _values(prediction):
    if hasattr(prediction, "tolist"):
        prediction = prediction.tolist()
    if isinstance(prediction, (list, tuple)):
        return list(prediction)
    if isinstance(prediction, dict):
        return list(prediction.values())
    return [prediction]


def run(mini_batch):
    lines = []
    for path in mini_batch:
        frame = _read(path)
        if columns is not None:
            frame = conform(frame[[name for name in columns if name in frame.columns]].copy(), types)
        predictions = model.predict(frame)
        if hasattr(predictions, "itertuples") and hasattr(predictions, "columns"):
            rows = [list(row) for row in predictions.itertuples(index=False)]
        else:
            rows = [
                _values(p) for p in (predictions.tolist() if hasattr(predictions, "tolist") else predictions)
            ]
        name = os.path.basename(path)
        for index, values in enumerate(rows):
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow([index, *values, name])
            lines.append(out.getvalue())
        if not rows:
            lines.append(f",,{name}")  # an empty file still counts as scored (one line per input file)
    return lines
