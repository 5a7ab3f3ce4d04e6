"""Entry point: `python -m serving.router` runs nginx as the endpoint's front door and supervises it."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from serving.router.errors import RouterError
from serving.router.logs import configure_logging
from serving.router.settings import RouterSettings
from serving.router.supervisor import run_router


def main() -> int:
    configure_logging()
    log = logging.getLogger("serving.router")
    try:
        settings = RouterSettings()  # type: ignore[call-arg]  # fields come from MLE_ROUTER_* env
    except ValidationError as exc:
        problems = "; ".join(f"MLE_ROUTER_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors())
        log.error("router settings are invalid: %s", problems)
        return 2
    try:
        return asyncio.run(run_router(settings))
    except RouterError as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
