"""Quota math for online deployments and compute clusters, and the QuotaCheck component that enforces it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from components import quantities, skus
from components.errors import Problem, SpecError

if TYPE_CHECKING:
    from components.specs import OnlineDeploymentSpec
    from components.stack_config import StackSpec

Target = Literal["azure", "local", "kubernetes"]

# Azure ML keeps 20 % extra quota per managed online deployment for OS upgrades and VM recovery:
# ceil(1.2 * instance_count) * cores; 10 Standard_DS3_v2 (4 cores) need 48 cores. Source:
# https://learn.microsoft.com/azure/machine-learning/how-to-manage-quotas#virtual-machine-quota-allocation-for-deployment
# SKUs in the "Skip 20% Reservation" column are exempt (the big A100/H100/ND GPU sizes, not small ones):
# https://learn.microsoft.com/azure/machine-learning/reference-managed-online-endpoints-vm-sku-list
RESERVE_NUMERATOR = 6  # 1.2 == 6/5, kept in integers so ceil(1.2 * 10) is 12, not 13
RESERVE_DENOMINATOR = 5
# Messages print the real multiplication sign, as in Azure's docs (hence the RUF001 exemptions).


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PreviousShape(_Frozen):
    """What a deployment runs today; during an update old and new instances are alive together."""

    instance_type: str
    instance_count: int = Field(ge=0)


class DeploymentDemand(_Frozen):
    name: str
    instance_type: str
    instance_count: int = Field(ge=0)
    target: Target = "azure"
    previous: PreviousShape | None = None


class ClusterDemand(_Frozen):
    name: str
    size: str
    max_instances: int = Field(ge=0)
    low_priority: bool = False


class WorkloadDemand(_Frozen):
    """A container workload that states its own CPU and memory (raw Kubernetes or Docker resources)."""

    name: str
    cores: float = Field(ge=0)
    memory_gb: float = Field(ge=0)


class QuotaDemands(_Frozen):
    deployments: tuple[DeploymentDemand, ...] = ()
    clusters: tuple[ClusterDemand, ...] = ()
    workloads: tuple[WorkloadDemand, ...] = ()


class QuotaLimits(_Frozen):
    """What is available to this stack. On Azure: limit minus what other workloads already use."""

    family_cores: dict[str, int] = Field(default_factory=dict)
    total_cores: float | None = None
    total_memory_gb: float | None = None
    low_priority_cores: int | None = None


@dataclass(frozen=True)
class Term:
    """One deployment's or cluster's share, with the arithmetic that produced it."""

    label: str
    family: str
    cores: float
    memory_gb: float
    formula: str
    memory_formula: str
    low_priority: bool = False


@dataclass(frozen=True)
class QuotaViolation:
    scope: str
    required: float
    available: float | None
    terms: tuple[Term, ...]
    message: str


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def reserved_instances(instance_count: int) -> int:
    return -(-instance_count * RESERVE_NUMERATOR // RESERVE_DENOMINATOR)


def _sku(name: str, field: str) -> skus.Sku:
    sku = skus.find_sku(name)
    if sku is None:
        near = ", ".join(skus.nearest_skus(name))
        raise SpecError.single(
            f"unknown instance type {name!r}: use a size listed in components/skus.py (closest: {near})",
            field=field,
        )
    return sku


def deployment_terms(demand: DeploymentDemand) -> list[Term]:
    """The deployment's own term plus, during an update, the term of the instances it replaces."""
    shapes = [(demand.name, demand.instance_type, demand.instance_count)]
    if demand.previous is not None:
        prev = demand.previous
        shapes.append((f"{demand.name} (previous)", prev.instance_type, prev.instance_count))
    terms = []
    for label, instance_type, count in shapes:
        sku = _sku(instance_type, f"{demand.name}.instance_type")
        if demand.target == "azure" and not sku.reserve_exempt:
            instances = reserved_instances(count)
            formula = f"ceil(1.2×{count})={instances} × {sku.cores}"  # noqa: RUF001
        else:
            instances = count
            formula = f"{count} × {sku.cores}"  # noqa: RUF001
        memory = f"{instances} × {_num(sku.memory_gb)}"  # noqa: RUF001
        terms.append(
            Term(label, sku.family, instances * sku.cores, instances * sku.memory_gb, formula, memory)
        )
    return terms


