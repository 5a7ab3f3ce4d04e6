"""MLflow models deployed with no code, as Azure ML's no-code deployments: no scoring script or driver
and no environment in the deployment; the model's own MLmodel file and requirements give both.

Azure ML builds such an environment "by reading the conda dependencies specified in the MLflow model"
and adds what its inference server needs, mlflow-skinny among it
(learn.microsoft.com/azure/machine-learning/how-to-deploy-mlflow-models). So do we: the model's
conda.yaml (else its requirements.txt), with `mlflow` served by `mlflow-skinny` at the same version
constraint (the full package adds a tracking server and UI that scoring never uses), plus pandas,
which `mlflow.pyfunc` imports. The scoring script and the batch driver are the image's own
(`serving/mlflow_nocode/`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from components import environments
from components.environments import EnvironmentMappingError, EnvironmentPlan
from components.specs import ModelBatchDeploymentSpec, OnlineDeploymentSpec

MLMODEL = "MLmodel"
# Inside every serving image (serving/ is copied to /opt/mlendpoints/serving).
NO_CODE_ROOT = "/opt/mlendpoints/serving/mlflow_nocode"
ONLINE_SCRIPT = "score.py"
BATCH_DRIVER = "batch_driver.py"
_RUNTIME_ADDITIONS = ("pandas",)


@dataclass(frozen=True)
class MLflowModel:
    """What a no-code deployment needs from an MLflow model folder."""

    path: Path
    conda_file: Path | None
    requirements_file: Path | None


def is_no_code(spec: OnlineDeploymentSpec | ModelBatchDeploymentSpec) -> bool:
    """An MLflow model given without a scoring script (or driver) and without an environment."""
    model = spec.model
    return (
        model is not None
        and model.type == "mlflow_model"
        and model.path is not None
        and spec.code_configuration is None
        and spec.environment is None
    )


def read_model(path: Path) -> MLflowModel:
    """The model folder's MLmodel file and the requirements it names; EnvironmentMappingError naming
    the file when the folder is no MLflow model."""
    mlmodel = path / MLMODEL
    if not path.is_dir() or not mlmodel.is_file():
        raise EnvironmentMappingError(
            f"{path}: a model of type mlflow_model is a folder with an {MLMODEL} file (as mlflow.<flavor>."
            f"save_model writes it); there is none, so give code_configuration and environment, or "
            f"`type: custom_model`"
        )
    try:
        document: Any = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise EnvironmentMappingError(f"{mlmodel}: not a readable MLmodel file: {error}") from None
    flavors = document.get("flavors") if isinstance(document, dict) else None
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    if not isinstance(pyfunc, dict):
        raise EnvironmentMappingError(
            f"{mlmodel}: no python_function flavor, so mlflow.pyfunc cannot load the model and a no-code "
            f"deployment cannot serve it; give code_configuration and environment"
        )
    env = pyfunc.get("env")
    named = env.get("conda") if isinstance(env, dict) else env
    conda = path / named if isinstance(named, str) else path / "conda.yaml"
    requirements = path / "requirements.txt"
    return MLflowModel(
        path,
        conda if conda.is_file() else None,
        requirements if requirements.is_file() else None,
    )


def environment_plan(
    model: MLflowModel, base_image: str = environments.DEFAULT_BASE_IMAGE
) -> EnvironmentPlan:
    """The image's packages: the model's conda file (else requirements.txt), mlflow as mlflow-skinny."""
    if model.conda_file is None and model.requirements_file is None:
        raise EnvironmentMappingError(
            f"{model.path}: the MLflow model has neither conda.yaml nor requirements.txt, so its "
            f"environment is unknown; give the deployment an environment"
        )
    plan = environments.plan_environment(
        conda_file=model.conda_file,
        requirements_file=None if model.conda_file is not None else model.requirements_file,
        base_image=base_image,
    )
    requirements = [_skinny(line) for line in plan.requirements]
    projects = {environments.canonical_name(environments.requirement_name(line)) for line in requirements}
    if "mlflow-skinny" not in projects:
        requirements.append("mlflow-skinny")
    requirements += [name for name in _RUNTIME_ADDITIONS if name not in projects]
    # The model's own pins point at its files, so errors name the model's conda.yaml line.
    origins = (*plan.origins, ("mlflow-skinny", dict(plan.origins).get("mlflow", "")))
    return replace(plan, requirements=tuple(requirements), origins=tuple(o for o in origins if o[1]))


def plan_for_deployment(
    spec: OnlineDeploymentSpec | ModelBatchDeploymentSpec, base_image: str = environments.DEFAULT_BASE_IMAGE
) -> EnvironmentPlan:
    """The deployment's environment plan: its own environment, or its MLflow model's (no-code)."""
    if spec.environment is not None:
        return environments.plan_for_spec(spec.environment, base_image=base_image)
    if is_no_code(spec):
        assert spec.model is not None and spec.model.path is not None
        return environment_plan(read_model(Path(spec.model.path)), base_image)
    raise EnvironmentMappingError(
        f"deployment {spec.name}: no environment; only an MLflow model without code_configuration "
        f"(a no-code deployment) brings its own"
    )


def entry_script(spec: OnlineDeploymentSpec | ModelBatchDeploymentSpec) -> str:
    return BATCH_DRIVER if isinstance(spec, ModelBatchDeploymentSpec) else ONLINE_SCRIPT


def _skinny(line: str) -> str:
    """`mlflow==2.7.1` -> `mlflow-skinny==2.7.1` (extras and markers kept)."""
    name = environments.requirement_name(line)
    if environments.canonical_name(name) != "mlflow":
        return line
    return "mlflow-skinny" + line.strip()[len(name) :]
