"""The mlendpoints Pulumi program: stack config -> validated specs -> components -> exports."""

import os
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pydantic

from components.asset_registry import build_registry
from components.asset_versions import AssetRegistry, AssetRegistryArgs, registered_assets
from components.batch import BatchEndpoint, BatchEndpointArgs, ComputeCluster, ComputeClusterArgs
from components.datastores import resolve_datastores
from components.errors import SpecError
from components.online import OnlineEndpoint, OnlineEndpointArgs
from components.pipeline_plans import plan_pipeline
from components.quota import QuotaCheck, QuotaCheckArgs, QuotaLimits, demands_from_stack
from components.specs import ModelBatchDeploymentSpec, PipelineComponentBatchDeploymentSpec
from components.stack_config import load_stack_config
from components.targets.kubernetes.target import KubernetesTarget
from components.targets.local.target import LocalTarget

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICE_TYPES = ("NodePort", "LoadBalancer")
# Targets a stack deploys to (components.validate also knows `azure`, to check files against its rules).
DEPLOYABLE_TARGETS = ("local", "kubernetes")


def kubernetes_target(config: pulumi.Config) -> KubernetesTarget:
    """`mlendpoints:kubernetes`: kubeconfig, context, registry, node_address, service_type,
    router_replicas; scripts/env gives the defaults for the cluster `make test` starts."""
    settings = config.get_object("kubernetes") or {}
    if not isinstance(settings, dict):
        raise SpecError.single("must be a mapping", field="kubernetes", file="stack config")
    kubeconfig = settings.get("kubeconfig") or os.environ.get("KUBECONFIG")
    registry = settings.get("registry") or os.environ.get("MLENDPOINTS_REGISTRY")
    node_address = settings.get("node_address") or os.environ.get("MLENDPOINTS_NODE_ADDRESS")
    missing = [
        name
        for name, value in (
            ("kubeconfig", kubeconfig),
            ("registry", registry),
            ("node_address", node_address),
        )
        if not value
    ]
    if missing:
        raise SpecError.single(
            f"the kubernetes target needs {', '.join(missing)}: set mlendpoints:kubernetes.<key> in the "
            "stack config, or start the project's cluster (scripts/cluster up) and `source scripts/env`",
            field="kubernetes",
            file="stack config",
        )
    service_type = str(settings.get("service_type") or "NodePort")
    if service_type not in SERVICE_TYPES:
        raise SpecError.single(
            f"must be one of {', '.join(SERVICE_TYPES)} (got {service_type!r}): how callers reach the "
            "router from outside the cluster",
            field="kubernetes.service_type",
            file="stack config",
        )
    provider = k8s.Provider(
        "kubernetes",
        # Client certificates: a secret, never plain state.
        kubeconfig=pulumi.Output.secret(
            Path(str(kubeconfig)).read_text() if Path(str(kubeconfig)).is_file() else str(kubeconfig)
        ),
        context=settings.get("context"),
        # Traffic changes rewrite the router's ConfigMap in place (its pods reload it), never replace it.
        enable_config_map_mutable=True,
    )
    return KubernetesTarget(
        registry=str(registry),
        node_address=str(node_address),
        provider=provider,
        service_type=service_type,
        router_replicas=int(settings.get("router_replicas") or 1),
        kubeconfig=str(kubeconfig) if Path(str(kubeconfig)).is_file() else None,
        context=settings.get("context"),
    )


