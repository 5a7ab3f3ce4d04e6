"""Policy rules as pure functions over the normalised dicts that policies.adapters produces."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, cast

from components.errors import SpecError
from components.quota import (
    ClusterDemand,
    DeploymentDemand,
    PreviousShape,
    QuotaDemands,
    QuotaLimits,
    Target,
    WorkloadDemand,
    check_quota,
)
from policies.adapters import UNKNOWN, known

# Resource rules return messages; stack rules return (urn, message) so each finding lands on its resource.
Finding = tuple[str | None, str]
Resource = Mapping[str, Any]

PRODUCTION_PATTERN: Final = r"^(prod|production)([-_.].*)?$"
# Azure ML endpoint and deployment names: a letter, then letters, digits or hyphens, 3 to 32 in all.
AZURE_NAME_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9-]{2,31}$"
# AmlCompute names are 2 to 16 characters of letters, digits and hyphens.
CLUSTER_NAME_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9-]{1,15}$"
AUTH_MODES: Final = ("key", "aml_token", "aad_token")
TARGETS: Final = ("azure", "local", "kubernetes")


def _weights(value: Any) -> dict[str, int] | None:
    if not known(value) or not isinstance(value, Mapping):
        return None
    if not all(known(v) and isinstance(v, int) for v in value.values()):
        return None
    return dict(value)


def traffic_sums_to_100(endpoint: Resource, allow_empty: bool = True) -> list[str]:
    """An endpoint's live traffic weights add up to 100 (an endpoint with no traffic yet may be empty)."""
    traffic = _weights(endpoint.get("traffic"))
    if traffic is None:
        return []
    total = sum(traffic.values())
    bad = [f"{k}={v}" for k, v in traffic.items() if not 0 <= v <= 100]
    if not bad and (total == 100 or (allow_empty and total == 0)):
        return []
    shown = ", ".join(f"{k}={v}" for k, v in sorted(traffic.items())) or "nothing"
    detail = f"; weights must be 0 to 100, not {', '.join(bad)}" if bad else ""
    return [f"endpoint '{endpoint['name']}' sends {total}% of its traffic ({shown}); it must be 100%{detail}"]


def mirror_at_most_50(endpoint: Resource, max_percent: int = 50) -> list[str]:
    """Mirror traffic goes to one deployment, at most 50 %, and never to the one taking 100 % live."""
    mirror = _weights(endpoint.get("mirror_traffic"))
    if not mirror:
        return []
    found = []
    targets = sorted(k for k, v in mirror.items() if v)
    if len(targets) > 1:
        found.append(f"endpoint '{endpoint['name']}' mirrors to {len(targets)} deployments; Azure allows one")
    found += [
        f"endpoint '{endpoint['name']}' mirrors {v}% to '{k}'; the most allowed is {max_percent}%"
        for k, v in sorted(mirror.items())
        if v > max_percent or v < 0
    ]
    traffic = _weights(endpoint.get("traffic")) or {}
    found += [
        f"endpoint '{endpoint['name']}' mirrors to '{k}', which already takes 100% of live traffic"
        for k in targets
        if traffic.get(k) == 100
    ]
    return found


def names_only_existing_deployments(resources: Iterable[Resource]) -> list[Finding]:
    """Traffic and mirror traffic name only deployments of that endpoint that the stack defines."""
    resources = list(resources)
    deployed: dict[str, set[str]] = {}
    # Names not known during preview (outputs of other resources) must not produce false findings.
    any_endpoint: set[str] = set()
    unsure: set[Any] = set()
    for r in resources:
        if r["kind"] != "online_deployment":
            continue
        endpoint, name = r.get("endpoint_name"), r["name"]
        if not known(name):
            unsure.add(endpoint)
        elif not known(endpoint):
            any_endpoint.add(str(name))
        else:
            deployed.setdefault(str(endpoint), set()).add(str(name))
    found: list[Finding] = []
    for r in resources:
        if r["kind"] != "online_endpoint" or not known(r["name"]) or unsure & {r["name"], UNKNOWN}:
            continue
        have = deployed.get(str(r["name"]), set())
        for field in ("traffic", "mirror_traffic"):
            weights = r.get(field)
            if not known(weights) or not isinstance(weights, Mapping):
                continue
            for missing in sorted(set(weights) - have - any_endpoint):
                choices = ", ".join(sorted(have)) or "none"
                msg = (
                    f"endpoint '{r['name']}' {field} names '{missing}', "
                    f"which is not one of its deployments ({choices})"
                )
                found.append((r.get("urn"), msg))
    return found


