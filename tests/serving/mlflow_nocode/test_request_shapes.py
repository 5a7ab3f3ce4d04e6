"""The no-code MLflow script's request shapes and the batch driver's output lines (mlflow itself is only
in the images: these tests stand a small model object in for mlflow.pyfunc's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from serving.mlflow_nocode import batch_driver
from serving.mlflow_nocode.model_io import InputError, model_folder, to_jsonable
from serving.scorer.compat.importer import install_compat_imports

install_compat_imports()
from serving.mlflow_nocode import score  # noqa: E402  (needs the AMLResponse alias installed)


class Linear:
    """What mlflow.pyfunc.load_model returns for the fixture model: predict(frame[, params])."""

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if isinstance(data, pd.DataFrame):
            return (data["a"] * 2 - data["b"] + 0.5).to_numpy() * float((params or {}).get("scale", 1))
        return np.asarray(data).sum(axis=-1)


@pytest.fixture(autouse=True)
def loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(score, "model", Linear())
    monkeypatch.setattr(score, "columns", ["a", "b"])
    monkeypatch.setattr(score, "types", {"a": np.dtype("float64"), "b": np.dtype("float64")})
    monkeypatch.setattr(batch_driver, "model", Linear())
    monkeypatch.setattr(batch_driver, "columns", ["a", "b"])
    monkeypatch.setattr(batch_driver, "types", {"a": np.dtype("float64"), "b": np.dtype("float64")})


def _run(body: Any) -> Any:
    return score.run(json.dumps(body))


def test_azures_split_frame_rows_records_and_params() -> None:
    split = {"input_data": {"columns": ["a", "b"], "index": [0, 1], "data": [[1.0, 2.0], [3.0, 1.0]]}}
    assert _run(split) == [0.5, 5.5]
    assert _run({"input_data": [[1.0, 2.0], [3.0, 1.0]]}) == [0.5, 5.5]  # the signature names the columns
    assert _run({"input_data": [{"a": 1.0, "b": 2.0}]}) == [0.5]
    assert _run({**split, "params": {"scale": 2}}) == [1.0, 11.0]
    # MLflow's own serving shapes.
    assert _run({"dataframe_split": split["input_data"]}) == [0.5, 5.5]
    assert _run({"dataframe_records": [{"a": 3.0, "b": 1.0}]}) == [5.5]


def test_columns_take_the_signatures_types(monkeypatch: pytest.MonkeyPatch) -> None:
    # JSON whole numbers are int64 to pandas; the signature says double (MLflow refuses int64 there).
    class Strict(Linear):
        def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
            assert isinstance(data, pd.DataFrame) and list(data.dtypes) == [np.float64, np.float64]
            return super().predict(data, params)

    monkeypatch.setattr(score, "model", Strict())
    assert _run({"input_data": [[1, 2]]}) == [0.5]
    answer = _run({"input_data": {"columns": ["a", "b"], "data": [["x", 1]]}})
    assert answer.status_code == 400
    assert "column 'a' does not convert to the model's float64" in json.loads(answer.get_data())["message"]


def test_tensors_when_the_signature_has_no_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(score, "columns", None)
    assert _run({"input_data": [[1, 2], [3, 4]]}) == [3, 7]
    assert _run({"instances": [[1, 1]]}) == [2]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([1, 2], "must be a JSON object"),
        ({"rows": []}, "no input_data in the request"),
        ({"input_data": 5}, "input_data must be a split-oriented frame"),
    ],
)
def test_bad_requests_get_400_saying_what_was_expected(body: Any, says: str) -> None:
    answer = _run(body)
    assert answer.status_code == 400
    assert says in json.loads(answer.get_data())["message"]
    not_json = score.run("{nope")
    assert not_json.status_code == 400


def test_outputs_as_azure_answers_them() -> None:
    frame = pd.DataFrame({"label": ["x", "y"], "p": [0.1, 0.9]})
    assert to_jsonable(frame) == [{"label": "x", "p": 0.1}, {"label": "y", "p": 0.9}]
    assert to_jsonable(pd.Series([1, 2])) == [1, 2]
    assert to_jsonable({"out": np.array([1.5])}) == {"out": [1.5]}


def test_batch_lines_are_row_prediction_file(tmp_path: Path) -> None:
    first, second = tmp_path / "one.csv", tmp_path / "two.csv"
    first.write_text("a,b,extra\n1,2,x\n3,1,y\n")
    second.write_text("a,b\n")
    assert batch_driver.run([str(first), str(second)]) == ["0,0.5,one.csv", "1,5.5,one.csv", ",,two.csv"]
    # As Azure's samples read predictions.csv back.
    lines = "\n".join(batch_driver.run([str(first)])) + "\n"
    (tmp_path / "predictions.csv").write_text(lines)
    read = pd.read_csv(tmp_path / "predictions.csv", names=["row", "prediction", "file"])
    assert read["prediction"].tolist() == [0.5, 5.5] and set(read["file"]) == {"one.csv"}
    with pytest.raises(InputError, match=r"notes.txt: MLflow batch deployments read CSV or Parquet"):
        batch_driver.run([str(tmp_path / "notes.txt")])


def test_the_model_folder_is_found_under_azureml_model_dir(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    assert model_folder(str(tmp_path)) == tmp_path / "model"
    with pytest.raises(FileNotFoundError, match="no MLmodel file under AZUREML_MODEL_DIR"):
        model_folder(str(tmp_path / "model" / "nothing"))


class _Signature:
    def __init__(self, inputs: str, outputs: str) -> None:
        self._described = {"inputs": inputs, "outputs": outputs}

    def to_dict(self) -> dict[str, str]:
        return self._described


class _Described:
    def __init__(self, signature: _Signature) -> None:
        self.metadata = type("Meta", (), {"signature": signature})()


def test_swagger_documents_azures_request_from_the_signature() -> None:
    from serving.mlflow_nocode.model_io import swagger_schemas
    from serving.scorer.swagger import SCHEMAS_ATTRIBUTE, build_swagger

    signature = _Signature(
        '[{"type": "long", "name": "age"}, {"type": "string", "name": "thal"}]', '[{"type": "long"}]'
    )
    request, answer = swagger_schemas(_Described(signature)) or ({}, {})
    data = request["properties"]["input_data"]
    assert data["properties"]["columns"]["example"] == ["age", "thal"]
    assert data["properties"]["data"]["example"] == [[0, ""]]
    assert answer == {"type": "array", "items": {"type": "integer"}}
    tensors = swagger_schemas(_Described(_Signature('[{"type": "tensor", "tensor-spec": {}}]', "[]")))
    assert tensors is not None and tensors[0]["properties"]["input_data"] == {"type": "array", "items": {}}

    def run(raw_data: str) -> None:
        return None

    setattr(run, SCHEMAS_ATTRIBUTE, (request, answer))
    docs = build_swagger(run, "/nonexistent", service_name="ep", service_version="d", path_prefix="")
    document = json.loads(docs.get("2"))
    assert document["definitions"]["ServiceInput"] == request
    assert json.loads(docs.get("3"))["openapi"].startswith("3.0")
