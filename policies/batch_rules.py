"""Batch rules: deployments, their endpoints and the compute clusters they run on, as pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from policies.adapters import UNKNOWN, known
from policies.rules import PRODUCTION_PATTERN, Finding, Resource, is_production


def _batch_label(deployment: Resource) -> str:
    endpoint = deployment.get("endpoint_name")
    name = deployment.get("name")
    return f"{endpoint}/{name}" if known(endpoint) and endpoint else str(name)


def _clusters_by_name(resources: Sequence[Resource]) -> tuple[dict[str, Resource], bool]:
    """The stack's compute clusters by name, and whether every cluster name is known yet."""
    clusters = [r for r in resources if r["kind"] == "compute_cluster"]
    return {str(c["name"]): c for c in clusters if known(c["name"])}, all(known(c["name"]) for c in clusters)


def _batch_deployments(resources: Sequence[Resource]) -> list[Resource]:
    return [r for r in resources if r["kind"] == "batch_deployment"]


def batch_instances_within_cluster(resources: Iterable[Resource]) -> list[Finding]:
    """A batch deployment's instance_count is at most its compute cluster's max_instances."""
    resources = list(resources)
    clusters, _ = _clusters_by_name(resources)
    found: list[Finding] = []
    for d in _batch_deployments(resources):
        count, compute = d.get("instance_count"), d.get("compute")
        if not known(count, compute) or not isinstance(count, int):
            continue
        cluster = clusters.get(str(compute))
        # The component also passes its cluster's limit along, for a cluster this stack does not define.
        high = cluster.get("max_instances") if cluster is not None else d.get("cluster_max_instances")
        if not known(high) or not isinstance(high, int) or count <= high:
            continue
        msg = (
            f"batch deployment '{_batch_label(d)}' asks for {count} instances (resources.instance_count) "
            f"but compute cluster '{compute}' has at most {high} (max_instances), so no job can get them: "
            "lower instance_count or raise the cluster's max_instances"
        )
        found.append((d.get("urn"), msg))
    return found


def batch_compute_exists(
    resources: Iterable[Resource], targets: Sequence[str] = ("local", "kubernetes")
) -> list[Finding]:
    """A batch deployment's compute names a compute cluster the stack defines (off Azure, where a
    workspace's existing clusters may be named)."""
    resources = list(resources)
    clusters, all_known = _clusters_by_name(resources)
    if not all_known:
        return []
    found: list[Finding] = []
    for d in _batch_deployments(resources):
        compute, target = d.get("compute"), d.get("target") or "local"
        if not known(compute, target) or target not in targets or not compute or str(compute) in clusters:
            continue
        choices = ", ".join(sorted(clusters)) or "none"
        msg = (
            f"batch deployment '{_batch_label(d)}' runs on compute '{compute}', which is not a compute "
            f"cluster of this stack (clusters: {choices}); on the {target} target jobs run only on the "
            "stack's own clusters"
        )
        found.append((d.get("urn"), msg))
    return found


def batch_default_deployment_exists(resources: Iterable[Resource]) -> list[Finding]:
    """A batch endpoint's default deployment is one of that endpoint's deployments in the stack."""
    resources = list(resources)
    deployed: dict[str, set[str]] = {}
    any_endpoint: set[str] = set()
    unsure: set[Any] = set()
    for d in _batch_deployments(resources):
        endpoint, name = d.get("endpoint_name"), d["name"]
        if not known(name):
            unsure.add(endpoint)
        elif not known(endpoint):
            any_endpoint.add(str(name))
        else:
            deployed.setdefault(str(endpoint), set()).add(str(name))
    found: list[Finding] = []
    for r in resources:
        if r["kind"] != "batch_endpoint" or not known(r["name"]) or unsure & {r["name"], UNKNOWN}:
            continue
        default = r.get("default_deployment")
        have = deployed.get(str(r["name"]), set())
        if not known(default) or not default or str(default) in have | any_endpoint:
            continue
        choices = ", ".join(sorted(have)) or "none"
        msg = (
            f"batch endpoint '{r['name']}' default deployment '{default}' is not one of its deployments "
            f"({choices}); invocations that name no deployment would fail"
        )
        found.append((r.get("urn"), msg))
    return found


