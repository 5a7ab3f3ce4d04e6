"""azureml-examples' heart classifier batch deployment (../shared/conformance) run as a batch job here.

The endpoint, deployment and data asset files are used as published. The deployment's
`azureml:heart-classifier-mlflow@latest` resolves to the model registered in the stack config, as the
walkthrough's `az ml model create --name heart-classifier-mlflow --type mlflow_model --path
deployment-custom/model` registers it. Two overrides say what we do instead: our own driver
(../shared holds no code) and our own environment (the model's pins have no wheels for the image's
Python). The predictions must be the model's own, as the deployment's image computes them when the
pipeline is called directly.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from components import environments
from components.azureml_yaml import load_yaml_document
from tests.conformance_scripts import ABSENT, ENDPOINTS, STAND_INS, code_override
from tests.integration.batch_client import BatchEndpointClient
from tests.integration.fixtures.tiny_endpoint import local_stack
from tests.integration.pulumi_stack import REPO, TempStack

pytestmark = [pytest.mark.integration, pytest.mark.conformance]
HEART = ENDPOINTS / "batch" / "deploy-models" / "heart-classifier-mlflow"
OURS = STAND_INS / "batch" / "deploy-models" / "heart-classifier-mlflow" / "deployment-custom"
CLUSTERS = ENDPOINTS.parent / "resources" / "compute"


@pytest.mark.skipif(not HEART.is_dir(), reason=ABSENT)
def test_heart_classifier_custom_driver_scores_the_unlabeled_dataset() -> None:
    deployment_file = HEART / "deployment-custom" / "deployment.yml"
    model = HEART / "deployment-custom" / "model"
    environment = {
        "image": environments.DEFAULT_BASE_IMAGE,
        "conda_file": str(OURS / "environment" / "conda.yaml"),
    }
    deployment = {"file": str(deployment_file), "environment": environment, **code_override(deployment_file)}
    registered = {"name": "heart-classifier-mlflow", "type": "mlflow_model", "path": str(model)}
    # The deployment runs on `azureml:batch-cluster`: the examples' basic cluster under that name.
    cluster = {"file": str(CLUSTERS / "cluster-basic.yml"), "name": "batch-cluster"}
    # As the walkthrough's `az ml batch-endpoint update --set defaults.deployment_name=...` does.
    default = {"deployment_name": "classifier-xgboost-custom"}
    endpoint = {"file": str(HEART / "endpoint.yml"), "defaults": default}
    # The data asset registered from its own file, as `az ml data create -f heart-dataset-unlabeled.yml`.
    data_asset = str(HEART / "heart-dataset-unlabeled.yml")
    serving = {"models": [registered], "data": [data_asset], "computes": [cluster], "endpoints": [endpoint]}
    serving["deployments"] = [deployment]
    stack = TempStack.create(local_stack(serving))
    try:
        stack.up()
        client = BatchEndpointClient.from_outputs(stack.outputs(show_secrets=True), "heart-classifier-batch")
        asset = yaml.safe_load((HEART / "heart-dataset-unlabeled.yml").read_text())
        data = HEART / asset["path"]
        # As the walkthrough invokes it: `az ml batch-endpoint invoke ... --input azureml:<asset>@latest`.
        mle = [str(REPO / "scripts" / "mle"), "--stack", stack.name, "batch", "invoke"]
        invoked = subprocess.run(
            [*mle, "heart-classifier-batch", "--input", "azureml:heart-dataset-unlabeled@latest"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert f"input {data.resolve()} (4 files" in invoked.stderr, invoked.stderr
        job = client.wait(invoked.stdout.strip(), deadline_s=600)
        assert job["properties"]["status"] == "Completed", job
        rows = client.output_lines(job)
        assert len(rows) == sum(len(p.read_text().splitlines()) - 1 for p in data.glob("*.csv"))
        # The same pipeline called directly in the deployment's image, over the same files.
        spec = load_yaml_document(
            deployment_file, overrides={k: v for k, v in deployment.items() if k != "file"}
        ).spec
        image = environments.image_tag(environments.plan_for_spec(spec.environment))
        script = (
            "import glob, pickle, sys, pandas as pd; m = pickle.load(open('/model/model.pkl', 'rb'))\n"
            "for f in sorted(glob.glob('/data/*.csv')):\n"
            "    d = pd.read_csv(f); d['prediction'] = m.predict(d); d['file'] = f.rsplit('/', 1)[1]\n"
            "    sys.stdout.write(d.to_csv(sep=' ', header=False, index=False))\n"
        )
        mounts = ["-v", f"{data}:/data:ro", "-v", f"{model}:/model:ro"]
        python = ["python", "-W", "ignore", "-c", script]
        direct = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", *mounts, image, *python],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert sorted(rows) == sorted(direct.stdout.splitlines())
        assert {row.rsplit(" ", 2)[1] for row in rows} <= {"0", "1"}
    finally:
        stack.destroy_and_remove()
