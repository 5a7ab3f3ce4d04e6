"""Integration sessions start from an engine with nothing left of an interrupted earlier run."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import docker
import pytest

from tests.integration.leftovers import SESSION_LOCK, claim_engine, remove_test_leftovers


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers_of_earlier_runs() -> Iterator[None]:
    claim = claim_engine()
    try:
        if claim is None:
            # Another session runs on this engine now (a `make test` beside one test run by hand): its
            # stacks are not leftovers. Removing them once broke that other run mid-module.
            warnings.warn(
                f"another integration test session holds {SESSION_LOCK}: nothing is removed as a "
                "leftover, and both sessions share the Docker engine",
                stacklevel=1,
            )
        else:
            _remove_leftovers()
        yield
    finally:
        if claim is not None:
            claim.close()


def _remove_leftovers() -> None:
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
