"""`mle batch invoke`'s inputs and output: uploads, local paths, data asset YAML, datastore URIs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from components.batch_inputs import (
    ResolvedInput,
    content_hash,
    load_data_asset,
    resolve_input,
    resolve_output,
    upload,
)
from components.endpoint_cli import CliError

CONFORMANCE_ASSET = (
    Path(__file__).resolve().parents[3]
    / "shared/conformance/azureml-examples/cli/endpoints/batch/deploy-models/heart-classifier-mlflow"
    / "heart-dataset-unlabeled.yml"
)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "stores" / "workspaceblobstore"
    path.mkdir(parents=True)
    return path


# ---------------------------------------------------------------- uploads


def test_upload_copies_once_under_the_content_hash(tmp_path: Path, store: Path) -> None:
    data = _tree(tmp_path / "data", {"a.csv": "1\n", "sub/b.csv": "2\n", ".hidden": "x", ".git/c": "y"})
    relative, copied, files = upload(data, store)
    digest = content_hash(data)
    assert (relative, copied, files) == (f"LocalUpload/{digest}/data", True, 2)
    target = store / relative
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "a.csv",
        "sub/b.csv",
    ]  # hidden files stay behind, as the controller skips them anyway
    # Same content again: the same folder, nothing copied.
    (target / "a.csv").write_text("changed behind our back")
    assert upload(data, store) == (relative, False, 2)
    assert (target / "a.csv").read_text() == "changed behind our back"
    # Hidden files do not change the hash; content and relative paths do.
    (data / ".hidden").write_text("other")
    assert content_hash(data) == digest
    (data / "a.csv").write_text("3\n")
    assert content_hash(data) != digest
    (data / "a.csv").write_text("1\n")
    (data / "sub" / "b.csv").rename(data / "b.csv")
    assert content_hash(data) != digest
    # Nothing half-copied is left beside the uploads.
    assert [p.name for p in (store / "LocalUpload").rglob(".*")] == []


def test_upload_of_a_file_and_the_same_bytes_under_another_name(tmp_path: Path, store: Path) -> None:
    one = _tree(tmp_path, {"one.csv": "x,y\n1,2\n"}) / "one.csv"
    two = _tree(tmp_path, {"two.csv": "x,y\n1,2\n"}) / "two.csv"
    first, copied, files = upload(one, store)
    second, _, _ = upload(two, store)
    assert copied and files == 1 and first.endswith("/one.csv") and second.endswith("/two.csv")
    assert Path(first).parent == Path(second).parent  # the hash is of the content only
    assert (store / first).read_text() == "x,y\n1,2\n"


def test_a_failed_upload_leaves_no_folder_that_looks_complete(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _tree(tmp_path / "data", {f"f{i}.csv": str(i) for i in range(3)})
    real_copy = shutil.copyfile
    copied: list[str] = []

    def flaky(src: Any, dst: Any, **kwargs: Any) -> Any:
        if copied:
            raise OSError(28, "No space left on device")
        copied.append(str(src))
        return real_copy(src, dst)

    monkeypatch.setattr(shutil, "copyfile", flaky)
    with pytest.raises(CliError, match=r"cannot upload .*No space left on device"):
        upload(data, store)
    digest_folder = store / "LocalUpload" / content_hash(data)
    assert list(digest_folder.iterdir()) == []  # neither the final name nor the temp copy
    monkeypatch.setattr(shutil, "copyfile", real_copy)
    relative, was_copied, _ = upload(data, store)
    assert was_copied and len(list((store / relative).iterdir())) == 3


def test_an_upload_racing_another_keeps_the_one_that_landed_first(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _tree(tmp_path / "data", {"a.csv": "1"})
    real_rename = os.rename

    def other_process_won(src: Any, dst: Any) -> None:
        Path(dst).mkdir()
        (Path(dst) / "a.csv").write_text("1")
        real_rename(src, dst)  # a non-empty folder is there: OSError

    monkeypatch.setattr(os, "rename", other_process_won)
    relative, _, _ = upload(data, store)
    assert sorted(p.name for p in (store / relative).parent.iterdir()) == ["data"]


# ---------------------------------------------------------------- inputs and data assets


def test_local_inputs_are_uploaded_and_sent_as_datastore_uris(tmp_path: Path, store: Path) -> None:
    folders = {"workspaceblobstore": store}
    data = _tree(tmp_path / "data", {"a.csv": "1", "b.csv": "2"})
    got = resolve_input("data", None, folders, cwd=tmp_path)
    digest = content_hash(data)
    assert got == ResolvedInput(
        f"azureml://datastores/workspaceblobstore/paths/LocalUpload/{digest}/data/",
        "UriFolder",
        data,
        True,
        2,
    )
    single = resolve_input(str(data / "a.csv"), None, folders)
    assert single.kind == "UriFile" and single.uri.endswith("/a.csv") and single.files == 1
    assert resolve_input("data", "uri_folder", folders, cwd=tmp_path).copied is False
    with pytest.raises(CliError, match="is a file: use --input-type uri_file"):
        resolve_input(str(data / "a.csv"), "uri_folder", folders)
    with pytest.raises(CliError, match="is a folder: use --input-type uri_folder"):
        resolve_input(str(data), "uri_file", folders)
    (tmp_path / "empty").mkdir()
    _tree(tmp_path / "empty", {".only-hidden": "x"})
    with pytest.raises(CliError, match="has no files"):
        resolve_input(str(tmp_path / "empty"), None, folders)
    with pytest.raises(CliError, match="no such file or folder"):
        resolve_input(str(tmp_path / "missing"), None, folders)
    with pytest.raises(CliError, match="no folder for the default datastore workspaceblobstore"):
        resolve_input(str(data), None, {})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://pipelinedata.blob.core.windows.net/sampledata/mnist", "web and cloud URIs"),
        ("wasbs://c@a.blob.core.windows.net/x", "web and cloud URIs"),
        ("azureml:heart-dataset-unlabeled:1", "no data asset named 'heart-dataset-unlabeled' is registered"),
        ("azureml:heart-dataset-unlabeled@latest", "register it under `data:` in the stack config"),
        ("azureml:not a reference", "not a data asset reference this stack can resolve"),
        ("s3://bucket/key", "unsupported URI"),
    ],
)
def test_inputs_this_machine_cannot_read_are_refused_in_one_line(value: str, message: str) -> None:
    with pytest.raises(CliError, match=message) as caught:
        resolve_input(value, None, {"workspaceblobstore": Path("/nonexistent")})
    assert "\n" not in str(caught.value)


def test_datastore_uris_pass_through_and_their_kind_comes_from_what_is_there(tmp_path: Path) -> None:
    folders = {"workspaceblobstore": tmp_path}
    _tree(tmp_path, {"in/a.csv": "1"})
    folder = resolve_input("azureml://datastores/workspaceblobstore/paths/in", None, folders)
    assert folder == ResolvedInput("azureml://datastores/workspaceblobstore/paths/in", "UriFolder")
    assert resolve_input("azureml://datastores/workspaceblobstore/paths/in/a.csv", None, folders).kind == (
        "UriFile"
    )
    # A datastore the stack does not export: the controller decides (it knows its datastores).
    assert resolve_input("azureml://datastores/other/paths/x", "uri_file", folders).kind == "UriFile"
    with pytest.raises(CliError, match="nothing at"):
        resolve_input("azureml://datastores/workspaceblobstore/paths/missing", None, folders)


def test_registered_data_assets_resolve_from_the_stacks_outputs(tmp_path: Path, store: Path) -> None:
    folders = {"workspaceblobstore": store}
    old = _tree(tmp_path / "v1", {"a.csv": "1"})
    new = _tree(tmp_path / "v10", {"a.csv": "1", "b.csv": "2"})
    registered = {
        "heart": {
            "1": {"type": "uri_folder", "path": str(old)},
            "10": {"type": "uri_folder", "path": str(new)},
            "2": {"type": "uri_file", "path": str(old / "a.csv")},
        },
        "remote": {"1": {"type": "uri_folder", "uri": "azureml://datastores/workspaceblobstore/paths/in"}},
    }
    latest = resolve_input("azureml:heart@latest", None, folders, data_assets=registered)
    assert (latest.source, latest.files, latest.kind) == (new, 2, "UriFolder")  # 10 is after 2
    assert resolve_input("azureml:heart:2", None, folders, data_assets=registered).kind == "UriFile"
    _tree(store, {"in/x.csv": "1"})
    remote = resolve_input("azureml:remote:1", None, folders, data_assets=registered)
    assert remote == ResolvedInput("azureml://datastores/workspaceblobstore/paths/in", "UriFolder")
    with pytest.raises(CliError, match=r"has no version '3' \(1, 2, 10\)"):
        resolve_input("azureml:heart:3", None, folders, data_assets=registered)
    with pytest.raises(CliError, match="only the label @latest is known locally"):
        resolve_input("azureml:heart@prod", None, folders, data_assets=registered)
    with pytest.raises(CliError, match=r"no data asset named 'other' .*\(data: heart, remote\)"):
        resolve_input("azureml:other@latest", None, folders, data_assets=registered)


def test_a_data_asset_yaml_resolves_its_path_against_its_own_folder(tmp_path: Path, store: Path) -> None:
    folders = {"workspaceblobstore": store}
    _tree(tmp_path / "assets/data", {"heart-0.csv": "age\n63\n", "heart-1.csv": "age\n40\n"})
    asset = tmp_path / "assets" / "heart.yml"
    asset.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
        "name: heart-dataset-unlabeled\ntype: uri_folder\npath: data"
    )
    assert load_data_asset(asset) == (str(tmp_path / "assets" / "data"), "uri_folder")
    got = resolve_input("assets/heart.yml", None, folders, cwd=tmp_path)
    assert got.kind == "UriFolder" and got.files == 2 and got.source == tmp_path / "assets" / "data"
    assert got.uri.endswith(f"/LocalUpload/{content_hash(tmp_path / 'assets' / 'data')}/data/")
    with pytest.raises(CliError, match="is a uri_folder data asset but --input-type says uri_file"):
        resolve_input(str(asset), "uri_file", folders)


def test_data_asset_variants(tmp_path: Path, store: Path) -> None:
    folders = {"workspaceblobstore": store}
    _tree(tmp_path, {"one.csv": "1"})

    def asset(body: str, name: str = "a.yaml") -> Path:
        path = tmp_path / name
        path.write_text(body)
        return path

    # No $schema but a data asset's shape; a single file.
    assert resolve_input(str(asset("type: uri_file\npath: ./one.csv\n")), None, folders).kind == "UriFile"
    # A datastore URI passes through.
    remote = asset("type: uri_folder\npath: azureml://datastores/elsewhere/paths/in/\n")
    assert resolve_input(str(remote), None, folders).uri == "azureml://datastores/elsewhere/paths/in/"
    with pytest.raises(CliError, match="type 'mltable' is not supported"):
        resolve_input(str(asset("type: mltable\npath: ./t\n")), None, folders)
    with pytest.raises(CliError, match="web and cloud URIs"):
        resolve_input(
            str(asset("type: uri_folder\npath: https://x.blob.core.windows.net/c/\n")), None, folders
        )
    with pytest.raises(CliError, match="no such file or folder"):
        resolve_input(str(asset("type: uri_folder\npath: ./nope\n")), None, folders)
    # Any other YAML file is an input file like any other.
    other = asset("apiVersion: v1\nkind: Pod\n", "pod.yml")
    assert load_data_asset(other) is None
    assert resolve_input(str(other), None, folders).kind == "UriFile"


@pytest.mark.conformance
def test_the_conformance_data_asset_resolves_to_its_data_folder(store: Path) -> None:
    if not CONFORMANCE_ASSET.is_file():
        pytest.skip("../shared/conformance is not here")
    got = resolve_input(str(CONFORMANCE_ASSET), None, {"workspaceblobstore": store})
    assert got.kind == "UriFolder" and got.source == CONFORMANCE_ASSET.parent / "data" and got.files == 4


# ---------------------------------------------------------------- the output path


def test_output_path_is_a_datastore_uri_or_a_folder_inside_one(tmp_path: Path) -> None:
    folders = {"workspaceblobstore": tmp_path / "ws"}
    (tmp_path / "ws").mkdir()
    assert resolve_output(str(tmp_path / "ws" / "runs" / "r1"), folders) == (
        "azureml://datastores/workspaceblobstore/paths/runs/r1/"
    )
    assert resolve_output("azureml://datastores/x/paths/y/", folders) == "azureml://datastores/x/paths/y/"
    with pytest.raises(CliError, match=r"in no datastore folder.*workspaceblobstore \("):
        resolve_output(str(tmp_path / "outside"), folders)
    with pytest.raises(CliError, match="web and cloud URIs are not supported"):
        resolve_output("https://example.com/out", folders)
