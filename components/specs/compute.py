"""Compute clusters that run batch jobs."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from components.specs.assets import Identity
from components.specs.base import _READ_ONLY, Spec
from components.specs.fields import (
    MAX_IDLE_SECONDS,
    MAX_NODES,
    ComputeName,
    Count,
    NonNegative,
    TextMap,
    _lower,
    known_vm_size,
    not_below_min_instances,
)


class AmlComputeSpec(Spec):
    """A compute cluster that runs batch jobs (AmlCompute on Azure; workers elsewhere)."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            **dict.fromkeys(("id", "provisioning_state", "created_on"), _READ_ONLY),
            "ssh_public_access_enabled": "SSH access to nodes is not managed by mlendpoints; ignored",
            "ssh_settings": "SSH access to nodes is not managed by mlendpoints (and a password here "
            "would end up in plain state); ignored",
            "network_settings": "virtual network placement is not managed by mlendpoints; ignored",
            "enable_node_public_ip": "node networking is not managed by mlendpoints; ignored",
        }
    )

    type: Annotated[Literal["amlcompute"], BeforeValidator(_lower)] = Field(
        default="amlcompute", description="Compute type."
    )
    name: ComputeName = Field(description="Cluster name: a letter first, then letters, digits, hyphens.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    location: str | None = Field(
        default=None, description="Azure region (Azure target; defaults to the workspace's)."
    )
    size: str = Field(default="Standard_DS3_v2", description="VM size of each node.")
    tier: Annotated[Literal["dedicated", "low_priority"], BeforeValidator(_lower)] = Field(
        default="dedicated", description="VM priority."
    )
    min_instances: Annotated[NonNegative, Field(le=MAX_NODES)] = Field(
        default=0, description=f"Nodes kept running when idle, at most {MAX_NODES}."
    )
    max_instances: Annotated[Count, Field(le=MAX_NODES)] = Field(
        default=1, description=f"Most nodes, at most {MAX_NODES} (Azure's largest AmlCompute cluster)."
    )
    idle_time_before_scale_down: Annotated[NonNegative, Field(le=MAX_IDLE_SECONDS)] = Field(
        default=120,
        description=f"Idle seconds before a node is released, at most {MAX_IDLE_SECONDS} (a week).",
    )
    identity: Identity | None = Field(default=None, description="Managed identity (Azure target).")

    @field_validator("size")
    @classmethod
    def _known_size(cls, value: str) -> str:
        return known_vm_size(value)

    @field_validator("max_instances")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        return not_below_min_instances(value, info)
