"""A preview's engine events -> what a reviewer of a serving change needs, per endpoint (JSON shape v1).

Pure: `build_report(events, stack)`; the CLI (components/preview_cli.py) runs the preview and renders.
The JSON shape is versioned (`schema`); fields are only ever added within a version.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from components import quota
from components.preview_events import REPLACE_OPS, PreviewEvents, Step

SCHEMA = "mlendpoints.preview/v1"
ENDPOINT_TYPES = {"mlendpoints:online:OnlineEndpoint": "online", "mlendpoints:batch:BatchEndpoint": "batch"}
DEPLOYMENT_TYPES = frozenset(
    {
        "mlendpoints:online:OnlineDeployment",
        "mlendpoints:batch:BatchDeployment",
        "mlendpoints:batch:PipelineDeployment",
    }
)
QUOTA_TYPE = "mlendpoints:quota:QuotaCheck"
# Engine messages that only say that something else failed (the specific error is reported too).
_GENERIC_ERRORS = ("preview failed", "an unhandled error occurred: Program exited with non-zero exit code")


class _Model(BaseModel):
    model_config = {"frozen": True}


class Split(_Model):
    before: dict[str, int] = Field(description="Weights (percent) per deployment before the change.")
    after: dict[str, int] = Field(description="Weights after it.")


class InstanceChange(_Model):
    deployment: str = Field(description="Deployment name.")
    before: int = Field(description="Instances (nodes for a batch cluster) before; 0 when new.")
    after: int = Field(description="Instances after; 0 when removed.")


class ImageChange(_Model):
    resource: str = Field(description="The image resource.")
    deployment: str | None = Field(
        description="Deployment it serves (None: the endpoint's own router/agent)."
    )
    why: str = Field(
        description="What made the tag change: environment packages, base image, or runtime/code."
    )


class ResourceChange(_Model):
    resource: str = Field(description="Resource name.")
    deployment: str | None = Field(description="Deployment it belongs to, if any.")
    type: str = Field(description="Pulumi type token.")
    keys: list[str] = Field(description="Inputs that change (for a replacement: those that force it).")
    why: str | None = Field(default=None, description="The change in a reviewer's words, when known.")


class EndpointReport(_Model):
    name: str = Field(description="Endpoint name.")
    kind: Literal["online", "batch"] = Field(description="Online or batch endpoint.")
    status: Literal["added", "removed", "changed", "unchanged"] = Field(description="What happens to it.")
    traffic: Split | None = Field(default=None, description="Traffic split before/after, when it changes.")
    mirror: Split | None = Field(default=None, description="Mirrored traffic before/after, when it changes.")
    deployments_added: list[str] = Field(default_factory=list, description="Deployments created.")
    deployments_removed: list[str] = Field(default_factory=list, description="Deployments deleted.")
    deployments_updated: list[str] = Field(default_factory=list, description="Deployments with any change.")
    instances: list[InstanceChange] = Field(default_factory=list, description="Instance counts that change.")
    images: list[ImageChange] = Field(default_factory=list, description="Images built anew.")
    replaced: list[ResourceChange] = Field(
        default_factory=list,
        description="Resources replaced (containers/pods restart: downtime or surge risk).",
    )
    in_place: list[ResourceChange] = Field(default_factory=list, description="Resources updated in place.")
    created: list[ResourceChange] = Field(default_factory=list, description="Resources created.")
    deleted: list[ResourceChange] = Field(default_factory=list, description="Resources deleted.")


class QuotaUse(_Model):
    total_cores: float = Field(description="Dedicated cores the stack needs.")
    total_memory_gb: float = Field(description="Memory the stack needs.")
    low_priority_cores: float = Field(description="Low-priority cores (counted apart, as Azure does).")
    arithmetic: str = Field(description="How the cores add up, term by term.")


class QuotaReport(_Model):
    before: QuotaUse | None = Field(description="Use of the stack as it is (None for a new stack).")
    after: QuotaUse = Field(description="Use after the change.")
    limits: dict[str, Any] = Field(description="The stack's quota limits (mlendpoints:quota).")
    violations: list[str] = Field(description="Limits the change exceeds, each with its arithmetic.")


class PolicyReport(_Model):
    policy: str = Field(description="Policy name in the pack.")
    level: str = Field(description="mandatory, advisory (or disabled).")
    resource: str | None = Field(description="Resource name the violation is about.")
    endpoint: str | None = Field(description="Endpoint the resource belongs to.")
    message: str = Field(description="The policy's description and the violation.")


class PreviewReport(_Model):
    schema_: str = Field(default=SCHEMA, alias="schema", description="Shape and version of this document.")
    stack: str = Field(description="Stack previewed.")
    result: Literal["succeeded", "failed"] = Field(description="Whether the preview itself succeeded.")
    no_changes: bool = Field(description="Nothing would be created, updated, replaced or deleted.")
    changes: dict[str, int] = Field(description="Steps per operation (the engine's counts).")
    endpoints: list[EndpointReport] = Field(description="Per endpoint, what the change does.")
    quota: QuotaReport | None = Field(description="Quota use before/after (None when not computed).")
    policy: list[PolicyReport] = Field(description="Every policy violation.")
    warnings: list[str] = Field(description="Warnings from the program (each once).")
    errors: list[str] = Field(description="Errors from the program or the engine.")
    exit_code: int = Field(description="0 clean, 1 mandatory violation or error, 2 advisory violations only.")

    model_config = {"frozen": True, "populate_by_name": True}


def build_report(events: PreviewEvents, stack: str, fail_on: str = "mandatory") -> PreviewReport:
    """The report of one preview; `fail_on` "advisory" makes advisory violations exit 1 too."""
    steps = events.steps
    by_urn = {step.urn: step for step in steps}
    endpoints = [_endpoint(step, steps, by_urn) for step in steps if step.type in ENDPOINT_TYPES]
    endpoints.sort(key=lambda e: e.name)
    quota_step = next((step for step in steps if step.type == QUOTA_TYPE), None)
    instances = _instance_changes(quota_step)
    endpoints = [
        e.model_copy(update={"instances": instances.get(e.name, [])}) if instances.get(e.name) else e
        for e in endpoints
    ]
    errors = _errors(events)
    policy = [
        PolicyReport(
            policy=v.policy,
            level=v.level,
            resource=v.urn.rsplit("::", 1)[-1] if v.urn else None,
            endpoint=_endpoint_of(v.urn, by_urn) if v.urn else None,
            message=v.message,
        )
        for v in events.violations
    ]
    counts = Counter(step.op for step in steps)
    failed = bool(errors) or events.summary.get("result") == "failed"
    result: Literal["succeeded", "failed"] = "failed" if failed else "succeeded"
    mandatory = any(p.level == "mandatory" for p in policy)
    advisory = any(p.level == "advisory" for p in policy)
    exit_code = 1 if (result == "failed" or mandatory) else 2 if advisory else 0
    if exit_code == 2 and fail_on == "advisory":
        exit_code = 1
    return PreviewReport(
        stack=stack,
        result=result,
        no_changes=result == "succeeded" and all(op in ("same", "read") for op in counts),
        changes=dict(sorted(counts.items())),
        endpoints=endpoints,
        quota=_quota(quota_step),
        policy=policy,
        warnings=list(dict.fromkeys(d.message for d in events.diagnostics if d.severity == "warning")),
        errors=errors,
        exit_code=exit_code,
    )


def _errors(events: PreviewEvents) -> list[str]:
    """The errors worth reading: the engine's "preview failed" only when nothing else says why (a
    mandatory policy violation says why on its own)."""
    errors = list(dict.fromkeys(d.message for d in events.diagnostics if d.severity == "error"))
    specific = [e for e in errors if not e.startswith(_GENERIC_ERRORS)]
    if specific or any(v.level == "mandatory" for v in events.violations):
        return specific
    return errors


def _ancestors(step: Step, by_urn: Mapping[str, Step]) -> list[Step]:
    chain: list[Step] = []
    parent = step.parent
    while parent and parent in by_urn and len(chain) < 50:
        chain.append(by_urn[parent])
        parent = by_urn[parent].parent
    return chain


def _endpoint_of(urn: str, by_urn: Mapping[str, Step]) -> str | None:
    step = by_urn.get(urn)
    if step is None:
        return None
    for candidate in [step, *_ancestors(step, by_urn)]:
        if candidate.type in ENDPOINT_TYPES:
            return candidate.name
    return None


def _deployment_of(step: Step, endpoint: str, by_urn: Mapping[str, Step]) -> str | None:
    for candidate in [step, *_ancestors(step, by_urn)]:
        if candidate.type in DEPLOYMENT_TYPES:
            return candidate.name.removeprefix(f"{endpoint}-")
    return None


def _endpoint(component: Step, steps: list[Step], by_urn: Mapping[str, Step]) -> EndpointReport:
    name = component.name
    mine = [s for s in steps if s is not component and component in _ancestors(s, by_urn)]
    deployments = [s for s in mine if s.type in DEPLOYMENT_TYPES]
    resources = [s for s in mine if not s.type.startswith("mlendpoints:")]
    changed_deployments = {_deployment_of(s, name, by_urn) for s in resources if s.op != "same"} - {None}
    added = sorted(d.name.removeprefix(f"{name}-") for d in deployments if d.op == "create")
    removed = sorted(d.name.removeprefix(f"{name}-") for d in deployments if d.op == "delete")
    report: dict[str, Any] = {
        "name": name,
        "kind": ENDPOINT_TYPES[component.type],
        "deployments_added": added,
        "deployments_removed": removed,
        "deployments_updated": sorted(
            str(d) for d in changed_deployments if d not in added and d not in removed
        ),
    }
    for step in resources:
        split = _split(step, "traffic")
        if split is not None:
            report["traffic"] = split
        mirror = _split(step, "mirror_traffic")
        if mirror is not None:
            report["mirror"] = mirror
        if step.op == "same":
            continue
        change = ResourceChange(
            resource=step.name,
            deployment=_deployment_of(step, name, by_urn),
            type=step.type,
            keys=[] if step.op in ("create", "delete") else list(step.replace_keys) or step.changed_keys(),
            why=None if step.op in ("create", "delete") else _why(step),
        )
        if _is_image(step):
            why = _image_why(step)
            if why is not None:
                report.setdefault("images", []).append(
                    ImageChange(resource=step.name, deployment=change.deployment, why=why)
                )
                continue
        bucket = {"update": "in_place", "create": "created", "delete": "deleted"}.get(step.op)
        if step.op in REPLACE_OPS:
            bucket = "replaced"
        if bucket is not None and not (bucket == "replaced" and step.op == "delete-replaced"):
            report.setdefault(bucket, []).append(change)
    status: Literal["added", "removed", "changed", "unchanged"] = "unchanged"
    if component.op in ("create", "delete"):
        status = "added" if component.op == "create" else "removed"
    elif any(s.op != "same" for s in resources):
        status = "changed"
    return EndpointReport(status=status, **report)


def _split(step: Step, key: str) -> Split | None:
    """The traffic (or mirror) weights a router resource takes, when they change."""
    before = _weights(step.old_inputs, key) or {}
    after = _weights(step.new_inputs, key)
    if after is None or before == after or step.op == "same":
        return None
    return Split(before=before, after=after)


def _weights(inputs: Mapping[str, Any], key: str) -> dict[str, int] | None:
    """Weights from the local router's config input, or the Kubernetes router's ConfigMap text."""
    config = inputs.get("config") if isinstance(inputs.get("config"), Mapping) else inputs
    data = inputs.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("config.json"), str):
        try:
            config = json.loads(data["config.json"])
        except ValueError:
            return None
    weights = config.get(key) if isinstance(config, Mapping) else None
    if not isinstance(weights, Mapping):
        return None
    return {str(k): int(v) for k, v in weights.items() if isinstance(v, (int, float))}


# Container/pod inputs -> what changing them means (local containers; the content label hashes the
# code and model folders a deployment mounts).
_INPUT_MEANING = (
    ("image", "its image changed"),
    ("labels.io.mlendpoints.content", "code or model content changed"),
    ("mounts", "code or model folders changed"),
    ("env", "environment variables changed"),
    ("nano_cpus", "CPU limit changed"),
    ("mem_limit_mb", "memory limit changed"),
    ("health", "liveness probe changed"),
    ("ready_timeout_s", "readiness budget changed"),
)


def _why(step: Step) -> str | None:
    old, new = step.old_inputs, step.new_inputs
    found = []
    for path, meaning in _INPUT_MEANING:
        if _at(old, path) != _at(new, path):
            found.append(meaning)
    return "; ".join(found) or None


def _at(inputs: Mapping[str, Any], path: str) -> Any:
    head, _, rest = path.partition(".")
    value = inputs.get(head)
    if rest and isinstance(value, Mapping):
        return value.get(rest)
    return None if rest else value


def _is_image(step: Step) -> bool:
    inputs = step.new_inputs or step.old_inputs
    return "requirements" in inputs and ("tag" in inputs or "reference" in inputs)


def _image_why(step: Step) -> str | None:
    """Why an image is built: None when it is not (same tag)."""
    old, new = step.old_inputs, step.new_inputs
    ref = "tag" if "tag" in new else "reference"
    if step.op == "delete" or (old and old.get(ref) == new.get(ref)):
        return None
    if not old:
        return "new image (a new deployment or environment)"
    reasons = []
    if old.get("requirements") != new.get("requirements"):
        reasons.append("environment packages changed")
    if old.get("base_image") != new.get("base_image") or old.get("python_version") != new.get(
        "python_version"
    ):
        reasons.append(f"base image {old.get('base_image')} -> {new.get('base_image')}")
    if old.get("layers") != new.get("layers"):
        reasons.append("code or model changed")
    return "; ".join(reasons) or "the serving runtime changed (mlendpoints' own sources)"


def _instance_changes(step: Step | None) -> dict[str, list[InstanceChange]]:
    """Per endpoint, deployments whose instance count (or cluster max) changes, from the quota demands."""
    if step is None:
        return {}
    before = _counts(step.old_inputs)
    after = _counts(step.new_inputs)
    found: dict[str, list[InstanceChange]] = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key, 0) != after.get(key, 0):
            endpoint, _, deployment = key.partition("/")
            found.setdefault(endpoint, []).append(
                InstanceChange(
                    deployment=deployment or endpoint, before=before.get(key, 0), after=after.get(key, 0)
                )
            )
    return found


def _counts(inputs: Mapping[str, Any]) -> dict[str, int]:
    demands = inputs.get("demands")
    if not isinstance(demands, Mapping):
        return {}
    return {
        str(d.get("name")): int(d.get("instance_count") or 0)
        for d in demands.get("deployments") or []
        if isinstance(d, Mapping)
    }


def _quota(step: Step | None) -> QuotaReport | None:
    if step is None or not isinstance(step.new_inputs.get("demands"), Mapping):
        return None
    try:
        after = quota.QuotaDemands.model_validate(step.new_inputs["demands"])
        limits = quota.QuotaLimits.model_validate(step.new_inputs.get("limits") or {})
        before = (
            quota.QuotaDemands.model_validate(step.old_inputs["demands"])
            if isinstance(step.old_inputs.get("demands"), Mapping)
            else None
        )
    except ValueError:
        return None
    return QuotaReport(
        before=_use(before) if before is not None else None,
        after=_use(after),
        limits=limits.model_dump(),
        violations=[v.message for v in quota.check_quota(after, limits)],
    )


def _use(demands: quota.QuotaDemands) -> QuotaUse:
    terms = quota.all_terms(demands)
    totals = quota.totals(demands)
    dedicated = [t for t in terms if not t.low_priority]
    arithmetic = " + ".join(f"{t.formula} [{t.label}]" for t in dedicated) or "0"
    return QuotaUse(
        total_cores=totals["total_cores"],
        total_memory_gb=totals["total_memory_gb"],
        low_priority_cores=totals["low_priority_cores"],
        arithmetic=f"{arithmetic} = {totals['total_cores']:g} cores",
    )
