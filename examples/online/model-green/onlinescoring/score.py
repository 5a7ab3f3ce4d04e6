import json
import logging
import os

import numpy


def init():
    """Load the linear model once per worker; AZUREML_MODEL_DIR contains the model folder."""
    global model
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model/model.json")
    with open(model_path) as handle:
        spec = json.load(handle)
    model = {
        "name": spec["name"],
        "coef": numpy.asarray(spec["coef"], dtype=float),
        "intercept": float(spec["intercept"]),
    }
    logging.info("green model loaded from %s (%s)", model_path, spec["kind"])


def run(raw_data):
    """{"data": [[10 numbers], ...]} -> {"model": "green", "predictions": [one number per row]}."""
    data = numpy.asarray(json.loads(raw_data)["data"], dtype=float)
    if data.ndim != 2 or data.shape[1] != model["coef"].shape[0]:
        raise ValueError(f"expected rows of {model['coef'].shape[0]} numbers, got shape {data.shape}")
    predictions = data @ model["coef"] + model["intercept"]
    return {"model": model["name"], "predictions": predictions.tolist()}