def auth_enabled(endpoint: Resource, allowed_modes: Sequence[str] = AUTH_MODES) -> list[str]:
    """Every endpoint requires a key or a token; anonymous endpoints are not allowed."""
    mode = endpoint.get("auth_mode")
    if not known(mode) or mode in allowed_modes:
        return []
    shown = f"auth_mode '{mode}'" if mode else "no auth_mode"
    return [f"endpoint '{endpoint['name']}' has {shown}; use one of {', '.join(allowed_modes)}"]


def valid_names(
    resource: Resource, pattern: str = AZURE_NAME_PATTERN, cluster_pattern: str = CLUSTER_NAME_PATTERN
) -> list[str]:
    """Endpoint, deployment and cluster names follow Azure's naming rules (so one spec deploys anywhere)."""
    name = resource.get("name")
    if not known(name) or not isinstance(name, str):
        return []
    is_cluster = resource["kind"] == "compute_cluster"
    rule = cluster_pattern if is_cluster else pattern
    if re.fullmatch(rule, name):
        return []
    what = resource["kind"].replace("_", " ")
    hint = "2 to 16" if is_cluster else "3 to 32"
    return [
        f"{what} name '{name}' is invalid: start with a letter, "
        f"then letters, digits or '-', {hint} characters"
    ]


def is_production(stack: str, production_pattern: str = PRODUCTION_PATTERN) -> bool:
    return bool(stack) and re.fullmatch(production_pattern, stack) is not None


def production_min_instances(
    deployment: Resource, min_instances: int = 3, production_pattern: str = PRODUCTION_PATTERN
) -> list[str]:
    """Production deployments run at least 3 instances, so an update or a lost VM leaves them serving."""
    if not is_production(str(deployment.get("stack", "")), production_pattern):
        return []
    return _too_few(deployment, min_instances)


def nonproduction_min_instances(
    deployment: Resource, min_instances: int = 3, production_pattern: str = PRODUCTION_PATTERN
) -> list[str]:
    """Outside production fewer than 3 instances is allowed, but an update or a lost VM interrupts service."""
    if is_production(str(deployment.get("stack", "")), production_pattern):
        return []
    return _too_few(deployment, min_instances)


def _too_few(deployment: Resource, min_instances: int) -> list[str]:
    count = deployment.get("instance_count")
    if not known(count) or count is None or count >= min_instances:
        return []
    return [
        f"deployment '{deployment['name']}' runs {count} instance(s) on stack "
        f"'{deployment.get('stack', '')}'; use at least {min_instances}"
    ]


_DIGEST = re.compile(r"(^|@)sha256:[0-9a-f]{64}$")


def image_pin_problem(
    ref: Any, forbidden_tags: Sequence[str] = ("latest",), tag_pattern: str = ""
) -> str | None:
    """Why an image or environment reference is not pinned, or None when it is."""
    if not known(ref) or not ref or not isinstance(ref, str):
        return None
    if _DIGEST.search(ref):
        return None
    lowered = ref.lower()
    if lowered.startswith("azureml:") or "/environments/" in lowered:
        # Azure ML environments: name:version and .../versions/N are immutable; labels move.
        if "@latest" in lowered or "/labels/" in lowered:
            return f"environment '{ref}' follows a label; pin a version"
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image '{ref}' has no tag (Docker reads it as latest); pin a digest or a content tag"
    tag = last.rsplit(":", 1)[1]
    if tag.lower() in {t.lower() for t in forbidden_tags}:
        return f"image '{ref}' uses the moving tag '{tag}'; pin a digest or a content tag"
    if tag_pattern and not re.fullmatch(tag_pattern, tag):
        return f"image '{ref}' tag '{tag}' does not match the content-tag pattern {tag_pattern}"
    return None


def images_pinned(
    resource: Resource, forbidden_tags: Sequence[str] = ("latest",), tag_pattern: str = ""
) -> list[str]:
    """Images are pinned by digest or content tag, so a redeploy runs exactly what was reviewed."""
    refs = [resource.get("image")]
    containers = resource.get("containers")
    if known(containers) and isinstance(containers, list):
        refs += [c.get("image") for c in containers]
    problems = (image_pin_problem(ref, forbidden_tags, tag_pattern) for ref in refs)
    return [p for p in problems if p]


def request_timeout_in_bounds(deployment: Resource, min_ms: int = 1000, max_ms: int = 180_000) -> list[str]:
    """Request timeout between 1 s and Azure's 180 s maximum for managed online deployments."""
    timeout = deployment.get("request_timeout_ms")
    if not known(timeout) or timeout is None or min_ms <= timeout <= max_ms:
        return []
    return [
        f"deployment '{deployment['name']}' request timeout is {timeout} ms; "
        f"keep it within {min_ms} to {max_ms} ms"
    ]


