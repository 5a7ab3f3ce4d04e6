"""The conformance heart-classifier MLflow model (../shared/conformance) deployed with no code, online
and batch, as Azure's no-code walkthrough deploys it: registered `type: mlflow_model`, no scoring
script, no environment. Its conda.yaml pins a 2022 world for Python 3.8 (scikit-learn 1.1.2, xgboost
1.3.3, cloudpickle 1.6.0); the image resolves it for Python 3.11 (scikit-learn 1.1.3, the nearest
release with a wheel, and unpinned packages as of that release). Both answer what the model's own
pipeline predicts when called directly in the same image.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components import environments, mlflow_models
from tests.conformance_scripts import ABSENT, ENDPOINTS
from tests.integration.batch_client import BatchEndpointClient
from tests.integration.fixtures.tiny_endpoint import local_stack
from tests.integration.pulumi_stack import TempStack
from tests.integration.scoring import post_score

pytestmark = [pytest.mark.integration, pytest.mark.conformance]
HEART = ENDPOINTS / "batch" / "deploy-models" / "heart-classifier-mlflow"
MODEL = HEART / "deployment-custom" / "model"
ONLINE, BATCH, CLUSTER = "it-heart-online", "it-heart-batch", "it-heart-cpu"


def _serving() -> dict[str, Any]:
    return {
        "models": [{"name": "heart-classifier-mlflow", "type": "mlflow_model", "path": str(MODEL)}],
        "data": [str(HEART / "heart-dataset-unlabeled.yml")],
        "computes": [{"name": CLUSTER, "size": "Standard_DS2_v2", "min_instances": 0, "max_instances": 1}],
        "endpoints": [
            {"name": ONLINE, "auth_mode": "key", "traffic": {"nocode": 100}},
            {
                "$schema": "https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json",
                "name": BATCH,
                "auth_mode": "aad_token",
                "defaults": {"deployment_name": "nocode"},
            },
        ],
        "deployments": [
            {
                "name": "nocode",
                "endpoint_name": ONLINE,
                "model": "azureml:heart-classifier-mlflow@latest",
                "instance_type": "Standard_DS2_v2",
                "instance_count": 1,
            },
            {
                "$schema": "https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json",
                "name": "nocode",
                "endpoint_name": BATCH,
                "model": "azureml:heart-classifier-mlflow@latest",
                "compute": f"azureml:{CLUSTER}",
                "settings": {"mini_batch_size": 2},
            },
        ],
    }


def _value(text: str) -> int | float | str:
    """A CSV value as JSON writes it: 63 -> 63, 2.3 -> 2.3, fixed -> "fixed"."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _direct(image: str) -> dict[str, list[str]]:
    """The model's pipeline called directly in the deployment's image: predictions per file."""
    script = (
        "import glob, json, os, pickle, warnings; warnings.simplefilter('ignore'); import pandas as pd\n"
        "m = pickle.load(open('/model/model.pkl', 'rb'))\n"
        "print(json.dumps({os.path.basename(f): [str(p) for p in m.predict(pd.read_csv(f))]"
        " for f in sorted(glob.glob('/data/*.csv'))}))\n"
    )
    mounts = ["-v", f"{HEART / 'data'}:/data:ro", "-v", f"{MODEL}:/model:ro"]
    run = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", *mounts, image, "python", "-c", script],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    answer: dict[str, list[str]] = json.loads(run.stdout.strip().splitlines()[-1])
    return answer


@pytest.mark.skipif(not HEART.is_dir(), reason=ABSENT)
def test_the_heart_classifier_serves_online_and_batch_without_code() -> None:
    stack = TempStack.create(local_stack(_serving()))
    try:
        stack.up()
        out = stack.outputs(show_secrets=True)
        image = environments.image_tag(mlflow_models.environment_plan(mlflow_models.read_model(MODEL)))
        direct = _direct(image)

        first = HEART / "data" / "heart-unlabeled-0.csv"
        lines = first.read_text().splitlines()
        columns = lines[0].split(",")
        rows = [line.split(",") for line in lines[1:6]]
        typed = [[_value(value) for value in row] for row in rows]
        body = {"input_data": {"columns": columns, "index": list(range(len(typed))), "data": typed}}
        status, answer = post_score(
            out[f"{ONLINE}.scoring_uri"], out[f"{ONLINE}.primary_key"], body=json.dumps(body).encode()
        )
        assert status == 200, answer
        assert [str(p) for p in answer] == direct[first.name][:5]

        client = BatchEndpointClient.from_outputs(out, BATCH)
        invoked = subprocess.run(
            [str(Path(__file__).resolve().parents[2] / "scripts" / "mle"), "--stack", stack.name, "batch",
             "invoke", BATCH, "--input", "azureml:heart-dataset-unlabeled@latest"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        job = client.wait(invoked.stdout.strip(), deadline_s=900)
        assert job["properties"]["status"] == "Completed", job
        got: dict[str, dict[int, str]] = {}
        for line in client.output_lines(job):
            row, prediction, name = line.split(",")
            got.setdefault(name, {})[int(row)] = prediction
        assert {name: [got[name][i] for i in sorted(got[name])] for name in got} == direct
    finally:
        stack.destroy_and_remove()
