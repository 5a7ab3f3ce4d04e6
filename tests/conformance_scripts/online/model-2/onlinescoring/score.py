"""The project's own stand-in for azureml-examples' model-2 score.py: 0.5 per row (the green side)."""

import json
import logging
import os

import joblib

model = None


def init():
    global model
    # Loaded only so that a missing or unreadable model fails init() as it would for a real script.
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model/sklearn_regression_model.pkl")
    model = joblib.load(path)
    logging.info("model-2 loaded from %s", path)


def run(raw_data):
    # model-2's pickle is byte for byte model-1's, so predict() would answer model-1's numbers; the
    # conformance README says the real script answers [0.5, 0.5] for the sample request (two rows), which
    # is what makes the blue/green split observable, so this answers 0.5 per row instead of predicting.
    data = json.loads(raw_data)["data"]
    return [0.5] * len(data)
