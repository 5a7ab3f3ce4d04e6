"""Code that runs in deployment images keeps to Python 3.9 (bullseye's images run it): syntax, and the
3.10+ calls this code base reached for before. The images themselves are tested in
tests/integration/test_python_versions.py and the conformance tests (python=3.8.5 -> 3.9)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVING = Path(__file__).resolve().parents[2] / "serving"
# Only the default base (Python 3.11) runs these.
DEFAULT_IMAGE_ONLY = ("agent", "router", "batch/controller")
# Library calls that do not exist on 3.9, by attribute name; zip(strict=) is checked apart.
NEWER_CALLS = {"getLevelNamesMapping", "pairwise", "aclosing", "get_annotations", "bit_count"}


def _deployment_modules() -> list[Path]:
    return sorted(
        path
        for path in SERVING.rglob("*.py")
        if not any(str(path.relative_to(SERVING)).startswith(part) for part in DEFAULT_IMAGE_ONLY)
    )


@pytest.mark.parametrize("path", _deployment_modules(), ids=lambda p: str(p.relative_to(SERVING)))
def test_deployment_image_code_runs_on_python_3_9(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, str(path), feature_version=(3, 9))  # match, with (...) etc. are refused
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(a.name == "annotations" for a in node.names)
        for node in tree.body
    )
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "zip" and any(keyword.arg == "strict" for keyword in node.keywords):
                problems.append(f"line {node.lineno}: zip(strict=) is 3.10+")
            if name in NEWER_CALLS:
                problems.append(f"line {node.lineno}: {name}() is 3.10+")
        if isinstance(node, ast.AnnAssign) and not postponed and _has_union(node.annotation):
            problems.append(f"line {node.lineno}: an `X | Y` annotation evaluated at import (3.10+)")
    assert not problems, problems


def _has_union(annotation: ast.expr) -> bool:
    return any(
        isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) for node in ast.walk(annotation)
    )
