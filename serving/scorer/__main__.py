"""`python -m serving.scorer`: serve AZUREML_ENTRY_SCRIPT with WORKER_COUNT pre-forked workers."""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError

from serving.scorer.logs import configure_logging
from serving.scorer.server import listen
from serving.scorer.settings import ScorerSettings
from serving.scorer.supervisor import Supervisor

log = logging.getLogger("mlendpoints.scorer")


def _arguments(argv: list[str] | None) -> dict[str, object]:
    parser = argparse.ArgumentParser(
        prog="python -m serving.scorer",
        description="Serve an Azure ML score.py (init/run). Every option also has an environment variable.",
    )
    parser.add_argument("--entry_script", help="AZUREML_ENTRY_SCRIPT, relative to AML_APP_ROOT or absolute")
    parser.add_argument("--app_root", help="AML_APP_ROOT")
    parser.add_argument("--model_dir", help="AZUREML_MODEL_DIR: the folder that contains the model folder")
    parser.add_argument("--port", type=int, help="SERVER_PORT (default 5001)")
    parser.add_argument("--host", help="SERVER_HOST (default 0.0.0.0)")
    parser.add_argument("--worker_count", type=int, help="WORKER_COUNT (default 1)")
    parsed = vars(parser.parse_args(argv))
    return {key: value for key, value in parsed.items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    overrides = _arguments(argv)
    try:
        settings = ScorerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as ex:
        for error in ex.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(f"scorer configuration error: {where}: {error['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        sock = listen(settings.host, settings.port)
    except OSError as ex:
        log.error("cannot listen on %s:%d: %s", settings.host, settings.port, ex)
        return 2
    return Supervisor(settings, sock).run()


if __name__ == "__main__":
    sys.exit(main())
