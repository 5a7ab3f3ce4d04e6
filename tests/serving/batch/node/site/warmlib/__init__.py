"""A stand-in for a heavy library (pandas, mlflow) a batch driver imports: it records each import."""

import os
import signal

with open(os.path.join(os.environ["DRIVER_STATE"], "warmlib.log"), "a", encoding="utf-8") as _log:
    _log.write(f"{os.getpid()} {os.environ.get('AZUREML_BI_OUTPUT_PATH', 'unset')}\n")

if os.environ.get("WARMLIB_CRASH"):  # a native library that takes its process down on import
    os.kill(os.getpid(), signal.SIGKILL)
