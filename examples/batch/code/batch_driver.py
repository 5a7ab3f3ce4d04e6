"""Batch driver of the example deployment: scores CSV files of ten features with the linear model.

Azure ML's batch contract: init() once per worker process, run(mini_batch) once per mini-batch of
file paths, returning one or more rows per file (here a DataFrame: file, row, prediction).
"""

import json
import logging
import os

import numpy
import pandas


def init():
    global model
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "model.json")
    with open(path) as handle:
        spec = json.load(handle)
    model = (numpy.asarray(spec["coef"], dtype=float), float(spec["intercept"]))
    logging.info("model loaded from %s", path)


def run(mini_batch):
    coef, intercept = model
    results = []
    for path in mini_batch:
        data = pandas.read_csv(path)
        predictions = data.to_numpy(dtype=float) @ coef + intercept
        results.append(
            pandas.DataFrame(
                {
                    "file": os.path.basename(path),
                    "row": range(len(data)),
                    "prediction": predictions.round(6),
                }
            )
        )
    return pandas.concat(results, ignore_index=True)
