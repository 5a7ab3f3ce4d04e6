"""Process settings: where secrets come from, and the runtime directory nginx's workers must reach."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.router.errors import ConfigError
from serving.router.settings import RouterSettings
from serving.router.supervisor import prepare_run_dir


def settings(**values: object) -> RouterSettings:
    return RouterSettings(config=Path("router.json"), **values)  # type: ignore[arg-type]


def test_secrets_from_environment_and_errors_without_values(monkeypatch):
    monkeypatch.setenv("MLE_ROUTER_CONFIG", "router.json")
    monkeypatch.setenv("MLE_ROUTER_PRIMARY_KEY", "env-key-0123456789abc")
    secrets, source = RouterSettings().load_secrets()  # type: ignore[call-arg]
    assert secrets.accepted_keys() == ("env-key-0123456789abc",)
    assert source == "MLE_ROUTER_* environment"
    monkeypatch.setenv("MLE_ROUTER_SECONDARY_KEY", "bad key with spaces 0123")
    with pytest.raises(ConfigError, match="MLE_ROUTER_SECONDARY_KEY: key must be") as error:
        RouterSettings().load_secrets()  # type: ignore[call-arg]
    assert "spaces" not in str(error.value)


def test_empty_secrets_count_as_unset():
    secrets, _ = settings(
        primary_key="env-key-0123456789abc", secondary_key="", token_secret=""
    ).load_secrets()
    assert secrets.accepted_keys() == ("env-key-0123456789abc",)
    assert secrets.token_secret is None


def test_a_secrets_file_wins_over_the_environment(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text('{"primary_key": "file-key-0123456789ab", "token_secret": "' + "x" * 32 + '"}')
    secrets, source = settings(secrets_file=path, primary_key="env-key-0123456789abc").load_secrets()
    assert secrets.accepted_keys() == ("file-key-0123456789ab",)
    assert str(path) in source


def test_workers_setting_is_checked():
    assert settings(workers="2").workers == "2"
    with pytest.raises(ValidationError):
        settings(workers="many")


@pytest.mark.skipif(os.geteuid() != 0, reason="the worker-user handling applies when running as root")
def test_run_dir_as_root_must_be_reachable_by_the_workers(tmp_path):
    with pytest.raises(ConfigError, match="cannot enter"):
        prepare_run_dir(settings(run_dir=tmp_path / "run"))  # pytest's tmp dirs are 0700
    base = Path(tempfile.mkdtemp(prefix="router-test-"))
    try:
        base.chmod(0o711)
        layout = prepare_run_dir(settings(run_dir=base / "run"))
        assert layout.worker_user is not None and layout.worker_user.startswith("nobody ")
        assert layout.temp_dirs["proxy"].stat().st_uid == 65534
        assert layout.run_dir.stat().st_mode & 0o777 == 0o711
    finally:
        shutil.rmtree(base)
