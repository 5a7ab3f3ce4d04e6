"""Shared fixtures: Pulumi mocks for unit tests of the resource graph."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pulumi_mocks import RecordingMocks, set_mocks


@pytest.fixture
def pulumi_mocks() -> Iterator[RecordingMocks]:
    mocks = RecordingMocks()
    set_mocks(mocks, project="mlendpoints", stack="unit")
    yield mocks