def _probe_problems(
    label: str, probe: Mapping[str, Any], kind: str, bounds: Mapping[str, tuple[float, float]]
) -> list[str]:
    found = []
    for field, (low, high) in bounds.items():
        value = probe.get(field)
        if known(value) and value is not None and not low <= value <= high:
            found.append(f"{label} {kind} probe {field} is {value}; keep it within {low:g} to {high:g}")
    timeout, period = probe.get("timeout_s"), probe.get("period_s")
    if known(timeout, period) and timeout is not None and period is not None and timeout > period:
        found.append(f"{label} {kind} probe timeout_s {timeout} exceeds its period_s {period}")
    success = probe.get("success_threshold")
    if kind == "liveness" and known(success) and success not in (None, 1):
        found.append(
            f"{label} liveness probe success_threshold must be 1 (Kubernetes rejects others), not {success}"
        )
    return found


def probe_settings_in_bounds(
    resource: Resource,
    max_initial_delay_s: float = 600.0,
    max_period_s: float = 300.0,
    max_timeout_s: float = 60.0,
    max_failure_threshold: int = 100,
) -> list[str]:
    """Probes that neither kill a slow-starting model nor leave a dead one in service for long."""
    bounds = {
        "initial_delay_s": (0, max_initial_delay_s),
        "period_s": (1, max_period_s),
        "timeout_s": (1, max_timeout_s),
        "failure_threshold": (1, max_failure_threshold),
        "success_threshold": (1, max_failure_threshold),
    }
    holders = [(f"deployment '{resource['name']}'", resource.get("probes"))]
    containers = resource.get("containers")
    if known(containers) and isinstance(containers, list):
        holders += [
            (f"container '{c.get('name')}' of '{resource['name']}'", c.get("probes")) for c in containers
        ]
    found = []
    for label, probes in holders:
        if not known(probes) or not isinstance(probes, Mapping):
            continue
        for kind, probe in probes.items():
            if known(probe) and isinstance(probe, Mapping):
                found += _probe_problems(label, probe, kind, bounds)
    return found


def k8s_resource_limits(workload: Resource) -> list[str]:
    """Every container of a Kubernetes workload sets CPU and memory limits."""
    containers = workload.get("containers")
    if not known(containers) or not isinstance(containers, list):
        return []
    found = []
    for c in containers:
        missing = [k for k in ("cpu", "memory") if known(c.get(f"{k}_limit")) and c.get(f"{k}_limit") is None]
        if missing:
            found.append(
                f"container '{c.get('name')}' of '{workload['name']}' has no {' or '.join(missing)} limit; "
                "set resources.limits"
            )
    return found


def is_private(stack: str, private: bool = False, private_stack_pattern: str = "") -> bool:
    return private or (
        bool(private_stack_pattern) and re.fullmatch(private_stack_pattern, stack or "") is not None
    )


_LOOPBACK = ("127.", "::1", "localhost")


def public_exposure(resource: Resource) -> str | None:
    """How a resource is reachable from outside, or None."""
    kind, name = resource["kind"], resource["name"]
    if kind in ("online_endpoint", "batch_endpoint"):
        access = resource.get("public_network_access")
        return f"endpoint '{name}' has public network access enabled" if access == "enabled" else None
    if kind == "compute_cluster" and resource.get("public_ip") is True:
        return f"compute cluster '{name}' gives its nodes public IPs"
    if kind == "k8s_service" and resource.get("service_type") in ("LoadBalancer", "NodePort"):
        return f"service '{name}' is of type {resource['service_type']}"
    published = resource.get("published")
    if kind == "container" and known(published) and isinstance(published, list):
        open_ports = [
            p for p in published if known(p.get("ip")) and not str(p.get("ip")).startswith(_LOOPBACK)
        ]
        if open_ports:
            shown = ", ".join(f"{p['ip']}:{p['external']}" for p in open_ports)
            return f"container '{name}' publishes {shown} beyond loopback"
    return None


def no_public_network_access(
    resource: Resource, private: bool = False, private_stack_pattern: str = ""
) -> list[str]:
    """On stacks marked private nothing is reachable from outside the network."""
    if not is_private(str(resource.get("stack", "")), private, private_stack_pattern):
        return []
    exposure = public_exposure(resource)
    return [f"{exposure}, but stack '{resource.get('stack', '')}' is private"] if exposure else []


