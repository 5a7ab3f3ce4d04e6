"""Deploy-time errors: SpecError carries every problem found, each with file, line and field path."""

from __future__ import annotations

import difflib
import re
import types
import typing
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_$/-]+(\.[A-Za-z0-9_$/-]+)*")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where it is (file, line, field path) and what to do about it."""

    message: str
    field: str = ""
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file or ""
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        parts = [part for part in (where, self.field, self.message) if part]
        return printable(": ".join(parts))


def printable(text: str) -> str:
    """Escape control characters so that one problem always stays on one line."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class SpecError(ValueError):
    """Specs that cannot be deployed; `problems` lists every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems) or (Problem("invalid spec"),)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)

    @classmethod
    def single(
        cls, message: str, *, field: str = "", file: str | None = None, line: int | None = None
    ) -> SpecError:
        return cls([Problem(message, field, file, line)])


class SpecWarning(UserWarning):
    """A key that is accepted but has no effect (on this target, or at all), and why."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(": ".join(part for part in (problem.field, problem.message) if part))


class FieldIssues(ValueError):
    """Raised by validators to point at sub-fields of the field being validated (loc relative to it)."""

    def __init__(self, issues: Sequence[tuple[Loc, str]]) -> None:
        self.issues = tuple(issues)
        super().__init__("; ".join(message for _, message in self.issues))


def format_loc(loc: Loc) -> str:
    """`("a", 0, "b")` -> `a[0].b`, the way users write field paths."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(str(part)):
            text += f"[{str(part)!r}]"  # keys with spaces, dots or nothing at all stay readable
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class Source:
    """Where a document came from: a label for messages, YAML line numbers by key path, a path prefix."""

    file: str | None = None
    lines: Mapping[Loc, int] = field(default_factory=dict)
    root: Loc = ()

    def line_of(self, loc: Loc) -> int | None:
        for end in range(len(loc), 0, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        # Validators may move keys (legacy batch settings into `settings`): try the tail of the path.
        for start in range(1, len(loc)):
            line = self.lines.get(loc[start:])
            if line is not None:
                return line
        return self.lines.get(())

    def problem(self, loc: Loc, message: str) -> Problem:
        return Problem(message, format_loc(self.root + tuple(loc)), self.file, self.line_of(tuple(loc)))

    def warn(self, loc: Loc, message: str) -> None:
        # Attributed to the YAML file and line, so Python's own warning display points there.
        problem = self.problem(loc, message)
        warnings.warn_explicit(SpecWarning(problem), SpecWarning, problem.file or "<spec>", problem.line or 0)


@dataclass(frozen=True)
class OverlaySource(Source):
    """A YAML file's Source whose keys set by stack-config overrides are blamed on the override.

    `overrides` are the key paths the stack config entry (`entry`, e.g. `deployments[1]`) replaced:
    a problem at or under one of them names that entry's key, not the file's line that no longer
    holds the value.
    """

    overrides: tuple[Loc, ...] = ()
    entry: Source = field(default_factory=Source)

    def overridden(self, loc: Loc) -> bool:
        return bool(loc) and any(
            loc[: len(path)] == path or path[: len(loc)] == loc for path in self.overrides
        )

    def problem(self, loc: Loc, message: str) -> Problem:
        if self.overridden(tuple(loc)):
            return self.entry.problem(loc, message)
        return super().problem(loc, message)


def show(value: Any) -> str:
    """A short rendering of a bad value for messages."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def close_matches(word: str, options: Iterable[str], count: int = 3) -> list[str]:
    """The options that look like `word` (any case), best first; none when nothing is close."""
    by_lower = {option.lower(): option for option in options}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=count, cutoff=0.6)
    return [by_lower[match] for match in matches]


def closest(word: str, options: Iterable[str]) -> str | None:
    matches = close_matches(word, options, 1)
    return matches[0] if matches else None


def ordered(problems: Iterable[Problem], files: Iterable[str | None] = ()) -> list[Problem]:
    """Problems by file (in the order `files` lists them, then first mention), then by line.

    Duplicates are dropped; problems on the same line keep the order they were found in.
    """
    problems = list(dict.fromkeys(problems))
    rank: dict[str | None, int] = {}
    for file in [*files, *(problem.file for problem in problems)]:
        rank.setdefault(file, len(rank))
    return sorted(problems, key=lambda problem: (rank[problem.file], problem.line or 0))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The single model class inside Optional/Annotated/Union wrappers, if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        found = [m for m in map(_model_in, typing.get_args(annotation)) if m is not None]
        return found[0] if len(found) == 1 else None
    return None


def keys_of(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """The keys a model accepts (aliases as users write them), each with its nested model if any."""
    return {(info.alias or name): _model_in(info.annotation) for name, info in model.model_fields.items()}


def model_at(model: type[BaseModel] | None, loc: Loc) -> type[BaseModel] | None:
    for part in loc:
        if model is None or not isinstance(part, str):
            return None
        model = keys_of(model).get(part)
    return model


def unknown_key_message(model: type[BaseModel] | None, key: object) -> str:
    if model is None:
        return f"unknown key {key!r}"
    allowed = keys_of(model)
    hint = closest(str(key), allowed)
    if hint is None:
        # A key written one level too high, e.g. batch `mini_batch_size` outside `settings`.
        hint = next((f"{name}.{key}" for name, sub in allowed.items() if sub and key in keys_of(sub)), None)
    text = f"unknown key {key!r}"
    if hint:
        text += f" (did you mean {hint!r}?)"
    return text + "; allowed keys: " + ", ".join(sorted(allowed))


def _message(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    loc = tuple(error["loc"])
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return unknown_key_message(model_at(model, loc[:-1]), loc[-1] if loc else "?")
    if kind in bounds:
        op, key = bounds[kind]
        return f"must be {op} {ctx.get(key)} (got {show(value)})"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "literal_error":
        expected = str(ctx.get("expected"))
        choice = f"one of {expected}" if " or " in expected else expected
        return f"must be {choice} (got {show(value)})"
    if kind.startswith("int_"):
        return f"must be a whole number (got {show(value)})"
    if kind.startswith("float_"):
        return f"must be a number (got {show(value)})"
    if kind.startswith("bool_"):
        return f"must be true or false (got {show(value)})"
    if kind == "string_too_short":
        return f"must be at least {ctx.get('min_length')} characters long (got {show(value)})"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long (got {show(value)})"
    if kind == "string_type":
        return f"must be text (got {show(value)})"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"must be a mapping of keys to values (got {show(value)})"
    if kind in ("list_type", "tuple_type", "iterable_type"):
        return f"must be a list (got {show(value)})"
    return f"{error['msg']} (got {show(value)})"


def problems_from_validation_error(
    error: ValidationError, model: type[BaseModel], source: Source | None = None
) -> list[Problem]:
    """Translate pydantic's errors into our problems: field paths, line numbers, plain words."""
    source = source or Source()
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, FieldIssues):
            problems.extend(source.problem(loc + sub, message) for sub, message in cause.issues)
        elif loc and loc[-1] == "[key]":  # pydantic's marker for a bad key of a mapping
            problems.append(source.problem(loc[:-2], f"keys must be text (got {show(item.get('input'))})"))
        else:
            problems.append(source.problem(loc, _message(item, model)))
    return list(dict.fromkeys(problems))
