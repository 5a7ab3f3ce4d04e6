"""Loading the batch driver: clear errors naming the file, the failure kind the Completion carries."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.batch.node.driver import DriverError, call_init, load_driver
from serving.scorer.script import ENTRY_MODULE_NAME

DRIVERS = str(Path(__file__).parent / "drivers")


@pytest.fixture(autouse=True)
def _clean_imports() -> Iterator[None]:
    path = list(sys.path)
    yield
    sys.modules.pop(ENTRY_MODULE_NAME, None)
    sys.path[:] = path


def test_a_missing_script_names_the_path_and_the_folder() -> None:
    with pytest.raises(DriverError) as caught:
        load_driver(DRIVERS, "nope.py")
    assert caught.value.kind == "init_failed"
    assert f"{DRIVERS}/nope.py" in caught.value.message and "no_init.py" in caught.value.message


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def init():\n    pass\n\ndef run(mini_batch)\n    return []\n")
    with pytest.raises(DriverError) as caught:
        load_driver(str(tmp_path), "broken.py")
    assert caught.value.kind == "init_failed"
    assert "broken.py" in caught.value.message and "line 4" in caught.value.message
    assert "SyntaxError" in caught.value.message


def test_an_import_error_is_init_failed_with_the_module_name() -> None:
    with pytest.raises(DriverError) as caught:
        load_driver(DRIVERS, "import_error.py")
    assert caught.value.kind == "init_failed"
    assert "module_that_does_not_exist" in caught.value.message and "import_error.py" in caught.value.message
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_no_run_is_its_own_failure_kind() -> None:
    with pytest.raises(DriverError) as caught:
        load_driver(DRIVERS, "no_run.py")
    assert caught.value.kind == "no_run"
    assert "no_run.py does not define a run(mini_batch) function" in caught.value.message


def test_init_is_optional_as_on_azures_runtime() -> None:
    driver = load_driver(DRIVERS, "no_init.py")
    assert driver.init is None
    call_init(driver, DRIVERS)  # nothing to call
    assert driver.run(["a"]) == ["a: ok"]


def test_init_raising_names_the_error_and_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZUREML_MODEL_DIR", "/models/here")
    driver = load_driver(DRIVERS, "init_raises.py")
    with pytest.raises(DriverError) as caught:
        call_init(driver, DRIVERS)
    assert caught.value.kind == "init_failed"
    message = caught.value.message
    assert message.startswith(f"init() in {DRIVERS}/init_raises.py raised RuntimeError")
    assert "model not found under /models/here" in message and "init_raises.py, line 7" in message
