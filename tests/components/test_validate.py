"""The validate command and validate_paths: every problem at once, exit codes, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from components.azureml_yaml import BATCH_OFF_LOCAL
from components.validate import main, validate_paths

FIXTURES = Path(__file__).parent / "fixtures"
GOOD, BAD, REGISTERED = FIXTURES / "good", FIXTURES / "bad", FIXTURES / "registered"
REPO = Path(__file__).resolve().parents[2]


def test_good_files_have_no_problems() -> None:
    assert validate_paths([GOOD]) == []
    assert validate_paths([GOOD], as_stack=True, target="azure") == []
    # Off Azure the one build context (teal) cannot be deployed yet: refused before `pulumi up`.
    found = validate_paths([GOOD], as_stack=True, target="local")
    assert [(Path(p.file or "").name, p.field) for p in found] == [("teal.yml", "environment")]
    # Batch endpoints and their deployments run on the local target only, as the stack says at `up`.
    found = validate_paths([GOOD], as_stack=True, target="kubernetes")
    assert [(Path(p.file or "").name, p.field, p.message) for p in found] == [
        ("batch-endpoint.yml", "", BATCH_OFF_LOCAL),
        ("legacy-batch-deployment.yml", "", BATCH_OFF_LOCAL),
        ("model-batch-deployment.yml", "", BATCH_OFF_LOCAL),
        ("pipeline-batch-deployment.yml", "", BATCH_OFF_LOCAL),
        ("teal.yml", "environment", found[-1].message),
    ]


def test_every_problem_of_every_file_at_once() -> None:
    found = validate_paths([BAD, GOOD / "blue.yml"])
    assert {Path(p.file or "").name for p in found} == {"deployment.yml", "endpoint.yml", "syntax.yml"}
    assert len(found) == 10
    assert all(p.line is not None for p in found)


def test_target_and_stack_checks() -> None:
    found = validate_paths([REGISTERED], target="local")
    assert [p.field for p in found] == ["model", "model", "environment", "component"]
    assert validate_paths([REGISTERED], target="azure") == []
    found = validate_paths([GOOD / "blue.yml"], as_stack=True)
    assert [p.field for p in found] == ["endpoint_name"]


def test_main_prints_problems_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(BAD / "endpoint.yml")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{BAD / 'endpoint.yml'}:2: name: must be 3-32 characters long (got 'x', 1 long)"
    assert lines[-1] == "4 problem(s) in 1 of 1 file(s)"


def test_main_exits_0_when_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(GOOD), "--stack", "--target", "azure"]) == 0
    assert capsys.readouterr().out == "ok: 11 file(s)\n"


def test_main_prints_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (GOOD / "compute.yml").read_text() + "ssh_public_access_enabled: true\nlocation: westeurope\n"
    (tmp_path / "compute.yml").write_text(text)
    assert main([str(tmp_path / "compute.yml"), "--target", "local"]) == 0
    out = capsys.readouterr().out.splitlines()
    file = tmp_path / "compute.yml"
    ssh = "ssh_public_access_enabled: SSH access to nodes is not managed by mlendpoints; ignored"
    assert out[0] == f"{file}:9: warning: {ssh}"
    assert (
        out[1] == f"{file}:10: warning: location: only used by the azure target; ignored on the local target"
    )


def test_main_handles_missing_and_junk_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk.yml").write_bytes(bytes(range(256)))
    assert main([str(tmp_path / "nope.yml"), str(tmp_path / "junk.yml")]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'nope.yml'}: no such file or folder" in out
    assert f"{tmp_path / 'junk.yml'}: not a UTF-8 text file" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    with pytest.raises(SystemExit):
        main([str(GOOD), "--target", "aws"])
    assert "invalid choice" in capsys.readouterr().err


def test_module_entry_point_never_shows_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("\x00\x01: [\n")
    (tmp_path / "b.yml").write_text("$schema: amlCompute\nname: 1\nsize: {}\nmax_instances: -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "components.validate", str(tmp_path), str(tmp_path / "a.yml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{tmp_path / 'b.yml'}:2: name: must be text (got 1)" in result.stdout
