"""No-code MLflow deployments: the model's MLmodel and requirements give the environment and the script."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components import mlflow_models
from components.environments import EnvironmentMappingError
from components.specs import ModelBatchDeploymentSpec, OnlineDeploymentSpec
from components.targets.scorer_env import app_env

ASSETS = Path(__file__).parent / "fixtures" / "assets"
MODEL = ASSETS / "mlflow-model"
HEART = (
    Path(__file__).resolve().parents[3]
    / "shared/conformance/azureml-examples/cli/endpoints/batch/deploy-models/heart-classifier-mlflow"
    / "deployment-custom/model"
)


def _online(**extra: object) -> OnlineDeploymentSpec:
    data = {"name": "blue", "endpoint_name": "ep1", "instance_type": "Standard_DS2_v2", "instance_count": 1}
    return OnlineDeploymentSpec.model_validate({**data, **extra})


def test_an_mlflow_model_without_code_or_environment_is_a_no_code_deployment() -> None:
    spec = _online(model={"path": MODEL, "type": "mlflow_model"})
    assert mlflow_models.is_no_code(spec)
    plan = mlflow_models.plan_for_deployment(spec)
    # The model's conda.yaml pins, mlflow served by mlflow-skinny at the same pin.
    assert plan.requirements == ("mlflow-skinny==3.17.2", "numpy", "pandas")
    assert plan.origin("mlflow-skinny") == f"{MODEL / 'conda.yaml'}:7: - mlflow==3.17.2"
    env = app_env(spec)
    assert env["AML_APP_ROOT"] == "/opt/mlendpoints/serving/mlflow_nocode"
    assert env["AZUREML_ENTRY_SCRIPT"] == "score.py"
    batch = ModelBatchDeploymentSpec.model_validate(
        {"name": "nocode", "endpoint_name": "ep1", "model": {"path": MODEL, "type": "mlflow_model"}}
        | {"compute": "c1"}
    )
    assert app_env(batch)["AZUREML_ENTRY_SCRIPT"] == "batch_driver.py"


def test_the_image_runtime_files_hold_the_no_code_script_and_driver() -> None:
    root = Path(__file__).resolve().parents[2] / "serving" / "mlflow_nocode"
    assert (root / mlflow_models.ONLINE_SCRIPT).is_file() and (root / mlflow_models.BATCH_DRIVER).is_file()
    assert mlflow_models.NO_CODE_ROOT.endswith("/serving/mlflow_nocode")


def test_requirements_txt_when_there_is_no_conda_file_and_additions(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    (model / "conda.yaml").unlink()
    text = "mlflow[extras]>=2.9; python_version >= '3.8'\nscikit-learn==1.5.2\n"
    (model / "requirements.txt").write_text(text)
    plan = mlflow_models.environment_plan(mlflow_models.read_model(model))
    assert plan.requirements[0].startswith("mlflow-skinny[extras]>=2.9")
    assert "scikit-learn==1.5.2" in plan.requirements and "pandas" in plan.requirements


def test_models_that_cannot_be_served_without_code_say_why(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentMappingError, match="a folder with an MLmodel file"):
        mlflow_models.read_model(ASSETS / "model")
    broken = tmp_path / "m"
    broken.mkdir()
    (broken / "MLmodel").write_text("flavors:\n  sklearn: {pickled_model: model.pkl}\n")
    with pytest.raises(EnvironmentMappingError, match="no python_function flavor"):
        mlflow_models.read_model(broken)
    (broken / "MLmodel").write_text("flavors:\n  python_function: {loader_module: x}\n")
    with pytest.raises(EnvironmentMappingError, match=r"neither conda\.yaml nor requirements\.txt"):
        mlflow_models.environment_plan(mlflow_models.read_model(broken))


def test_a_custom_model_still_needs_an_environment() -> None:
    with pytest.raises(ValueError, match="environment\n  Value error, required unless the model is an MLf"):
        _online(model={"path": ASSETS / "model"})
    # With a scoring script, an MLflow model is a custom deployment: it needs an environment too.
    with pytest.raises(ValueError, match="required unless"):
        _online(
            model={"path": MODEL, "type": "mlflow_model"},
            code_configuration={"code": ASSETS / "onlinescoring", "scoring_script": "score.py"},
        )


@pytest.mark.skipif(not HEART.is_dir(), reason="../shared/conformance is not there")
def test_the_conformance_heart_model_plans_from_its_own_conda_file() -> None:
    plan = mlflow_models.environment_plan(mlflow_models.read_model(HEART))
    assert "scikit-learn==1.1.2" in plan.requirements and "mlflow-skinny" in plan.requirements
    # Its python=3.8.5 is noted: the image's Python is 3.11 (environment resolution per Python is
    # another issue), and its scikit-learn pin has no wheel for it: the build names this line.
    assert plan.origin("scikit-learn") == f"{HEART / 'conda.yaml'}:9: - scikit-learn==1.1.2"
    assert any("3.8.5" in warning for warning in plan.warnings)
