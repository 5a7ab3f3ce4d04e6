"""Stack-config overrides of a YAML file's keys, written as the az CLI's `--set` takes them.

`{file: blue.yml, code_configuration.code: src, request_settings.request_timeout_ms: 3000}` replaces
those keys in the file's document before it is validated, as `az ml online-deployment create -f
blue.yml --set code_configuration.code=src ...` does. A key is a dotted path; list items are
addressed by index, `probes[0].period` or `probes.0.period`. Missing mappings on the way are created;
a list index must exist. Paths in values resolve against the YAML file's folder, like its own paths.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from components.errors import Loc

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class OverrideError(ValueError):
    """An override key that does not address a place in the document; the message says why."""


def parse_key(key: str) -> Loc:
    """`request_settings.request_timeout_ms` -> ("request_settings", "request_timeout_ms");
    `a.b[0].c` and `a.b.0.c` -> ("a", "b", 0, "c")."""
    parts: list[str | int] = []
    position = 0
    text = str(key)
    while position < len(text):
        if text[position] == "." and parts:
            position += 1
        matched = _PART.match(text, position)
        if matched is None:
            raise OverrideError(f"override key {key!r} is not a dotted path (a.b, a.b[0].c)")
        name, index = matched.groups()
        if index is not None:
            parts.append(int(index))
        else:
            parts.append(int(name) if name.isdigit() and parts else name)
        position = matched.end()
    if not parts or not isinstance(parts[0], str):
        raise OverrideError(f"override key {key!r} must start with a key name")
    return tuple(parts)


def override_paths(overrides: Mapping[str, Any]) -> list[Loc]:
    """The key paths the overrides set (keys that do not parse are left to apply_overrides to report)."""
    found: list[Loc] = []
    for key in overrides:
        try:
            found.append(parse_key(key))
        except OverrideError:
            continue
    return found


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `data` with every override set (in the order given); OverrideError naming the key."""
    merged: dict[str, Any] = copy.deepcopy(dict(data))
    for key, value in overrides.items():
        path = parse_key(key)
        _set(merged, path, copy.deepcopy(value), key)
    return merged


def _set(document: dict[str, Any], path: Loc, value: Any, key: str) -> None:
    node: Any = document
    for depth, part in enumerate(path[:-1]):
        following = path[depth + 1]
        node = _step(node, part, key, create=not isinstance(following, int))
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or not 0 <= last < len(node):
            raise OverrideError(f"override {key!r}: there is no item [{last}] to replace")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise OverrideError(
            f"override {key!r}: {_where(path[:-1])} is not a mapping, so it has no key {last!r}"
        )


def _step(node: Any, part: str | int, key: str, create: bool) -> Any:
    if isinstance(part, int):
        if not isinstance(node, list) or not 0 <= part < len(node):
            raise OverrideError(f"override {key!r}: there is no item [{part}] to go into")
        return node[part]
    if not isinstance(node, dict):
        raise OverrideError(f"override {key!r}: cannot go into {part!r}: not inside a mapping")
    if part not in node or node[part] is None:
        if not create:
            raise OverrideError(f"override {key!r}: {part!r} is not a list in the file")
        node[part] = {}
    return node[part]


def _where(path: Iterable[str | int]) -> str:
    return ".".join(str(part) for part in path) or "the document"
