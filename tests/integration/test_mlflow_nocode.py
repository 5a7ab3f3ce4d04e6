"""MLflow models deployed with no code, online and batch, through the real engine, images and router.

The model is the project's own MLflow fixture (tests/components/fixtures/assets/mlflow-model: a
`loader_module` flavor computing 2a - b + 0.5), registered as `type: mlflow_model` the way
`az ml model create --type mlflow_model` registers one; neither deployment has code_configuration
or environment: the image comes from the model's conda.yaml, the script and driver are ours.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.batch_client import BatchEndpointClient
from tests.integration.fixtures.tiny_endpoint import local_stack
from tests.integration.pulumi_stack import TempStack
from tests.integration.scoring import post_score

pytestmark = pytest.mark.integration
MODEL = Path(__file__).resolve().parents[1] / "components" / "fixtures" / "assets" / "mlflow-model"
ONLINE, BATCH, CLUSTER = "it-mlflow", "it-mlflow-batch", "it-mlf-cpu"


def _serving() -> dict[str, Any]:
    return {
        "models": [{"name": "it-linear", "version": 1, "type": "mlflow_model", "path": str(MODEL)}],
        "computes": [{"name": CLUSTER, "size": "Standard_DS1_v2", "min_instances": 0, "max_instances": 1}],
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
                "model": "azureml:it-linear@latest",
                "instance_type": "Standard_DS1_v2",
                "instance_count": 1,
            },
            {
                "$schema": "https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json",
                "name": "nocode",
                "endpoint_name": BATCH,
                "model": "azureml:it-linear:1",
                "compute": f"azureml:{CLUSTER}",
                "settings": {"mini_batch_size": 1},
            },
        ],
    }


def _post(uri: str, key: str, body: Any) -> tuple[int, Any]:
    return post_score(uri, key, body=json.dumps(body).encode())


def test_an_mlflow_model_serves_online_and_batch_without_code() -> None:
    stack = TempStack.create(local_stack(_serving()))
    try:
        stack.up()
        out = stack.outputs(show_secrets=True)
        uri, key = out[f"{ONLINE}.scoring_uri"], out[f"{ONLINE}.primary_key"]
        split = {"input_data": {"columns": ["a", "b"], "index": [0, 1], "data": [[1.0, 2.0], [3.0, 1.0]]}}
        assert _post(uri, key, split) == (200, [0.5, 5.5])
        assert _post(uri, key, {"input_data": [[2.0, 0.0]], "params": {"scale": 2}}) == (200, [9.0])
        status, answer = _post(uri, key, {"data": [[1, 2]]})
        assert status == 400 and "no input_data in the request" in answer["message"], answer
        # /swagger.json from the model's signature: Azure's request shape with its columns.
        swagger = urllib.request.Request(
            out[f"{ONLINE}.swagger_uri"], headers={"Authorization": f"Bearer {key}"}
        )
        with urllib.request.urlopen(swagger, timeout=60) as resp:
            document = json.loads(resp.read())
        service_input = document["definitions"]["ServiceInput"]["properties"]["input_data"]
        assert service_input["properties"]["columns"]["example"] == ["a", "b"]

        client = BatchEndpointClient.from_outputs(out, BATCH)
        inputs = client.inputs({"one.csv": "a,b\n1,2\n3,1\n", "two.csv": "a,b\n0,0\n"})
        job = client.wait(client.invoke(inputs)["name"], deadline_s=600)
        assert job["properties"]["status"] == "Completed", job
        errors = client.job_folder(job["name"]) / "logs" / "job_error.txt"
        assert job["properties"]["progress"]["miniBatches"]["failed"] == 0, errors.read_text()
        # As Azure's MLflow batch samples read it: pd.read_csv(..., names=["row", "prediction", "file"]).
        assert sorted(client.output_lines(job)) == ["0,0.5,one.csv", "0,0.5,two.csv", "1,5.5,one.csv"]
    finally:
        stack.destroy_and_remove()
