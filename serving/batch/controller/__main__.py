"""Entry point: `python -m serving.batch.controller` runs one batch endpoint's controller (MLE_BATCH_*)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from pydantic import ValidationError

from serving.batch.controller.app import create_app
from serving.batch.controller.errors import ConfigError
from serving.batch.controller.settings import ControllerSettings
from serving.router.logs import JsonFormatter


def main() -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("serving.batch.controller")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        settings = ControllerSettings()  # type: ignore[call-arg]  # fields come from MLE_BATCH_* env
    except ValidationError as exc:
        problems = "; ".join(f"MLE_BATCH_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors())
        log.error("batch controller settings are invalid: %s", problems)
        return 2
    log.setLevel(
        settings.log_level.upper() if settings.log_level.upper() in ("DEBUG", "INFO", "WARNING") else "INFO"
    )
    try:
        controller = create_app(settings)
        controller.start()
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        log.error("batch controller cannot start: %s", exc)
        return 1
    done = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "batch controller for endpoint %s: jobs API on %s:%d, node API on %s:%d",
        controller.watcher.current.config.endpoint,
        settings.host,
        controller.public_port,
        settings.internal_host,
        controller.internal_port,
    )
    done.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
