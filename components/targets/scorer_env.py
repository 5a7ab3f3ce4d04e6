"""The Azure ML environment of a scorer instance or batch node: the same variables on every target."""

from __future__ import annotations

from components import mlflow_models
from components.specs import ModelBatchDeploymentSpec, OnlineDeploymentSpec
from components.targets.serving_layout import CODE_MOUNT, MODELS_ROOT, SCORER_PORT


def model_dir(spec: OnlineDeploymentSpec | ModelBatchDeploymentSpec) -> str:
    """AZUREML_MODEL_DIR: the folder that CONTAINS the model folder, exactly as on Azure ML, so
    `os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model/...")` works unchanged."""
    assert spec.model is not None
    return f"{MODELS_ROOT}/{spec.model.name or spec.name}/{spec.model.version or 1}"


def app_env(spec: OnlineDeploymentSpec | ModelBatchDeploymentSpec) -> dict[str, str]:
    """Where the model and the scoring script (or driver) are: AZUREML_MODEL_DIR, AML_APP_ROOT,
    AZUREML_ENTRY_SCRIPT, for the parts the deployment has."""
    env: dict[str, str] = {}
    if spec.model is not None and spec.model.path is not None:
        env["AZUREML_MODEL_DIR"] = model_dir(spec)
    if spec.code_configuration is not None:
        env["AML_APP_ROOT"] = CODE_MOUNT
        env["AZUREML_ENTRY_SCRIPT"] = spec.code_configuration.scoring_script
    elif mlflow_models.is_no_code(spec):
        # The image's own scoring script or batch driver for MLflow models (serving/mlflow_nocode/).
        env["AML_APP_ROOT"] = mlflow_models.NO_CODE_ROOT
        env["AZUREML_ENTRY_SCRIPT"] = mlflow_models.entry_script(spec)
    return env


def scorer_env(spec: OnlineDeploymentSpec) -> dict[str, str]:
    """An online instance's environment: app_env, the request settings, its names, then the
    user's `environment_variables`, which win as on Azure ML (e.g. their own WORKER_COUNT)."""
    rs = spec.request_settings
    env = {
        **app_env(spec),
        "SCORING_TIMEOUT_MS": str(rs.request_timeout_ms),
        "MAX_CONCURRENT_REQUESTS_PER_INSTANCE": str(rs.max_concurrent_requests_per_instance),
        "MAX_QUEUE_WAIT_MS": str(rs.max_queue_wait_ms),
        "WORKER_COUNT": str(rs.max_concurrent_requests_per_instance),
        "SERVER_PORT": str(SCORER_PORT),
        "SERVICE_NAME": spec.endpoint_name,
        "SERVICE_VERSION": spec.name,
    }
    env.update({k: str(v) for k, v in spec.environment_variables.items()})
    return env