def batch_low_priority_in_production(
    resources: Iterable[Resource], production_pattern: str = PRODUCTION_PATTERN
) -> list[Finding]:
    """Production batch deployments run on dedicated clusters: low-priority nodes can vanish mid-job."""
    resources = list(resources)
    clusters, _ = _clusters_by_name(resources)
    found: list[Finding] = []
    for d in _batch_deployments(resources):
        stack = str(d.get("stack", ""))
        cluster = clusters.get(str(d.get("compute")))
        if cluster is None or not is_production(stack, production_pattern):
            continue
        if cluster.get("low_priority") is not True:
            continue
        msg = (
            f"batch deployment '{_batch_label(d)}' on production stack '{stack}' runs on low-priority "
            f"cluster '{cluster['name']}': its nodes can be preempted at any time, and Azure cancels a job "
            "whose whole cluster is preempted; use tier: dedicated"
        )
        found.append((d.get("urn"), msg))
    return found


def _int_setting(deployment: Resource, field: str) -> int | None:
    value = deployment.get(field)
    return value if known(value) and isinstance(value, int) and not isinstance(value, bool) else None


def _number_setting(deployment: Resource, field: str) -> float | None:
    value = deployment.get(field)
    return value if known(value) and isinstance(value, int | float) and not isinstance(value, bool) else None


# Lowest value Azure accepts for each batch setting (error_threshold: -1 means ignore every failure).
_BATCH_MINIMUMS: Final = (
    ("instance_count", "resources.instance_count", 1),
    ("mini_batch_size", "mini_batch_size", 1),
    ("max_concurrency_per_instance", "max_concurrency_per_instance", 1),
    ("max_retries", "retry_settings.max_retries", 0),
    ("error_threshold", "error_threshold", -1),
)
OUTPUT_ACTIONS: Final = ("append_row", "summary_only")


def batch_settings_valid(deployment: Resource) -> list[str]:
    """Batch deployment settings Azure accepts: counts of at least 1, retries of at least 0, a positive
    mini-batch timeout, error_threshold -1 or more, output_action append_row or summary_only."""
    label = f"batch deployment '{_batch_label(deployment)}'"
    found = []
    for field, shown, low in _BATCH_MINIMUMS:
        value = _int_setting(deployment, field)
        if value is not None and value < low:
            hint = " (-1 ignores every failure)" if field == "error_threshold" else ""
            found.append(f"{label} {shown} is {value}; it must be at least {low}{hint}")
    timeout = _number_setting(deployment, "timeout_s")
    if timeout is not None and timeout <= 0:
        found.append(f"{label} retry_settings.timeout is {timeout:g} s; it must be more than 0")
    action = deployment.get("output_action")
    if known(action) and action is not None and action not in OUTPUT_ACTIONS:
        found.append(f"{label} output_action is '{action}'; use one of {', '.join(OUTPUT_ACTIONS)}")
    return found


def batch_retry_settings_in_bounds(
    deployment: Resource, min_timeout_s: float = 1.0, max_timeout_s: float = 86_400.0, max_retries: int = 10
) -> list[str]:
    """A mini-batch timeout between 1 s and a day, and at most 10 retries: a hung run() holds its worker
    for the whole timeout, and every retry reruns the whole mini-batch."""
    label = f"batch deployment '{_batch_label(deployment)}'"
    found = []
    timeout = _number_setting(deployment, "timeout_s")
    if timeout is not None and timeout > 0 and not min_timeout_s <= timeout <= max_timeout_s:
        found.append(
            f"{label} retry_settings.timeout is {timeout:g} s per mini-batch; "
            f"keep it within {min_timeout_s:g} to {max_timeout_s:g} s"
        )
    retries = _int_setting(deployment, "max_retries")
    if retries is not None and retries > max_retries:
        found.append(
            f"{label} retry_settings.max_retries is {retries}; keep it at most {max_retries} "
            "(each retry reruns the whole mini-batch)"
        )
    return found


def production_error_threshold(
    deployment: Resource, production_pattern: str = PRODUCTION_PATTERN
) -> list[str]:
    """Production batch deployments set an error_threshold: with -1 a job whose every file fails still
    succeeds, with no rows."""
    stack = str(deployment.get("stack", ""))
    if not is_production(stack, production_pattern) or _int_setting(deployment, "error_threshold") != -1:
        return []
    return [
        f"batch deployment '{_batch_label(deployment)}' has error_threshold -1 on production stack "
        f"'{stack}': a job whose every file fails still succeeds, with no rows; set the number of failed "
        "files a job may tolerate (0 for none)"
    ]
