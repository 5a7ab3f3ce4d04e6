"""The warm driver's own helper module: records when it is imported, and with which job's output path."""

import os

with open(os.path.join(os.environ["DRIVER_STATE"], "helper.log"), "a", encoding="utf-8") as _log:
    _log.write(f"{os.getpid()} {os.environ.get('AZUREML_BI_OUTPUT_PATH', 'unset')}\n")

VALUE = 1