def _stack_target(resources: Sequence[Resource], fallback: str) -> str:
    types = {str(r.get("type", "")) for r in resources}
    for prefix, target in (("azure-native:", "azure"), ("kubernetes:", "kubernetes"), ("docker:", "local")):
        if any(t.startswith(prefix) for t in types):
            return target
    return fallback


def _target(value: Any, fallback: str) -> Target:
    chosen = value if value in TARGETS else fallback
    return cast(Target, chosen if chosen in TARGETS else "local")


def quota_demands(resources: Iterable[Resource], target: str = "", fallback: str = "local") -> QuotaDemands:
    """What the stack asks of its quota; raw workloads our components own are counted via the component."""
    resources = list(resources)
    stack_target = target or _stack_target(resources, fallback)
    deployments, clusters, workloads = [], [], []
    for r in resources:
        kind = r["kind"]
        if kind == "online_deployment" and r.get("target") != "attached":
            if not known(r.get("instance_type"), r.get("instance_count")) or not r.get("instance_type"):
                continue
            prev_type, prev_count = r.get("previous_instance_type"), r.get("previous_instance_count")
            previous = (
                PreviousShape(instance_type=prev_type, instance_count=prev_count)
                if prev_type and prev_count
                else None
            )
            deployments.append(
                DeploymentDemand(
                    name=str(r["name"]),
                    instance_type=r["instance_type"],
                    instance_count=r["instance_count"] or 0,
                    target=_target(r.get("target"), stack_target),
                    previous=previous,
                )
            )
        elif kind == "compute_cluster" and known(r.get("size"), r.get("max_instances")) and r.get("size"):
            # Only Azure has a separate low-priority quota; elsewhere every node takes this machine's
            # (or namespace's) cores whatever its tier.
            on_azure = _target(r.get("target"), stack_target) == "azure"
            clusters.append(
                ClusterDemand(
                    name=str(r["name"]),
                    size=r["size"],
                    max_instances=r["max_instances"] or 0,
                    low_priority=on_azure and r.get("low_priority") is True,
                )
            )
        elif kind in ("k8s_workload", "container") and not r.get("owned"):
            workloads += _workload_demands(r)
    return QuotaDemands(deployments=tuple(deployments), clusters=tuple(clusters), workloads=tuple(workloads))


def _workload_demands(r: Resource) -> list[WorkloadDemand]:
    if r["kind"] == "container":
        cores, memory = r.get("cpus"), r.get("memory_gb")
        if known(cores, memory) and (cores or memory):
            return [WorkloadDemand(name=str(r["name"]), cores=cores or 0, memory_gb=memory or 0)]
        return []
    replicas, containers = r.get("replicas"), r.get("containers")
    if not known(replicas, containers) or not isinstance(containers, list):
        return []
    cores = sum(c.get("cpu_limit") or 0 for c in containers if known(c.get("cpu_limit")))
    memory = sum(c.get("memory_limit") or 0 for c in containers if known(c.get("memory_limit")))
    n = replicas or 0
    return (
        [WorkloadDemand(name=f"{r['name']} (replicas {n})", cores=cores * n, memory_gb=memory * n)]
        if cores or memory
        else []
    )


LIMIT_KEYS: Final = ("family_cores", "total_cores", "total_memory_gb", "low_priority_cores")


def quota_limits(
    config: Mapping[str, Any], quota_checks: Sequence[Mapping[str, Any]] = ()
) -> QuotaLimits | None:
    """Limits from the policy config, else from a QuotaCheck in the stack, else None."""
    chosen = {k: config[k] for k in LIMIT_KEYS if config.get(k) is not None}
    if not chosen:
        for check in quota_checks:
            limits = check.get("limits")
            if known(limits) and isinstance(limits, Mapping):
                chosen = {
                    k: limits[k] for k in LIMIT_KEYS if known(limits.get(k)) and limits.get(k) is not None
                }
                break
    if not chosen:
        return None
    if "family_cores" in chosen:
        chosen["family_cores"] = {str(k): int(v) for k, v in dict(chosen["family_cores"]).items()}
    if "low_priority_cores" in chosen:
        chosen["low_priority_cores"] = int(chosen["low_priority_cores"])
    return QuotaLimits(**chosen)


def quota_fits(resources: Iterable[Resource], limits: QuotaLimits, target: str = "") -> list[Finding]:
    """The stack fits its quota: Azure's reserve-inclusive cores per family, or machine/namespace totals."""
    try:
        # Per-family limits only exist on Azure, so they say which target a bare stack is for.
        fallback = "azure" if limits.family_cores else "local"
        violations = check_quota(quota_demands(resources, target, fallback), limits)
    except SpecError as err:
        return [(None, str(err))]
    return [(None, v.message) for v in violations]
