"""Shared fixtures: Pulumi mocks for unit tests of the resource graph."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pytest

from tests.pulumi_mocks import RecordingMocks


@pytest.fixture
def pulumi_mocks() -> Iterator[RecordingMocks]:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="mlendpoints", stack="unit", preview=False)
    yield mocks
