"""A command component's `command` with its inputs and outputs filled in, as Azure ML fills it.

Azure's rules (https://learn.microsoft.com/azure/machine-learning/reference-yaml-component-command):
`${{inputs.<name>}}` and `${{outputs.<name>}}` are replaced by the value or the mounted path, as text
(no quoting is added: a value is pasted as written, as on Azure); `$[[ ... ]]` wraps the part of the
command that uses an optional input and is dropped whole when that input is not given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_OPTIONAL = re.compile(r"\$\[\[(?P<body>.*?)\]\]", re.DOTALL)
_REFERENCE = re.compile(r"\$\{\{\s*(?P<kind>inputs|outputs)\.(?P<name>\w+)\s*\}\}")


class CommandError(ValueError):
    """The command names an input or output the component does not declare, or leaves one unfilled."""


def render_command(template: str, inputs: Mapping[str, str | None], outputs: Mapping[str, str]) -> str:
    """`template` with every reference replaced; `inputs` maps each declared input to its value as
    text (None: not given), `outputs` each declared output to its path."""

    def given(match: re.Match[str]) -> str:
        body = match["body"]
        names = [ref["name"] for ref in _REFERENCE.finditer(body) if ref["kind"] == "inputs"]
        if not names:
            raise CommandError(f"$[[{body}]] names no ${{{{inputs...}}}}: it could never be dropped")
        return body if all(inputs.get(name) is not None for name in names) else ""

    def value(match: re.Match[str]) -> str:
        kind, name = match["kind"], match["name"]
        table: Mapping[str, str | None] = inputs if kind == "inputs" else outputs
        if name not in table:
            raise CommandError(
                f"the command uses ${{{{{kind}.{name}}}}}, but the component declares no {kind[:-1]} "
                f"{name!r} (its {kind}: {', '.join(table) or 'none'})"
            )
        text = table[name]
        if text is None:
            raise CommandError(
                f"the command uses ${{{{inputs.{name}}}}} outside $[[...]], but the input was not given: "
                f"bind it, give it a default, or wrap its part of the command in $[[...]]"
            )
        return text

    with_optional = _OPTIONAL.sub(given, template)
    return _REFERENCE.sub(value, with_optional)
