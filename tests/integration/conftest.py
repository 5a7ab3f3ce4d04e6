"""Integration sessions start from an engine with nothing left of an interrupted earlier run."""

from __future__ import annotations

import warnings

import docker
import pytest

from tests.integration.leftovers import remove_test_leftovers


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers_of_earlier_runs() -> None:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException:
        return  # no engine: the tests that need one say so themselves
    removed = remove_test_leftovers(client)
    if removed:
        warnings.warn(
            f"removed what an interrupted earlier test run left: {', '.join(removed)}", stacklevel=1
        )
