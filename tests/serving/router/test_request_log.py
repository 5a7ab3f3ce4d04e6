"""Which nginx request log lines the router prints, per the deployments' log_requests switches."""

from __future__ import annotations

import json

from serving.router.config import parse_config
from serving.router.request_log import printable_lines


def _config(blue: bool, green: bool, endpoint_switch: bool = True) -> object:
    deployments = {
        "blue": {"instances": ["b:5001"], "log_requests": blue},
        "green": {"instances": ["g:5001"], "log_requests": green},
    }
    text = json.dumps({"endpoint": "ep-1", "deployments": deployments, "log_requests": endpoint_switch})
    return parse_config(text, "test config")


def _line(deployment: str, status: int = 200) -> str:
    return (
        json.dumps({"kind": "live", "deployment": deployment, "status": status}, separators=(",", ":")) + "\n"
    )


LOG = _line("blue") + _line("green") + _line("", 401) + _line("green-canary")


def test_all_switches_on_prints_everything() -> None:
    assert printable_lines(LOG, _config(True, True)) == LOG


def test_a_silenced_deployment_loses_only_its_own_lines() -> None:
    # "green-canary" must not be caught by green's marker: the closing quote is part of it.
    assert printable_lines(LOG, _config(True, False)) == _line("blue") + _line("", 401) + _line(
        "green-canary"
    )


def test_lines_no_deployment_served_are_always_kept() -> None:
    assert printable_lines(LOG, _config(False, False)) == _line("", 401) + _line("green-canary")


def test_the_endpoint_switch_silences_all() -> None:
    assert printable_lines(LOG, _config(True, True, endpoint_switch=False)) == ""
