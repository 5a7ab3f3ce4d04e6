"""User-given paths the OS refuses (too long, NUL, not a folder, loops, no permission) are problems, never
OSError tracebacks: in every path field, in stack config entries, on the command line, in conda files."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import environments
from components.azureml_yaml import load_all, yaml_files
from components.errors import SpecError
from components.specs import OnlineDeploymentSpec, PipelineComponentBatchDeploymentSpec, parse_spec
from components.specs.fields import NAME_MAX, PATH_MAX, path_issue, path_kind
from components.stack_config import load_stack_config
from components.validate import main, validate_paths

FIXTURES = Path(__file__).parent / "fixtures"
GOOD, ASSETS = FIXTURES / "good", FIXTURES / "assets"
LONG_NAME = "m" * (NAME_MAX + 45)  # one name of 300 bytes: ENAMETOOLONG
LONG_PATH = "/".join(["d" * 200] * 25)  # every name allowed, the whole over PATH_MAX


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    """A writable copy of the good fixtures and their assets (good/, assets/)."""
    shutil.copytree(GOOD, tmp_path / "good")
    shutil.copytree(ASSETS, tmp_path / "assets")
    return tmp_path


def _edit(file: Path, path: tuple[str, ...], value: Any) -> None:
    data = yaml.safe_load(file.read_text())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    file.write_text(yaml.safe_dump(data, sort_keys=False))


def _only_problem(paths: list[Path], **kw: Any) -> str:
    found = validate_paths(paths, **kw)
    assert len(found) == 1, [str(p) for p in found]
    return str(found[0])


# ---------------------------------------------------------------- every path field of a spec

PATH_FIELDS = [
    ("blue.yml", ("model", "path"), 6),
    ("blue.yml", ("code_configuration", "code"), 8),
    ("blue.yml", ("code_configuration", "scoring_script"), 9),
    ("blue.yml", ("environment", "conda_file"), 12),
    ("teal.yml", ("environment", "build", "path"), 11),
    ("teal.yml", ("environment", "build", "dockerfile_path"), 12),  # a new key, after `path`
    ("pipeline-batch-deployment.yml", ("component",), 5),
]


@pytest.mark.parametrize(("file", "field", "line"), PATH_FIELDS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            LONG_NAME,
            f"in the path is {NAME_MAX + 45} bytes long; this OS allows at most {NAME_MAX} (NAME_MAX)",
        ),
        (LONG_PATH, f"this OS allows at most {PATH_MAX - 1} (PATH_MAX)"),
        ("sc\0ore", "the path contains a NUL character"),
        # pydantic itself refuses lone surrogates in some text fields, which is as good
        ("bad-\ud800", "(unpaired surrogates)|unable to parse raw data as a unicode string"),
    ],
)
def test_impossible_paths_name_their_field(
    fixtures: Path, file: str, field: tuple[str, ...], line: int, value: str, message: str
) -> None:
    spec_file = fixtures / "good" / file
    _edit(spec_file, field, value)
    problem = _only_problem([spec_file])
    assert problem.startswith(f"{spec_file}:{line}: {'.'.join(field)}: "), problem
    assert any(option in problem for option in message.split("|")), problem


@pytest.mark.parametrize(("file", "field", "line"), PATH_FIELDS)
def test_impossible_paths_are_problems_even_without_path_checks(
    fixtures: Path, file: str, field: tuple[str, ...], line: int
) -> None:
    spec_file = fixtures / "good" / file
    _edit(spec_file, field, LONG_NAME)
    problem = _only_problem([spec_file], check_paths=False)
    assert problem.startswith(f"{spec_file}:{line}: {'.'.join(field)}: the name 'mmm"), problem


def test_a_file_on_the_way_is_not_a_folder(fixtures: Path) -> None:
    blue = fixtures / "good" / "blue.yml"
    _edit(blue, ("model", "path"), "../assets/model/model.txt/more")
    problem = _only_problem([blue])
    assert problem == (
        f"{blue}:6: model.path: cannot look at {fixtures / 'assets/model/model.txt/more'}: Not a directory"
    )


def test_symlink_loops(fixtures: Path) -> None:
    (fixtures / "assets" / "loop-a").symlink_to("loop-b")
    (fixtures / "assets" / "loop-b").symlink_to("loop-a")
    blue = fixtures / "good" / "blue.yml"
    _edit(blue, ("environment", "conda_file"), "../assets/loop-a")
    problem = _only_problem([blue])
    assert problem.startswith(f"{blue}:12: environment.conda_file: cannot look at ")
    assert problem.endswith(": Too many levels of symbolic links")


def test_permission_denied(fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root ignores permissions, so the OS's answer is simulated for the one folder.
    locked = fixtures / "assets" / "locked"
    real_stat = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if str(path).startswith(str(locked)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    blue = fixtures / "good" / "blue.yml"
    _edit(blue, ("code_configuration", "code"), "../assets/locked/code")
    problem = _only_problem([blue])
    assert (
        problem == f"{blue}:8: code_configuration.code: cannot look at {locked / 'code'}: Permission denied"
    )


def test_inline_specs_and_path_objects() -> None:
    # parse_spec with a Path object (as the Python API allows) goes through the same checks.
    data = {
        "name": "blue",
        "endpoint_name": "ep-one",
        "model": {"path": Path(LONG_NAME)},
        "environment": {"image": "python:3.11"},
        "instance_type": "Standard_DS2_v2",
        "instance_count": 1,
    }
    with pytest.raises(SpecError) as caught:
        parse_spec(OnlineDeploymentSpec, data, base_dir=ASSETS, check_paths=True)
    assert [p.field for p in caught.value.problems] == ["model.path"]
    component = {"name": "pipe", "endpoint_name": "ep-one", "component": "x\0.yml"}
    with pytest.raises(SpecError, match="component: the path contains a NUL"):
        parse_spec(PipelineComponentBatchDeploymentSpec, component, base_dir=ASSETS)


def test_path_helpers() -> None:
    assert path_issue("a/b") is None
    assert path_issue("n" * NAME_MAX) is None
    assert path_issue("/" + "n" * (NAME_MAX + 1)) is not None
    assert path_issue("x" * PATH_MAX) is not None
    assert path_kind(ASSETS) == "folder"
    assert path_kind(ASSETS / "model" / "model.txt") == "file"
    assert path_kind(ASSETS / "nothing-here") is None
    assert path_kind(Path("/dev/null")) == "other"
    with pytest.raises(ValueError, match="Not a directory"):
        path_kind(ASSETS / "model" / "model.txt" / "x")


def test_special_files_are_not_files(fixtures: Path) -> None:
    blue = fixtures / "good" / "blue.yml"
    _edit(blue, ("environment", "conda_file"), "/dev/null")
    problem = _only_problem([blue])
    assert problem == (
        f"{blue}:12: environment.conda_file: expected a file, found something that is neither file nor "
        "folder: /dev/null"
    )


# ---------------------------------------------------------------- stack config entries and the command line


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        (LONG_NAME + ".yml", "deployments[0]", "bytes long; this OS allows at most 255 (NAME_MAX)"),
        (LONG_PATH, "deployments[0]", "(PATH_MAX)"),
        ("blue\0.yml", "deployments[0]", "the path contains a NUL character"),
        ("blue.yml/more.yml", "deployments[0]", "Not a directory"),
        ({"file": LONG_NAME, "name": "x"}, "deployments[0].file", "(NAME_MAX)"),
    ],
)
def test_stack_config_entries(entry: Any, field: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_stack_config({"deployments": [entry]}, GOOD, target="local")
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("stack config", field)
    assert message in problem.message


def test_command_line_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long_file = tmp_path / (LONG_NAME + ".yml")
    nul_file = str(tmp_path / "a\0.yml")
    assert yaml_files([long_file, nul_file]) == [long_file, Path(nul_file)]
    assert main([str(long_file), nul_file, str(tmp_path / LONG_PATH)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{long_file}: the name 'mmm") and out[0].endswith("(NAME_MAX)")
    assert out[1] == f"{tmp_path}/a\\x00.yml: the path contains a NUL character, which no file name can hold"
    assert out[2].endswith("(PATH_MAX)")
    assert out[3] == "3 problem(s) in 3 of 3 file(s)"
    loaded = load_all([long_file])
    assert loaded.documents == [] and len(loaded.unloaded) == 1


# ---------------------------------------------------------------- conda files and requirements files


def test_conda_and_requirements_files_that_are_not_utf8(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_bytes(b"name: x\ndependencies:\n  - caf\xe9\n")
    with pytest.raises(environments.EnvironmentMappingError, match="the conda file is not a UTF-8 text file"):
        environments.plan_environment(conda_file=conda)
    requirements = tmp_path / "requirements.txt"
    requirements.write_bytes(b"numpy\n\xff\xfe\n")
    with pytest.raises(environments.EnvironmentMappingError, match="requirements file is not a UTF-8 text"):
        environments.plan_environment(requirements_file=requirements)


@pytest.mark.parametrize(
    "path",
    [Path(LONG_NAME), Path(LONG_PATH), Path("conda\0.yaml"), Path("/dev/null/conda.yaml")],
)
def test_conda_files_the_os_refuses(path: Path) -> None:
    with pytest.raises(environments.EnvironmentMappingError, match="cannot read the conda file"):
        environments.plan_environment(conda_file=path)
    with pytest.raises(environments.EnvironmentMappingError, match="cannot read the requirements file"):
        environments.plan_environment(requirements_file=path)


@pytest.mark.parametrize(
    "text", ["a: [1", "when: 2024-13-45", "n: " + "9" * 5000, "[" * 2000 + "]" * 2000, "\x00"]
)
def test_conda_files_that_are_not_yaml(tmp_path: Path, text: str) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text(text)
    with pytest.raises(environments.EnvironmentMappingError, match="conda"):
        environments.plan_environment(conda_file=conda)