def main() -> None:
    config = pulumi.Config("mlendpoints")
    target = config.get("target") or "local"
    if target not in DEPLOYABLE_TARGETS:
        # `azure` is a target the validator knows (Azure's own rules), not one a stack deploys to yet:
        # without this, the stack would fall through to local Docker.
        raise SpecError.single(
            f"this stack cannot deploy to target {target!r}: it deploys to "
            f"{' or '.join(map(repr, DEPLOYABLE_TARGETS))}; the Azure ML target is not built yet "
            "(`python -m components.validate --target azure FILES` checks files against Azure's rules)",
            field="target",
            file="stack config",
        )
    if target == "kubernetes" and (config.get("router_ports") or config.get("router_port") is not None):
        pulumi.log.warn(
            "mlendpoints:router_port(s) set on the kubernetes target: ignored; the cluster gives the "
            "router's NodePort (or the load balancer port 8080), `scripts/mle show` prints the scoring URI"
        )
    stack = load_stack_config(
        config.get_object("serving"),
        base_dir=PROJECT_ROOT,
        target=target,
        instance_types=config.get_object("instance_types"),
    )
    # The target's own settings are checked before any resource is registered.
    kubernetes = kubernetes_target(config) if target == "kubernetes" else None
    assets = registered_assets(stack.documents)
    # A registered version whose content changed fails the preview before anything else is applied.
    registry = AssetRegistry("assets", AssetRegistryArgs(assets)) if assets else None
    quota = QuotaCheck(
        "quota",
        QuotaCheckArgs(
            demands=demands_from_stack(stack, target),
            limits=QuotaLimits(**(config.get_object("quota") or {})),
        ),
        pulumi.ResourceOptions(depends_on=[registry] if registry else []),
    )
    if registry is not None:
        pulumi.export("assets", registry.registered)
        # Registered data assets, for `mle batch invoke --input azureml:<name>@latest`.
        pulumi.export("assets.data", registry.data)
    cache = Path(os.environ.get("MLENDPOINTS_CACHE", Path.home() / ".cache" / "mlendpoints"))
    local = LocalTarget(
        state_dir=cache / "endpoints" / f"{pulumi.get_project()}-{pulumi.get_stack()}",
        router_port=config.get_int("router_port") or 0,
    )
    ports = config.get_object("router_ports") or {}
    clusters = {spec.name: spec for spec in stack.computes}
    for spec in stack.computes:
        ComputeCluster(
            spec.name, ComputeClusterArgs(spec, target), pulumi.ResourceOptions(depends_on=[quota])
        )
    stores = resolve_datastores(config.get_object("datastores"), cache, PROJECT_ROOT)
    for group in stack.online:
        endpoint = OnlineEndpoint(
            group.endpoint.name,
            OnlineEndpointArgs(
                endpoint=group.endpoint,
                deployments=tuple(group.deployments),
                target=kubernetes
                or LocalTarget(local.state_dir, int(ports.get(group.endpoint.name, local.router_port))),
                key_rotation=config.get_int("key_rotation") or 0,
            ),
            pulumi.ResourceOptions(depends_on=[quota]),
        )
        prefix = group.endpoint.name
        pulumi.export(f"{prefix}.scoring_uri", endpoint.scoring_uri)
        pulumi.export(f"{prefix}.swagger_uri", endpoint.swagger_uri)
        pulumi.export(f"{prefix}.provisioning_state", endpoint.provisioning_state)
        pulumi.export(f"{prefix}.primary_key", endpoint.primary_key)
        pulumi.export(f"{prefix}.secondary_key", endpoint.secondary_key)
        pulumi.export(f"{prefix}.auth_mode", group.endpoint.auth_mode)
        pulumi.export(f"{prefix}.target", target)
        if group.endpoint.auth_mode != "key":
            # Signs the endpoint's tokens (`scripts/mle token`); a secret like the keys.
            pulumi.export(f"{prefix}.token_secret", endpoint.token_secret)
        pulumi.export(f"{prefix}.deployments", endpoint.deployment_states)
        pulumi.export(f"{prefix}.traffic", dict(group.endpoint.traffic))
        pulumi.export(f"{prefix}.router_container", endpoint.router_container)
        pulumi.export(f"{prefix}.agent_container", endpoint.agent_container)
    asset_registry, _ = build_registry(stack.documents)
    for batch_group in stack.batch:
        models = tuple(d for d in batch_group.deployments if isinstance(d, ModelBatchDeploymentSpec))
        pipelines = tuple(
            plan_pipeline(d, asset_registry, clusters)
            for d in batch_group.deployments
            if isinstance(d, PipelineComponentBatchDeploymentSpec)
        )
        name = batch_group.endpoint.name
        batch = BatchEndpoint(
            name,
            BatchEndpointArgs(
                endpoint=batch_group.endpoint,
                deployments=models,
                clusters=clusters,
                target=LocalTarget(local.state_dir, int(ports.get(name, 0))),
                datastores=stores,
                key_rotation=config.get_int("key_rotation") or 0,
                pipelines=pipelines,
            ),
            pulumi.ResourceOptions(depends_on=[quota]),
        )
        pulumi.export(f"{name}.kind", "batch")
        pulumi.export(f"{name}.invoke_uri", batch.invoke_uri)
        pulumi.export(f"{name}.default_deployment", batch.default_deployment)
        pulumi.export(f"{name}.provisioning_state", batch.provisioning_state)
        pulumi.export(f"{name}.auth_mode", batch_group.endpoint.auth_mode)
        pulumi.export(f"{name}.primary_key", batch.primary_key)
        pulumi.export(f"{name}.secondary_key", batch.secondary_key)
        pulumi.export(f"{name}.token_secret", batch.token_secret)
        pulumi.export(f"{name}.deployments", batch.deployment_states)
        pulumi.export(f"{name}.controller_container", batch.controller_container)
        pulumi.export(f"{name}.agent_container", batch.agent_container)
        pulumi.export(f"{name}.datastores", stores)


try:
    main()
except SpecError as exc:
    # A bad spec is the user's input, not our bug: the problems, no traceback.
    raise pulumi.RunError(f"invalid mlendpoints configuration:\n{exc}") from None
except pydantic.ValidationError as exc:
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    raise pulumi.RunError(f"invalid mlendpoints:quota config: {problems}") from None
