"""The conformance pipeline deployment (../shared/conformance, batch-scoring-with-preprocessing)
deployed as the example's deploy-and-run.sh does: its environment, model, transformations and both
components registered from their own files, the deployment from its own deployment.yml, invoked with
its inputs.yml (heart.csv). The scores match the same prepare and score code run directly in the
step image. The example holds no code: the components' `src` folders are our stand-ins
(tests/conformance_scripts), put where the YAML files name them in a copy of the example.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import environments
from components.azureml_yaml import load_yaml_file
from components.specs import EnvironmentSpec
from tests.conformance_scripts import ABSENT, ENDPOINTS, STAND_INS
from tests.integration.batch_client import BatchEndpointClient
from tests.integration.fixtures.tiny_endpoint import local_stack
from tests.integration.pulumi_stack import REPO, TempStack

pytestmark = [pytest.mark.integration, pytest.mark.conformance]
RELATIVE = Path("batch") / "deploy-pipelines" / "batch-scoring-with-preprocessing"
EXAMPLE = ENDPOINTS / RELATIVE
ENDPOINT = "it-uci-classifier"


def _workspace(tmp_path: Path) -> Path:
    """A copy of the example with our stand-in scripts in the components' `src` folders."""
    copy = tmp_path / "example"
    shutil.copytree(EXAMPLE, copy)
    for component in ("prepare", "score"):
        shutil.copytree(
            STAND_INS / RELATIVE / "components" / component / "src", copy / "components" / component / "src"
        )
    return copy


def _serving(example: Path) -> dict[str, Any]:
    # deploy-and-run.sh: `az ml environment create -f environment/xgboost-sklearn-py38.yml`, the model
    # and transformations with `az ml model create --name ... --type ... --path ...`, both components
    # with `az ml component create -f`, `az ml compute create -n batch-cluster`, then the endpoint and
    # `az ml batch-deployment create --endpoint $ENDPOINT_NAME -f deployment.yml --set-default`.
    return {
        "environments": [str(example / "environment" / "xgboost-sklearn-py38.yml")],
        "models": [
            {"name": "heart-classifier", "type": "mlflow_model", "path": str(example / "model")},
            {
                "name": "heart-classifier-transforms",
                "type": "custom_model",
                "path": str(example / "transformations"),
            },
        ],
        "components": [
            str(example / "components" / "prepare" / "prepare.yml"),
            str(example / "components" / "score" / "score.yml"),
        ],
        "computes": [
            {"name": "batch-cluster", "size": "Standard_DS2_v2", "min_instances": 0, "max_instances": 2}
        ],
        "endpoints": [
            {
                "file": str(example / "endpoint.yml"),
                "name": ENDPOINT,
                "defaults": {"deployment_name": "uci-classifier-prepros-xgb"},
            }
        ],
        "deployments": [{"file": str(example / "deployment.yml"), "endpoint_name": ENDPOINT}],
    }


def _direct(image: str, example: Path, out: Path) -> None:
    """prepare then score, as the pipeline's commands run them, in the step image, without mlendpoints."""
    out.mkdir()
    script = (
        "set -e; mkdir -p /out/prepared /out/transformations /out/scores\n"
        "cd /src/prepare && python prepare.py --data_path /data --transformations_path /transforms "
        "--prepared_data_path /out/prepared --transformations_output_path /out/transformations\n"
        "cd /src/score && python score.py --model_path /model --data_path /out/prepared --score_mode append "
        "--scores_path /out/scores\n"
    )
    mounts = [
        "-v", f"{example / 'data' / 'unlabeled'}:/data:ro",
        "-v", f"{example / 'transformations'}:/transforms:ro",
        "-v", f"{example / 'model'}:/model:ro", "-v", f"{out}:/out",
        "-v", f"{example / 'components' / 'prepare' / 'src'}:/src/prepare:ro",
        "-v", f"{example / 'components' / 'score' / 'src'}:/src/score:ro",
    ]  # fmt: skip
    subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--user", "0:0", *mounts, image, "sh", "-c", script],
        capture_output=True, text=True, check=True,
    )  # fmt: skip


@pytest.mark.skipif(not EXAMPLE.is_dir(), reason=ABSENT)
def test_the_preprocessing_pipeline_scores_heart_csv_as_its_code_does(tmp_path: Path) -> None:
    example = _workspace(tmp_path)
    stack = TempStack.create(local_stack(_serving(example)))
    try:
        stack.up()
        client = BatchEndpointClient.from_outputs(stack.outputs(show_secrets=True), ENDPOINT)
        # `az ml batch-endpoint invoke -n $ENDPOINT_NAME --f inputs.yml`: its local path is uploaded.
        invoked = subprocess.run(
            [str(REPO / "scripts" / "mle"), "--stack", stack.name, "batch", "invoke", ENDPOINT,
             "--file", str(example / "inputs.yml")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        props = client.wait(invoked.stdout.strip(), deadline_s=900)["properties"]
        assert props["status"] == "Completed", (props["error"], props["steps"])
        assert list(props["steps"]) == ["preprocess_job", "score_job"]
        scores = client.host_path(props["outputData"]["scores"]["uri"]) / "heart.csv"

        environment = load_yaml_file(example / "environment" / "xgboost-sklearn-py38.yml")
        spec = EnvironmentSpec.model_validate(
            environment.model_dump(exclude_none=True, exclude={"name", "version", "description", "tags"})
        )
        _direct(environments.image_tag(environments.plan_for_spec(spec)), example, tmp_path / "direct")
        direct = (tmp_path / "direct" / "scores" / "heart.csv").read_text()
        assert scores.read_text() == direct
        given = yaml.safe_load((example / "inputs.yml").read_text())["inputs"]
        rows = len((example / given["input_data"]["path"] / "heart.csv").read_text().splitlines()) - 1
        assert len(direct.splitlines()) == 1 + rows and direct.splitlines()[0].endswith(",prediction")
    finally:
        stack.destroy_and_remove()
