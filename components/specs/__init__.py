"""Validated specs (pydantic, Azure ML defaults) for endpoints, deployments, batch, compute, assets.

`fields` (field types), `base` (Spec), `assets`, `online`, `batch`, `compute`, `parsing` (parse_spec).
"""

from components.specs.assets import EnvironmentSpec, ModelSpec
from components.specs.base import Spec
from components.specs.batch import (
    BatchDeploymentSpec,
    BatchEndpointSpec,
    ModelBatchDeploymentSpec,
    PipelineComponentBatchDeploymentSpec,
)
from components.specs.compute import AmlComputeSpec
from components.specs.online import OnlineDeploymentSpec, OnlineEndpointSpec
from components.specs.parsing import AnySpec, parse_spec

# What the rest of the repo imports from `components.specs`.
__all__ = [
    "AmlComputeSpec",
    "AnySpec",
    "BatchDeploymentSpec",
    "BatchEndpointSpec",
    "EnvironmentSpec",
    "ModelBatchDeploymentSpec",
    "ModelSpec",
    "OnlineDeploymentSpec",
    "OnlineEndpointSpec",
    "PipelineComponentBatchDeploymentSpec",
    "Spec",
    "parse_spec",
]
