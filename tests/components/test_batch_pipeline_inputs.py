"""`mle batch invoke` of a pipeline: named inputs, literals and Azure's inputs.yml, into Azure's body."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.batch_pipeline_inputs import input_data, inputs_file, named, named_input
from components.endpoint_cli import CliError


def test_an_inputs_file_as_the_az_cli_reads_it(tmp_path: Path) -> None:
    (tmp_path / "data" / "unlabeled").mkdir(parents=True)
    (tmp_path / "data" / "unlabeled" / "heart.csv").write_text("age\n63\n")
    inputs = tmp_path / "inputs.yml"
    inputs.write_text(
        "inputs:\n  input_data:\n    type: uri_folder\n    path: data/unlabeled\n"
        "  score_mode:\n    type: string\n    default: append\n  rounds: 3\n"
    )
    data, literals = inputs_file(inputs)
    assert data == {"input_data": (str(tmp_path / "data/unlabeled"), "uri_folder")}
    assert literals == {"score_mode": "append", "rounds": "3"}
    store = tmp_path / "store"
    store.mkdir()
    body, notes = input_data(data, literals, {"workspaceblobstore": store}, {})
    assert body["input_data"]["JobInputType"] == "UriFolder"
    uri = body["input_data"]["Uri"]
    assert uri.startswith("azureml://datastores/workspaceblobstore/paths/LocalUpload/")
    uploaded = store / uri.removeprefix("azureml://datastores/workspaceblobstore/paths/")
    assert (uploaded / "heart.csv").read_text() == "age\n63\n"
    assert body["score_mode"] == {"JobInputType": "Literal", "Value": "append"} and len(notes) == 1


def test_named_values_and_their_mistakes(tmp_path: Path) -> None:
    assert named(["score_mode=append", "path=a=b"], "--literal") == {"score_mode": "append", "path": "a=b"}
    assert named_input("input_data=./data") and not named_input("./data")
    with pytest.raises(CliError, match="expected NAME=VALUE"):
        named(["=x"], "--literal")
    with pytest.raises(CliError, match="score_mode is given twice"):
        named(["score_mode=a", "score_mode=b"], "--literal")
    bad = tmp_path / "inputs.yml"
    bad.write_text("inputs:\n  data:\n    type: uri_folder\n")
    with pytest.raises(CliError, match=r"inputs.data: give `type` and `path` \(data\) or a value"):
        inputs_file(bad)
