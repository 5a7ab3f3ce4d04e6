"""Shared by the no-code scoring script and batch driver: find and load the MLflow model, shape its output.

Only imported inside images whose environment came from an MLflow model (mlflow-skinny, pandas).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MLMODEL = "MLmodel"


class InputError(ValueError):
    """A request or file the model cannot take; the message says what shape was expected."""


def model_folder(model_dir: str | None = None) -> Path:
    """The folder with the MLmodel file under AZUREML_MODEL_DIR (Azure mounts the model folder inside it)."""
    root = Path(model_dir or os.environ.get("AZUREML_MODEL_DIR") or ".")
    if (root / MLMODEL).is_file():
        return root
    found = sorted(path.parent for path in root.glob(f"*/{MLMODEL}"))
    if not found:
        found = sorted(path.parent for path in root.rglob(MLMODEL))
    if not found:
        raise FileNotFoundError(
            f"no {MLMODEL} file under AZUREML_MODEL_DIR={root}: not an MLflow model folder"
        )
    return found[0]


def load_model(model_dir: str | None = None) -> Any:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(model_folder(model_dir)))


def column_names(model: Any) -> list[str] | None:
    """Input column names from the model's signature, when it is column-based."""
    signature = getattr(getattr(model, "metadata", None), "signature", None)
    inputs = getattr(signature, "inputs", None)
    if inputs is None or not getattr(inputs, "has_input_names", lambda: False)():
        return None
    if getattr(inputs, "is_tensor_spec", lambda: False)():
        return None
    names: list[str] = inputs.input_names()
    return names


def column_types(model: Any) -> dict[str, Any]:
    """Column -> pandas dtype from a column-based signature ({} otherwise)."""
    signature = getattr(getattr(model, "metadata", None), "signature", None)
    inputs = getattr(signature, "inputs", None)
    if column_names(model) is None or inputs is None:
        return {}
    try:
        names, types = inputs.input_names(), inputs.pandas_types()
        if len(names) != len(types):  # no zip(strict=): this runs on Python 3.9 images too
            raise ValueError(f"the model's input schema has {len(names)} names for {len(types)} types")
        return dict(zip(names, types))  # noqa: B905
    except (TypeError, ValueError, AttributeError):
        return {}


def conform(frame: Any, types: dict[str, Any]) -> Any:
    """Cast a frame's columns to the signature's types, as Azure's MLflow scoring does (JSON and CSV give
    int64 where a signature says double, which MLflow's schema check refuses); InputError naming the
    column that does not convert."""
    wanted = {name: dtype for name, dtype in types.items() if name in getattr(frame, "columns", ())}
    for name, dtype in wanted.items():
        try:
            frame[name] = frame[name].astype(dtype)
        except (TypeError, ValueError) as error:
            raise InputError(f"column {name!r} does not convert to the model's {dtype}: {error}") from None
    return frame


_JSON_TYPES = {
    "double": "number",
    "float": "number",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": "string",
    "binary": "string",
    "datetime": "string",
}
_EXAMPLES = {"number": 0.0, "integer": 0, "boolean": False, "string": ""}


def swagger_schemas(model: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(input, output) JSON schemas of Azure's request and answer from the model's signature, for
    /swagger.json; None without a signature."""
    signature = getattr(getattr(model, "metadata", None), "signature", None)
    if signature is None:
        return None
    try:
        described = signature.to_dict()
        inputs = json.loads(described.get("inputs") or "[]")
        outputs = json.loads(described.get("outputs") or "[]")
    except (AttributeError, TypeError, ValueError):
        return None
    named = [
        spec
        for spec in inputs
        if isinstance(spec, dict) and spec.get("name") and spec.get("type") != "tensor"
    ]
    if named and len(named) == len(inputs):
        kinds = [_JSON_TYPES.get(str(spec.get("type")), "string") for spec in named]
        data: dict[str, Any] = {
            "type": "object",
            "required": ["columns", "data"],
            "properties": {
                "columns": {
                    "type": "array",
                    "items": {"type": "string"},
                    "example": [s["name"] for s in named],
                },
                "index": {"type": "array", "items": {"type": "integer"}, "example": [0]},
                "data": {
                    "type": "array",
                    "items": {"type": "array", "items": {}},
                    "example": [[_EXAMPLES[kind] for kind in kinds]],
                },
            },
        }
    else:
        data = {"type": "array", "items": {}}
    params = {"type": "object", "description": "Inference parameters, when the model declares them."}
    request = {
        "type": "object",
        "required": ["input_data"],
        "properties": {"input_data": data, "params": params},
    }
    kinds = [_JSON_TYPES.get(str(spec.get("type")), "string") for spec in outputs if isinstance(spec, dict)]
    answer: dict[str, Any] = {"type": "array", "items": {"type": kinds[0]} if len(kinds) == 1 else {}}
    return request, answer


def to_jsonable(predictions: Any) -> Any:
    """What Azure's MLflow scoring answers: arrays and series as lists, frames as records."""
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, dict):
        return {key: to_jsonable(value) for key, value in predictions.items()}
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    if isinstance(predictions, (list, tuple)):
        return [to_jsonable(item) for item in predictions]
    return predictions
