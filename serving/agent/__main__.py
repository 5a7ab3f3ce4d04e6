"""Entry point: `python -m serving.agent` heals the containers of the endpoint in MLE_AGENT_ENDPOINT."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from pydantic import ValidationError

from serving.agent.engine import Engine
from serving.agent.keeper import Keeper
from serving.agent.node_api import serve
from serving.agent.nodes import NodeManager
from serving.agent.settings import AgentSettings
from serving.router.logs import JsonFormatter


def main() -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("serving.agent")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    try:
        settings = AgentSettings()  # type: ignore[call-arg]  # fields come from MLE_AGENT_* env
    except ValidationError as exc:
        problems = "; ".join(f"MLE_AGENT_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors())
        log.error("agent settings are invalid: %s", problems)
        return 2
    keeper = Keeper(settings, Engine(settings.endpoint))
    if settings.node_templates is not None and settings.node_socket is not None:
        serve(NodeManager(settings.endpoint, settings.node_templates), settings.node_socket)
        log.info("node API on %s", settings.node_socket)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        keeper.stop.set()
        keeper.wake.put("")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    keeper.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
