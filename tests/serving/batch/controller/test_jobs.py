"""Submission: datastores, input files, the output's place and Azure's refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.batch.controller.datastores import Datastores, parse_uri
from serving.batch.controller.errors import BadRequest, Conflict
from serving.batch.controller.invoke import parse_invoke
from serving.batch.controller.jobs import JobSpec, build_job, input_sizes, list_input_files
from tests.serving.batch.controller.helpers import config, deployment, invoke_body, write_inputs


def _build(root: Path, body: dict[str, Any], name: str = "job-1") -> tuple[JobSpec, list[str]]:
    return build_job(parse_invoke(body), "batch-ep", deployment(), Datastores(config(), root), name)


def test_config_folders_are_rerooted_and_the_default_datastore_always_exists(root: Path) -> None:
    stores = Datastores(config(), root)
    assert stores.names == ["data", "workspaceblobstore"]
    assert stores.folder("data", "x") == root / "data"
    assert stores.folder("workspaceblobstore", "x") == root / "workspaceblobstore"
    with pytest.raises(
        BadRequest, match="unknown datastore 'other'; this endpoint has: data, workspaceblobstore"
    ):
        stores.folder("other", "InputData.d")


def test_a_symlink_may_not_lead_out_of_a_datastore(root: Path, tmp_path: Path) -> None:
    (root / "data" / "escape").symlink_to(tmp_path)
    with pytest.raises(BadRequest, match="leads outside datastore"):
        Datastores(config(), root).resolve(parse_uri("azureml://datastores/data/paths/escape", "x"), "x")


def test_folder_inputs_are_recursive_sorted_and_skip_hidden_files(tmp_path: Path) -> None:
    for name in ["b.txt", "a/z.txt", "a/b/c.txt", ".hidden", ".git/config", "A.txt"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    files = list_input_files(tmp_path, "UriFolder", "uri")
    assert [Path(f).relative_to(tmp_path).as_posix() for f in files] == [
        "A.txt",
        "a/b/c.txt",
        "a/z.txt",
        "b.txt",
    ]


def test_missing_empty_and_mistyped_inputs_are_400s(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="does not exist"):
        list_input_files(tmp_path / "nope", "UriFolder", "uri")
    with pytest.raises(BadRequest, match="has no files"):
        (tmp_path / ".only-hidden").write_text("x")
        list_input_files(tmp_path, "UriFolder", "uri")
    (tmp_path / "f.csv").write_text("x")
    with pytest.raises(BadRequest, match="is a file; use JobInputType UriFile"):
        list_input_files(tmp_path / "f.csv", "UriFolder", "uri")
    with pytest.raises(BadRequest, match="is a folder; use JobInputType UriFolder"):
        list_input_files(tmp_path, "UriFile", "uri")
    assert list_input_files(tmp_path / "f.csv", "UriFile", "uri") == [str(tmp_path / "f.csv")]


def test_default_output_follows_azures_layout(root: Path) -> None:
    write_inputs(root, 3)
    spec, files = _build(root, invoke_body())
    assert len(files) == 3
    assert spec.output_uri == "azureml://datastores/workspaceblobstore/paths/azureml/job-1/score/"
    assert spec.output_file == str(root / "workspaceblobstore/azureml/job-1/score/predictions.csv")
    assert spec.job_folder == str(root / "workspaceblobstore/azureml/job-1")
    assert spec.logs_uri == "azureml://datastores/workspaceblobstore/paths/azureml/job-1/logs/"


def test_an_existing_output_file_is_refused_unless_overwrite(root: Path) -> None:
    write_inputs(root, 1)
    existing = root / "data" / "out" / "predictions.csv"
    existing.parent.mkdir(parents=True)
    existing.write_text("old")
    body = invoke_body(output_path="azureml://datastores/data/paths/out")
    with pytest.raises(Conflict, match=r"already exists.*overwrite: true"):
        _build(root, body)
    spec, _ = _build(root, invoke_body(output_path="azureml://datastores/data/paths/out", overwrite=True))
    assert spec.output_file == str(existing)


def test_unknown_datastores_in_inputs_and_outputs_are_400s(root: Path) -> None:
    write_inputs(root, 1)
    with pytest.raises(BadRequest, match=r"InputData\.d: unknown datastore 'nope'"):
        _build(
            root,
            {
                "properties": {
                    "InputData": {
                        "d": {"JobInputType": "UriFolder", "Uri": "azureml://datastores/nope/paths/x"}
                    }
                }
            },
        )
    with pytest.raises(BadRequest, match=r"OutputData\.score: unknown datastore 'nope'"):
        _build(
            root,
            invoke_body(
                OutputData={
                    "score": {"JobOutputType": "UriFolder", "Uri": "azureml://datastores/nope/paths/x"}
                }
            ),
        )


def test_input_sizes_are_bytes_and_zero_for_a_file_gone_since_it_was_listed(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("12345")
    (tmp_path / "b.csv").write_text("")
    files = [str(tmp_path / name) for name in ("a.csv", "b.csv", "gone.csv")]
    assert input_sizes(files) == [5, 0, 0]
