"""Instance types of Kubernetes computes: what a kubernetes deployment's `instance_type` names.

On Azure ML an attached Kubernetes cluster defines instance types as custom resources (a name,
`resources` requests/limits, optionally a nodeSelector), and a kubernetesOnlineDeployment picks one
with `instance_type` (learn.microsoft.com/azure/machine-learning/how-to-manage-kubernetes-instance-types).
Here the stack config declares them (`mlendpoints:instance_types`), Azure's `defaultinstancetype`
is built in, and a deployment without its own `resources` gets its instance type's: every target
then sizes its containers or pods, and the quota check counts them, from those resources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from components.azureml_yaml import Document
from components.errors import Problem, Source, problems_from_validation_error
from components.specs import OnlineDeploymentSpec
from components.specs.online import ResourceRequirements

CONFIG_KEY = "instance_types"
# Azure's own definition of the instance type it creates on every attached cluster.
DEFAULT_INSTANCE_TYPES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "defaultinstancetype": {
            "resources": {
                "requests": {"cpu": "100m", "memory": "2Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            }
        }
    }
)


def parse_instance_types(config: Any) -> tuple[dict[str, ResourceRequirements], list[Problem]]:
    """`{name: {resources: {requests, limits}, nodeSelector: {...}}}` (the custom resource's spec) plus
    the built-in defaultinstancetype; problems name `instance_types.<name>...` in the stack config."""
    where = "stack config"
    problems: list[Problem] = []
    declared: dict[str, Any] = dict(DEFAULT_INSTANCE_TYPES)
    if config is not None and not isinstance(config, Mapping):
        message = "must be a mapping of instance type names to {resources: ...}"
        return {}, [Problem(message, CONFIG_KEY, where)]
    declared.update(config or {})
    found: dict[str, ResourceRequirements] = {}
    for name, value in declared.items():
        field = f"{CONFIG_KEY}.{name}"
        if not isinstance(value, Mapping) or not isinstance(value.get("resources"), Mapping):
            problems.append(Problem("must be {resources: {requests: ..., limits: ...}}", field, where))
            continue
        if value.get("nodeSelector") or value.get("node_selector"):
            Source(where, root=(CONFIG_KEY, str(name))).warn(
                ("nodeSelector",),
                "not applied: the local target has one machine, and on Kubernetes the pods are scheduled "
                "by their resources only (label the nodes' pool with the cluster's own tools)",
            )
        unknown = sorted(set(value) - {"resources", "nodeSelector", "node_selector"})
        if unknown:
            message = f"unknown key(s) {', '.join(unknown)}; allowed: resources, nodeSelector"
            problems.append(Problem(message, field, where))
        try:
            found[str(name)] = ResourceRequirements.model_validate(value["resources"])
        except ValidationError as error:
            source = Source(where, root=(CONFIG_KEY, str(name), "resources"))
            problems += problems_from_validation_error(error, ResourceRequirements, source)
    return found, problems


def apply_instance_types(
    documents: Iterable[Document], types: Mapping[str, ResourceRequirements]
) -> list[Document]:
    """Kubernetes deployments without `resources` take their instance type's (when it is declared)."""
    result: list[Document] = []
    for document in documents:
        spec = document.spec
        if (
            isinstance(spec, OnlineDeploymentSpec)
            and spec.kind == "kubernetes"
            and spec.resources is None
            and spec.instance_type is not None
            and spec.instance_type in types
        ):
            sized = spec.model_copy(update={"resources": types[spec.instance_type]})
            document = Document(sized, document.source)
        result.append(document)
    return result