def cluster_term(demand: ClusterDemand) -> Term:
    sku = _sku(demand.size, f"{demand.name}.size")
    n = demand.max_instances
    return Term(
        demand.name,
        sku.family,
        n * sku.cores,
        n * sku.memory_gb,
        f"max {n} × {sku.cores}",  # noqa: RUF001
        f"max {n} × {_num(sku.memory_gb)}",  # noqa: RUF001
        low_priority=demand.low_priority,
    )


def workload_term(demand: WorkloadDemand) -> Term:
    return Term(demand.name, "", demand.cores, demand.memory_gb, _num(demand.cores), _num(demand.memory_gb))


def all_terms(demands: QuotaDemands) -> list[Term]:
    terms = [t for d in demands.deployments for t in deployment_terms(d)]
    terms += [cluster_term(c) for c in demands.clusters]
    return terms + [workload_term(w) for w in demands.workloads]


def _arith(terms: Sequence[Term], attr: str = "formula") -> str:
    if len(terms) == 1:
        return str(getattr(terms[0], attr))
    return " + ".join(f"{getattr(t, attr)} [{t.label}]" for t in terms)


def cores_by_family(terms: Iterable[Term]) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(int)
    for t in terms:
        if t.family and not t.low_priority:
            sums[t.family] += t.cores
    return dict(sorted(sums.items()))


def totals(demands: QuotaDemands) -> dict[str, Any]:
    """The real requirement of a stack, for outputs and reports."""
    terms = all_terms(demands)
    dedicated = [t for t in terms if not t.low_priority]
    return {
        "cores_by_family": cores_by_family(terms),
        "total_cores": sum(t.cores for t in dedicated),
        "total_memory_gb": sum(t.memory_gb for t in dedicated),
        "low_priority_cores": sum(t.cores for t in terms if t.low_priority),
    }


def _violation(
    scope: str, what: str, terms: Sequence[Term], available: float, attr: str
) -> QuotaViolation | None:
    value_attr = "memory_gb" if attr == "memory_formula" else "cores"
    required = sum(getattr(t, value_attr) for t in terms)
    if required <= available:
        return None
    message = f"needs {_num(required)} {what}: {_arith(terms, attr)}; available {_num(available)}"
    return QuotaViolation(scope, required, available, tuple(terms), message)


def check_quota(demands: QuotaDemands, limits: QuotaLimits) -> list[QuotaViolation]:
    """Every limit the demands exceed, each with the arithmetic that shows why."""
    terms = all_terms(demands)
    dedicated = [t for t in terms if not t.low_priority]
    by_family: dict[str, list[Term]] = defaultdict(list)
    for t in dedicated:
        if t.family:
            by_family[t.family].append(t)
    found = [
        _violation(
            f"family:{family}", f"cores of {family}", fam_terms, limits.family_cores[family], "formula"
        )
        for family, fam_terms in sorted(by_family.items())
        if family in limits.family_cores
    ]
    if limits.total_cores is not None and dedicated:
        found.append(_violation("total_cores", "cores in total", dedicated, limits.total_cores, "formula"))
    if limits.total_memory_gb is not None and dedicated:
        found.append(
            _violation("memory", "GB of memory", dedicated, limits.total_memory_gb, "memory_formula")
        )
    low = [t for t in terms if t.low_priority]
    if limits.low_priority_cores is not None and low:
        found.append(
            _violation("low_priority", "low-priority cores", low, limits.low_priority_cores, "formula")
        )
    return [v for v in found if v is not None]


def _instances(spec: OnlineDeploymentSpec) -> int:
    # An autoscaled deployment can reach max_instances, so that is what it must fit.
    scale = spec.scale_settings
    autoscaled = scale.max_instances if scale.type == "target_utilization" else 0
    return max(spec.effective_instance_count, autoscaled)


