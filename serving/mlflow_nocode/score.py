"""No-code scoring script of MLflow models on online endpoints (mlendpoints' own, Azure's request shapes).

Request bodies, as Azure ML's MLflow deployments take them
(learn.microsoft.com/azure/machine-learning/how-to-deploy-mlflow-models-online-endpoints):

* `{"input_data": {"columns": [...], "index": [...], "data": [[...], ...]}}`: a pandas DataFrame in
  split orientation (`index` optional);
* `{"input_data": [[...], ...]}`: rows; a column-based signature names the columns, otherwise the
  rows are a tensor (numpy array);
* `{"input_data": [{"col": value, ...}, ...]}`: records;
* `{"input_data": {"name": [...], ...}}` (no `data` key): named tensors;
* with `"params": {...}` beside `input_data` for models that take inference parameters.

MLflow's own serving shapes (`dataframe_split`, `dataframe_records`, `instances`, `inputs`) are
accepted too. The answer is the predictions as JSON: a list for arrays and series, records for frames.
Anything else gets 400 with what was expected.
"""

from __future__ import annotations  # annotations stay text: these run on Python 3.9 images too

import json
from typing import Any

from azureml.contrib.services.aml_response import AMLResponse

from serving.mlflow_nocode.model_io import (
    InputError,
    column_names,
    column_types,
    conform,
    load_model,
    swagger_schemas,
    to_jsonable,
)
from serving.scorer.swagger import SCHEMAS_ATTRIBUTE

model: Any = None
columns: list[str] | None = None
types: dict[str, Any] = {}


def init():
    global model, columns, types
    model = load_model()
    columns = column_names(model)
    types = column_types(model)
    # /swagger.json from the model's signature (serving/scorer/swagger.py reads this attribute).
    schemas = swagger_schemas(model)
    if schemas is not None:
        setattr(run, SCHEMAS_ATTRIBUTE, schemas)


def _frame(value, names=None, index=None):
    import pandas as pd

    return conform(pd.DataFrame(value, columns=names, index=index), types)


def _array(value):
    import numpy as np

    return np.asarray(value)


def parse(body):
    """The model input and params of one request body (a dict); InputError when it has no known shape."""
    if not isinstance(body, dict):
        raise InputError(
            'the request must be a JSON object such as {"input_data": {"columns": [...], "data": [[...]]}}'
        )
    params = body.get("params")
    if "input_data" in body:
        data = body["input_data"]
        if isinstance(data, dict) and "data" in data:
            return _frame(data["data"], data.get("columns") or columns, data.get("index")), params
        if isinstance(data, dict):
            return {name: _array(value) for name, value in data.items()}, params
        if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
            return _frame(data), params
        if isinstance(data, list):
            if columns is not None and data and all(isinstance(row, list) for row in data):
                return _frame(data, columns), params
            return _array(data), params
        raise InputError(
            "input_data must be a split-oriented frame ({columns, index, data}), a list of rows or "
            "records, or named tensors"
        )
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        return _frame(split.get("data"), split.get("columns"), split.get("index")), params
    if "dataframe_records" in body:
        return _frame(body["dataframe_records"]), params
    for key in ("instances", "inputs"):
        if key in body:
            value = body[key]
            if isinstance(value, dict):
                return {name: _array(item) for name, item in value.items()}, params
            if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
                return _frame(value), params
            return _array(value), params
    raise InputError(
        'no input_data in the request; send {"input_data": {"columns": [...], "index": [...], '
        '"data": [[...]]}} (or MLflow\'s dataframe_split, dataframe_records, instances or inputs)'
    )


def run(raw_data):
    try:
        body = json.loads(raw_data)
        data, params = parse(body)
    except (ValueError, TypeError, KeyError) as error:
        return AMLResponse({"message": f"Bad request: {error}"}, 400, json_str=True)
    try:
        predictions = model.predict(data, params=params) if params else model.predict(data)
    except Exception as error:  # MLflow's schema enforcement says which column or type is wrong
        if type(error).__name__ == "MlflowException":
            return AMLResponse({"message": f"Bad request: {error}"}, 400, json_str=True)
        raise
    return to_jsonable(predictions)
