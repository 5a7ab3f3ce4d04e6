"""Where things are inside the serving image, and its ports: the same on every target."""

SCORER_PORT = 5001
ROUTER_PORT = 8080
APP_ROOT = "/var/azureml-app"
# AZUREML_MODEL_DIR sits under this: <MODELS_ROOT>/<model name>/<version>/<model folder>.
MODELS_ROOT = f"{APP_ROOT}/azureml-models"
CODE_MOUNT = f"{APP_ROOT}/code"
ROUTER_CONFIG_MOUNT = "/etc/mlendpoints/router"
