"""Property: however the good fixture files are mutated (keys deleted, values replaced by long strings, huge
numbers, wrong types, NUL characters, deep nesting; bytes that are not UTF-8; a broken conda file), loading
and validating them as a stack for the local target gives problems (SpecError), never another exception."""

from __future__ import annotations

import contextlib
import copy
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.errors import Problem, SpecError, SpecWarning
from components.stack_config import StackSpec, load_stack_config
from components.validate import validate_paths

FIXTURES = Path(__file__).parent / "fixtures"
GOOD, ASSETS = FIXTURES / "good", FIXTURES / "assets"
NAMES = sorted(path.name for path in GOOD.glob("*.yml"))
# Always in the stack beside the mutated files, so that the cross-file checks have something to check.
PARENTS = ("endpoint.yml", "batch-endpoint.yml", "compute.yml")
DOCUMENTS = {name: yaml.safe_load((GOOD / name).read_text()) for name in NAMES}
CONDA = "environment/conda.yaml"


def _nested(depth: int, leaf: Any, as_list: bool) -> Any:
    for _ in range(depth):
        leaf = [leaf] if as_list else {"k": leaf}
    return leaf


LONG_TEXT = st.one_of(
    st.integers(256, 1000).map(lambda n: "x" * n),  # over NAME_MAX
    st.just("/".join(["p" * 250] * 17)),  # over PATH_MAX, every name at the limit
    st.text(min_size=100, max_size=300),
)
HUGE_INT = st.one_of(
    st.sampled_from([2**31, 2**63, -(2**63), 10**30, 2**64 + 1]),
    st.integers(min_value=2**31),
    st.integers(max_value=-(2**31)),
)
WRONG_TYPE = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.dictionaries(st.integers(), st.text(max_size=5), min_size=1, max_size=2),  # keys that are not text
)
NUL_TEXT = st.builds(lambda a, b: f"{a}\0{b}", st.text(max_size=10), st.text(max_size=10))
DEEP = st.builds(_nested, st.integers(20, 150), st.sampled_from([1, "x", None]), st.booleans())
JUNK = st.one_of(LONG_TEXT, HUGE_INT, WRONG_TYPE, NUL_TEXT, DEEP, st.text(max_size=30))


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path and list index in a document (where a mutation can land)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found += [(*prefix, key), *_paths(value, (*prefix, key))]
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += [(*prefix, index), *_paths(value, (*prefix, index))]
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def mutated_document(draw: st.DrawFn, data: Any) -> Any:
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        action = draw(st.sampled_from(["delete", "replace", "replace", "add"]))
        if not paths or not isinstance(data, dict):
            return draw(JUNK) if action == "replace" else data
        path = draw(st.sampled_from(paths))
        if action == "delete":
            del _parent(data, path)[path[-1]]
        elif action == "replace":
            _parent(data, path)[path[-1]] = draw(JUNK)
        else:
            data[draw(st.text(min_size=1, max_size=20))] = draw(JUNK)
    return data


def _to_bytes(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8", "surrogateescape")


@st.composite
def case(draw: st.DrawFn) -> dict[str, bytes]:
    """File name (under good/, or the conda file) -> new content."""
    files: dict[str, bytes] = {}
    for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True)):
        data = draw(mutated_document(copy.deepcopy(DOCUMENTS[name])))
        try:
            content = _to_bytes(data)
        except (yaml.YAMLError, UnicodeError, RecursionError):
            content = repr(data).encode("utf-8", "surrogateescape")
        if draw(st.booleans()):  # bytes that are not UTF-8, somewhere in the file
            at = draw(st.integers(0, len(content)))
            junk = draw(st.sampled_from([b"\xff", b"\xc3(", b"\xe9", b"\x00", b"\xed\xa0\x80"]))
            content = content[:at] + junk + content[at:]
        files[name] = content
    if draw(st.booleans()):
        conda = {"name": "env", "dependencies": ["python=3.11", "pip", {"pip": ["numpy"]}]}
        files[CONDA] = draw(
            st.one_of(
                st.just(b"name: caf\xe9\ndependencies: []\n"),
                st.binary(max_size=50),
                mutated_document(conda).map(_to_bytes),
            )
        )
    return files


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A copy of the fixtures (good/, assets/) that each case changes and then puts back."""
    with tempfile.TemporaryDirectory(prefix="mle-mutations-") as folder:
        shutil.copytree(GOOD, Path(folder) / "good")
        shutil.copytree(ASSETS, Path(folder) / "assets")
        yield Path(folder)


@contextlib.contextmanager
def _written(root: Path, files: dict[str, bytes]) -> Iterator[Path]:
    changed = {
        root / ("assets" if name == CONDA else "good") / name: content for name, content in files.items()
    }
    originals = {path: path.read_bytes() for path in changed}
    try:
        for path, content in changed.items():
            path.write_bytes(content)
        yield root / "good"
    finally:
        for path, content in originals.items():
            path.write_bytes(content)


def _check(problems: list[Problem] | tuple[Problem, ...]) -> None:
    for problem in problems:
        assert isinstance(problem, Problem)
        text = str(problem)
        assert text and "\n" not in text and "Traceback" not in text


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(case(), st.integers(0, 2))
def test_mutated_fixtures_only_ever_give_spec_problems(
    workdir: Path, files: dict[str, bytes], via: int
) -> None:
    # The mutated files and the parents they name, by name (pure-Python YAML parsing is the cost here).
    names = sorted({*PARENTS, *files} - {CONDA})
    with _written(workdir, files) as good, warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecWarning)
        found = validate_paths([good / name for name in names], target="local", as_stack=True)
        _check(found)
        if via:  # a third of the cases also load as stack config
            return
        try:
            stack = load_stack_config({"files": names}, good, target="local")
        except SpecError as error:
            _check(error.problems)
            assert [str(p) for p in error.problems] == [str(p) for p in found]
        else:  # the same checks, the same verdict
            assert isinstance(stack, StackSpec) and found == []
