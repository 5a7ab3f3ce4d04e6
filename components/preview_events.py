"""`pulumi preview --json` with PULUMI_ENABLE_STREAMING_JSON_PREVIEW: engine events -> typed records.

The streamed events are the only JSON output that carries policy violations (`policyEvent`); the
preview digest of plain `--json` drops them. One JSON object per line; unknown events are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Steps that replace a resource (a new one is created and the old one deleted, in either order).
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
_ANSI = re.compile(r"\x1b\[[0-9;]*m|<\{%[^%]*%\}>")


@dataclass(frozen=True)
class Step:
    """One planned resource operation."""

    op: str
    urn: str
    type: str
    parent: str | None
    old_inputs: Mapping[str, Any] = field(default_factory=dict)
    new_inputs: Mapping[str, Any] = field(default_factory=dict)
    old_outputs: Mapping[str, Any] = field(default_factory=dict)
    replace_keys: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def changed_keys(self) -> list[str]:
        """Top-level inputs whose values differ (the engine's own diff keys for dynamic resources are
        empty), provider references left out."""
        keys = set(self.old_inputs) | set(self.new_inputs)
        return sorted(
            key
            for key in keys
            if not key.startswith("__") and self.old_inputs.get(key) != self.new_inputs.get(key)
        )


@dataclass(frozen=True)
class PolicyViolation:
    policy: str
    level: str
    urn: str | None
    message: str


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    urn: str | None
    message: str


@dataclass
class PreviewEvents:
    steps: list[Step] = field(default_factory=list)
    violations: list[PolicyViolation] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    summary: Mapping[str, Any] = field(default_factory=dict)


class PreviewOutputError(ValueError):
    """The preview printed something that is not the engine's event stream."""


def parse_events(lines: Iterable[str]) -> PreviewEvents:
    events = PreviewEvents()
    seen = 0
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            event = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PreviewOutputError(
                f"line {number} of the preview's output is not JSON: {text[:200]}"
            ) from exc
        if not isinstance(event, dict):
            continue
        seen += 1
        if "resourcePreEvent" in event:
            events.steps.append(_step(event["resourcePreEvent"].get("metadata") or {}))
        elif "policyEvent" in event:
            policy = event["policyEvent"]
            events.violations.append(
                PolicyViolation(
                    policy=str(policy.get("policyName", "")),
                    level=str(policy.get("enforcementLevel", "advisory")),
                    urn=policy.get("resourceUrn") or None,
                    message=clean(str(policy.get("message", ""))),
                )
            )
        elif "diagnosticEvent" in event:
            diagnostic = event["diagnosticEvent"]
            message = clean(str(diagnostic.get("message", "")))
            if message and not diagnostic.get("ephemeral"):
                events.diagnostics.append(
                    Diagnostic(
                        str(diagnostic.get("severity", "info")), diagnostic.get("urn") or None, message
                    )
                )
        elif "summaryEvent" in event:
            events.summary = event["summaryEvent"]
    if seen == 0:
        raise PreviewOutputError("the preview printed no engine events")
    return events


def clean(message: str) -> str:
    """Without colour codes and the engine's `error: ` / `warning: ` prefixes."""
    text = _ANSI.sub("", message).strip()
    for prefix in ("error: ", "warning: "):
        text = text.removeprefix(prefix)
    return text


def _step(metadata: Mapping[str, Any]) -> Step:
    old = metadata.get("old") or {}
    new = metadata.get("new") or {}
    return Step(
        op=str(metadata.get("op", "")),
        urn=str(metadata.get("urn", "")),
        type=str(metadata.get("type", "")),
        parent=(new.get("parent") or old.get("parent")) or None,
        old_inputs=old.get("inputs") or {},
        new_inputs=new.get("inputs") or {},
        old_outputs=old.get("outputs") or {},
        replace_keys=tuple(metadata.get("keys") or ()),
    )
