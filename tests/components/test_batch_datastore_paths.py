"""Datastore URIs <-> host folders and files, as `mle batch` maps them."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.batch_datastore_paths import datastore_uri, host_path
from components.endpoint_cli import CliError


def test_uris_map_to_host_paths_and_back(tmp_path: Path) -> None:
    folders = {"workspaceblobstore": tmp_path / "ws", "inner": tmp_path / "ws" / "inner"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    uri = "azureml://datastores/workspaceblobstore/paths/azureml/job-1/score/predictions.csv"
    assert host_path(uri, folders) == tmp_path / "ws/azureml/job-1/score/predictions.csv"
    assert host_path("azureml://datastores/workspaceblobstore/paths/", folders) == tmp_path / "ws"
    long_form = (
        "azureml://subscriptions/s/resourcegroups/g/workspaces/w/datastores/workspaceblobstore/paths/a/b"
    )
    assert host_path(long_form, folders) == tmp_path / "ws/a/b"
    with pytest.raises(CliError, match="datastore 'nope' is not in the stack's outputs"):
        host_path("azureml://datastores/nope/paths/x", folders)
    with pytest.raises(CliError, match=r"'\.\.' is not allowed"):
        host_path("azureml://datastores/workspaceblobstore/paths/../etc", folders)
    assert datastore_uri(tmp_path / "ws/out/x", folders, folder=True) == (
        "azureml://datastores/workspaceblobstore/paths/out/x/"
    )
    # The most specific datastore wins.
    assert datastore_uri(tmp_path / "ws/inner/f.csv", folders) == "azureml://datastores/inner/paths/f.csv"
    assert datastore_uri(tmp_path / "elsewhere", folders) is None
