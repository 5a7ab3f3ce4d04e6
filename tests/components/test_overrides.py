"""Stack-config overrides written as the az CLI's `--set` takes them: dotted keys, list indexes, blame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.errors import SpecError
from components.overrides import OverrideError, apply_overrides, parse_key
from components.stack_config import load_stack_config

GOOD = Path(__file__).parent / "fixtures" / "good"
ASSETS = Path(__file__).parent / "fixtures" / "assets"


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("name", ("name",)),
        ("request_settings.request_timeout_ms", ("request_settings", "request_timeout_ms")),
        ("a.b[0].c", ("a", "b", 0, "c")),
        ("a.b.0.c", ("a", "b", 0, "c")),
        ("tags.v1", ("tags", "v1")),
    ],
)
def test_keys_parse_as_az_writes_them(key: str, path: tuple[Any, ...]) -> None:
    assert parse_key(key) == path


@pytest.mark.parametrize("key", ["", ".a", "a..b", "[0].a", "a.b["])
def test_keys_that_are_not_paths_are_refused(key: str) -> None:
    with pytest.raises(OverrideError):
        parse_key(key)


def test_overrides_set_nested_keys_without_touching_the_original() -> None:
    data = {
        "name": "blue",
        "code_configuration": {"code": "a", "scoring_script": "s.py"},
        "items": [{"x": 1}],
    }
    merged = apply_overrides(
        data, {"code_configuration.code": "src", "items[0].x": 2, "request_settings.x": 3}
    )
    assert merged["code_configuration"] == {"code": "src", "scoring_script": "s.py"}
    assert merged["items"] == [{"x": 2}] and merged["request_settings"] == {"x": 3}
    assert data["code_configuration"]["code"] == "a" and data["items"] == [{"x": 1}]
    with pytest.raises(OverrideError, match=r"override 'items\[3\].x': there is no item \[3\]"):
        apply_overrides(data, {"items[3].x": 1})
    with pytest.raises(OverrideError, match="name is not a mapping, so it has no key 'first'"):
        apply_overrides(data, {"name.first": "x"})


def _teal() -> dict[str, Any]:
    # The endpoint mirrors to teal, whose build context the local target refuses: an image instead.
    return {"file": "teal.yml", "environment": {"image": "mlendpoints/base:bookworm-py311"}}


def _stack(*deployments: dict[str, Any]) -> Any:
    config = {"endpoints": ["endpoint.yml"], "deployments": list(deployments)}
    return load_stack_config(config, GOOD, target="local")


def test_a_stack_config_entry_overrides_nested_keys_of_its_file() -> None:
    entry = {"file": "green.yml", "request_settings.request_timeout_ms": 4321}
    entry |= {
        "code_configuration.code": "../assets/batchscoring",
        "code_configuration.scoring_script": "batch_driver.py",
    }
    stack = _stack(entry, {"file": "blue.yml"}, _teal())
    green = stack.online_endpoint("fixture-online").deployment("green")
    assert green.request_settings.request_timeout_ms == 4321
    assert green.code_configuration is not None
    # Relative paths in overrides resolve against the YAML file's folder, like the file's own.
    assert green.code_configuration.code == ASSETS / "batchscoring"


def test_problems_of_overridden_keys_name_the_override_not_the_file() -> None:
    entry = {"file": "green.yml", "model.path": "../assets/nowhere", "instance_count": 0}
    with pytest.raises(SpecError) as caught:
        _stack(entry, {"file": "blue.yml"}, _teal())
    found = [str(problem) for problem in caught.value.problems]
    assert any(
        p.startswith("stack config: deployments[0].model.path: no such file or folder") for p in found
    ), found
    assert any(p.startswith("stack config: deployments[0].instance_count:") for p in found), found
    bad_key = {"file": "green.yml", "model.path[2]": "x"}
    with pytest.raises(SpecError) as caught:
        _stack(bad_key, {"file": "blue.yml"}, _teal())
    assert "stack config: deployments[0]: override 'model.path[2]'" in str(caught.value)
