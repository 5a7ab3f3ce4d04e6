"""GET /swagger.json from inference-schema decorators, and 404 with a message otherwise."""

from __future__ import annotations

import pytest

from tests.serving.harness import Client, in_process

pytest.importorskip("inference_schema")


def test_decorated_run_has_swagger_2_and_3() -> None:
    def calls(client: Client) -> list:
        return [
            client.get("/swagger.json"),
            client.get("/swagger.json?version=3"),
            client.get("/swagger.json?version=3.1"),
            client.get("/swagger.json?version=9"),
        ]

    v2, v3, v31, invalid = in_process("schema", calls, service_name="my-endpoint")
    assert v2.status == 200
    doc = v2.json()
    assert doc["swagger"] == "2.0"
    assert doc["info"]["title"] == "my-endpoint"
    assert doc["definitions"]["ServiceInput"]["properties"]["data"]["type"] == "array"
    assert "/score" in doc["paths"]
    assert v3.json()["openapi"] == "3.0.3"
    assert "ServiceOutput" in v3.json()["components"]["schemas"]
    assert v31.json()["openapi"] == "3.1.0"
    assert invalid.status == 404 and "is not valid" in invalid.message


def test_undecorated_run_has_no_swagger() -> None:
    answer = in_process("ok", lambda c: c.get("/swagger.json"))
    assert answer.status == 404
    assert "not decorated with inference-schema" in answer.message


def test_user_swagger_file_is_served(tmp_path) -> None:
    import shutil

    from tests.serving.harness import FIXTURES

    root = tmp_path / "app"
    shutil.copytree(FIXTURES / "ok", root)
    (root / "swagger.json").write_text('{"swagger": "2.0", "info": {"title": "mine"}}')
    answer = in_process("ok", lambda c: c.get("/swagger.json"), app_root=str(root))
    assert answer.json()["info"]["title"] == "mine"


def test_schema_inputs_are_parsed_from_the_json_body() -> None:
    def calls(client: Client) -> list:
        return [
            client.post("/score", json_body={"data": [[1, 2], [3, 4]], "scale": 2}),
            client.post("/score", json_body={"data": [[1, 1]]}),
            client.post("/score", body='{"data": [[1]]}', headers={"Content-Type": "text/plain"}),
            client.post("/score", json_body=[1, 2]),
            client.post("/score", json_body={"scale": 2}),
            client.post("/score", body="{not json", headers={"Content-Type": "application/json"}),
            client.get("/score?data=[[5,5]]"),
        ]

    scaled, default, wrong_type, not_dict, missing, bad_json, get = in_process("schema", calls)
    assert scaled.json() == [6.0, 14.0]
    assert default.json() == [2.0]
    assert wrong_type.status == 415
    assert not_dict.status == 400 and not_dict.message == "POST body should be a JSON dictionary."
    assert missing.status == 400 and "'data'" in missing.message
    assert bad_json.status == 400 and "could not be decoded as JSON" in bad_json.message
    assert get.json() == [10.0]
