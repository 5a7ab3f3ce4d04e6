"""The project's own stand-in for the heart classifier's custom batch driver (../shared holds data only).

Mirrors what ../shared/conformance/README.md says Azure's driver does: read each CSV file, predict
with the model, return the input rows plus a prediction column and the file name. It unpickles the
scikit-learn pipeline directly where Azure's driver goes through mlflow.pyfunc.
"""

import logging
import os
import pickle

import pandas


def init():
    global model
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "model.pkl")
    with open(path, "rb") as handle:
        model = pickle.load(handle)
    logging.info("heart classifier loaded from %s", path)


def run(mini_batch):
    results = []
    for path in mini_batch:
        data = pandas.read_csv(path)
        data["prediction"] = model.predict(data)
        data["file"] = os.path.basename(path)
        results.append(data)
    return pandas.concat(results, ignore_index=True)