def _resources_size(spec: OnlineDeploymentSpec) -> tuple[float, float] | None:
    """(cores, GB) of one instance from a Kubernetes deployment's `resources`; None without them."""
    resources = spec.resources
    if resources is None or not (resources.limits or resources.requests):
        return None
    cpu, memory = resources.bound()
    cores = quantities.cpu_cores(cpu) if cpu else skus.DEFAULT_CORES
    memory_gb = quantities.memory_mb(memory) / 1024 if memory else skus.DEFAULT_MEMORY_GB
    return cores, memory_gb


def demands_from_stack(
    stack: StackSpec, target: Target, previous: Mapping[str, PreviousShape] | None = None
) -> QuotaDemands:
    """The demands of a validated stack; `previous` maps "endpoint/deployment" to what runs today."""
    previous = previous or {}
    deployments = []
    workloads = []
    for group in stack.online:
        for spec in group.deployments:
            # Azure kubernetes-kind deployments run on an attached cluster, outside the VM-family quota.
            if spec.instance_type is None or (target == "azure" and spec.kind == "kubernetes"):
                continue
            label = f"{group.endpoint.name}/{spec.name}"
            sized = _resources_size(spec)
            if sized is not None and target != "azure":
                # `resources` size each container (limits, else requests), as the target applies them.
                count = _instances(spec)
                workloads.append(
                    WorkloadDemand(name=label, cores=count * sized[0], memory_gb=count * sized[1])
                )
                continue
            if skus.find_sku(spec.instance_type) is None:
                # A Kubernetes instance type (defaultinstancetype; managed deployments only take known
                # sizes): each instance gets the default size, as the local target gives it.
                count = _instances(spec)
                workloads.append(
                    WorkloadDemand(
                        name=label, cores=count * skus.DEFAULT_CORES, memory_gb=count * skus.DEFAULT_MEMORY_GB
                    )
                )
                continue
            deployments.append(
                DeploymentDemand(
                    name=label,
                    instance_type=spec.instance_type,
                    instance_count=_instances(spec),
                    target=target,
                    previous=previous.get(label),
                )
            )
    # Azure keeps a separate quota for low-priority cores; on this machine or a Kubernetes cluster a
    # low-priority node takes the same cores as any other, so it counts in the totals.
    clusters = [
        ClusterDemand(
            name=c.name,
            size=c.size,
            max_instances=c.max_instances,
            low_priority=c.tier == "low_priority" and target == "azure",
        )
        for c in stack.computes
    ]
    return QuotaDemands(deployments=tuple(deployments), clusters=tuple(clusters), workloads=tuple(workloads))


class QuotaCheckArgs(_Frozen):
    demands: QuotaDemands
    limits: QuotaLimits


class QuotaCheck(pulumi.ComponentResource):
    """Fails the program, before it registers anything, when the stack does not fit its quota.

    Create it first and pass it in ``depends_on`` of every endpoint, deployment and cluster: a
    stack that does not fit then stops at preview with the arithmetic, and nothing is created.
    """

    cores_by_family: pulumi.Output[dict[str, float]]
    total_cores: pulumi.Output[float]
    total_memory_gb: pulumi.Output[float]
    low_priority_cores: pulumi.Output[float]

    def __init__(self, name: str, args: QuotaCheckArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # Checked before super().__init__ so a failing stack registers not even this component.
        violations = check_quota(args.demands, args.limits)
        if violations:
            hint = "lower instance_count or max_instances, pick a smaller size, or raise the quota"
            raise SpecError(Problem(f"{v.message} ({hint})", "quota") for v in violations)
        # The inputs go into state so reviews (and the policy pack) can see what was checked.
        props = args.model_dump(mode="json")
        super().__init__("mlendpoints:quota:QuotaCheck", name, props, opts)
        computed = totals(args.demands)
        self.cores_by_family = pulumi.Output.from_input(computed["cores_by_family"])
        self.total_cores = pulumi.Output.from_input(computed["total_cores"])
        self.total_memory_gb = pulumi.Output.from_input(computed["total_memory_gb"])
        self.low_priority_cores = pulumi.Output.from_input(computed["low_priority_cores"])
        self.register_outputs(computed)
