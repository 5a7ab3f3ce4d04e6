"""The project's own stand-in for azureml-examples' model-1 score.py: the pickled regression's predictions."""

import json
import logging
import os

import joblib
import numpy

model = None


def init():
    global model
    # AZUREML_MODEL_DIR is the folder that contains the deployment's `model/` folder.
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model/sklearn_regression_model.pkl")
    model = joblib.load(path)
    logging.info("model-1 loaded from %s", path)


def run(raw_data):
    # Two log lines per call, like the script bench/README.md's model-1 rows were measured with.
    logging.info("model-1: request received")
    result = model.predict(numpy.array(json.loads(raw_data)["data"])).tolist()
    logging.info("model-1: request processed")
    return result
