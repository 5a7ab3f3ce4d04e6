"""Which of nginx's request log lines the router prints (the deployments' app_insights switch).

nginx writes every request (the metrics need them all); the router prints the lines of the
deployments that asked for request logging, plus the lines no deployment served (401, 404):
those are the endpoint's own traffic log.
"""

from __future__ import annotations

from serving.router.config import RouterConfig


def _silenced_markers(config: RouterConfig) -> tuple[str, ...]:
    # nginx writes `"deployment":"<name>"` exactly so (escape=json, names are letters, digits, '-').
    return tuple(
        f'"deployment":"{name}"' for name, route in config.deployments.items() if not route.log_requests
    )


def printable_lines(text: str, config: RouterConfig) -> str:
    """The lines of `text` (complete nginx log lines) the router should print."""
    if not config.log_requests:
        return ""
    markers = _silenced_markers(config)
    if not markers:
        return text
    kept = [line for line in text.splitlines(keepends=True) if not any(m in line for m in markers)]
    return "".join(kept)
