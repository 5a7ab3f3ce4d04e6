"""`python -m components.validate FILE_OR_DIR...`: check Azure ML YAML files, report every problem."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from components.azureml_yaml import TARGETS, load_all, yaml_files
from components.errors import Problem, SpecWarning, printable
from components.stack_config import check_loaded


def validate_paths(
    paths: Iterable[Path | str],
    *,
    target: str | None = None,
    as_stack: bool = False,
    check_paths: bool = True,
) -> list[Problem]:
    """Every problem in the given files and folders (folders: YAML files with `$schema`, recursively),
    all in one pass, by file then line.

    Each file's own problems and its environment's (the conda file planned as its image will be);
    `as_stack` also cross-checks the files as one stack (deployments name existing endpoints, traffic
    names existing deployments); `target` also refuses what that target cannot deploy. Cross-file
    checks run on the files that loaded and keep quiet about names a failed file may define.
    Warnings (keys accepted but ignored) go through Python's `warnings` as SpecWarning.
    """
    loaded = load_all(paths, check_paths=check_paths)
    _, problems = check_loaded(loaded, target=target, as_stack=as_stack, check_paths=check_paths)
    return problems


def _warning_line(problem: Problem) -> str:
    where = problem.file or ""
    if where and problem.line is not None:
        where += f":{problem.line}"
    return printable(": ".join(part for part in (where, "warning", problem.field, problem.message) if part))


def main(argv: Sequence[str] | None = None) -> int:
    """Print every problem (file:line: field: message); exit 1 if there are any, else 0."""
    parser = argparse.ArgumentParser(
        prog="python -m components.validate",
        description="Check Azure ML CLI v2 YAML files (endpoints, deployments, compute) for mlendpoints.",
    )
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", help="YAML files, or folders to search")
    parser.add_argument("--target", choices=TARGETS, help="also refuse what this target cannot deploy")
    parser.add_argument("--stack", action="store_true", help="also cross-check the files as one stack")
    parser.add_argument("--no-path-check", action="store_true", help="do not require local paths to exist")
    args = parser.parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SpecWarning)
        problems = validate_paths(
            args.paths, target=args.target, as_stack=args.stack, check_paths=not args.no_path_check
        )
    for warning in caught:
        if isinstance(warning.message, SpecWarning):
            print(_warning_line(warning.message.problem))
    for problem in problems:
        print(problem)
    checked = len(yaml_files(args.paths))
    files = len({problem.file for problem in problems})
    summary = (
        f"{len(problems)} problem(s) in {files} of {checked} file(s)"
        if problems
        else f"ok: {checked} file(s)"
    )
    print(summary)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
