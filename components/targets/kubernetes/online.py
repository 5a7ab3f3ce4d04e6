"""Online endpoints on Kubernetes: a namespace, a Deployment and ClusterIP Service per deployment,
the router as a Deployment with its config in a ConfigMap and its keys in a Secret, a NodePort."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from components import environments, mlflow_models
from components.specs import OnlineDeploymentSpec, OnlineEndpointSpec
from components.targets import scorer_env
from components.targets.contracts import DeploymentParts, EndpointBase, EndpointFront
from components.targets.endpoint_keys import EndpointKeys
from components.targets.kubernetes import plan
from components.targets.kubernetes.images import RegistryImage
from components.targets.kubernetes.rollout import RolloutReady
from components.targets.kubernetes.router_pods import RouterPodsApplied
from components.targets.rendering import digest, expected_digest, render_files
from components.targets.router_inputs import router_inputs
from components.targets.serving_layout import CODE_MOUNT

if TYPE_CHECKING:
    from components.targets.kubernetes.target import KubernetesTarget

# pulumi-kubernetes waits up to 10 min for a Deployment's rollout and for a ready pod behind a
# Service; for scorers, RolloutReady waits instead and fails as soon as a pod cannot become ready.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
KUBELET_CONFIG_SYNC_S = 180.0


def _opts(target: KubernetesTarget, parent: pulumi.Resource, **more: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, provider=target.provider, **more)


def endpoint_base(
    target: KubernetesTarget, parent: pulumi.Resource, name: str, spec: OnlineEndpointSpec, key_rotation: int
) -> EndpointBase:
    """The endpoint's namespace and its keys (Pulumi secrets, a Kubernetes Secret in the front)."""
    if spec.compute:
        pulumi.log.warn(
            f"endpoint {spec.name}: compute {spec.compute} names an Azure ML attached cluster; this stack "
            "deploys to the cluster of its kubeconfig (mlendpoints:kubernetes), whatever the name",
            resource=parent,
        )
    # The owning stack as a label: a second stack deploying an endpoint of the same name to this
    # cluster conflicts on it (server-side apply) before it can take over the namespace's objects.
    owner = plan.owner_label(pulumi.get_project(), pulumi.get_stack())
    namespace = k8s.core.v1.Namespace(
        f"{name}-ns",
        metadata={
            "name": plan.namespace(spec.name),
            "labels": {**plan.labels(spec.name, role="endpoint"), plan.STACK_LABEL: owner},
        },
        opts=_opts(target, parent),
    )
    keys = EndpointKeys(
        f"{name}-keys", endpoint=spec.name, rotation=key_rotation, opts=pulumi.ResourceOptions(parent=parent)
    )
    name_of_namespace = namespace.metadata.apply(lambda m: m.name)
    return EndpointBase(name_of_namespace, keys.primary_key, keys.secondary_key, keys.token_secret)


def layers(spec: OnlineDeploymentSpec) -> dict[str, str]:
    """Container path -> host path of the deployment's model and code, added to its image."""
    found: dict[str, str] = {}
    if spec.model is not None and spec.model.path is not None:
        model = Path(spec.model.path)
        model_dir = scorer_env.model_dir(spec)
        found[f"{model_dir}/{model.name}" if model.is_dir() else model_dir] = str(model)
    if spec.code_configuration is not None:
        found[CODE_MOUNT] = str(Path(spec.code_configuration.code))
    return found


def deployment_image_plan(
    target: KubernetesTarget, spec: OnlineDeploymentSpec
) -> environments.EnvironmentPlan:
    return mlflow_models.plan_for_deployment(spec, base_image=target.base_image)


def deployment(
    target: KubernetesTarget,
    parent: pulumi.Resource,
    name: str,
    spec: OnlineDeploymentSpec,
    base: EndpointBase,
) -> DeploymentParts:
    """The deployment's image in the registry, its Deployment, ClusterIP Service and autoscaler."""
    image_plan = deployment_image_plan(target, spec)
    for warning in image_plan.warnings:
        pulumi.log.warn(f"deployment {spec.name}: {warning}", resource=parent)
    image = RegistryImage(
        f"{name}-image",
        image_plan,
        target.registry,
        layers(spec),
        f"deployment {spec.name}",
        pulumi.ResourceOptions(parent=parent),
    )
    manifest = plan.deployment_manifest(spec, "")
    # Our own waiter (rollout.py) fails fast with the script's log; the provider's would wait 10 min.
    metadata = {**manifest["metadata"], "annotations": SKIP_AWAIT}
    pod_spec = image.reference.apply(lambda ref: plan.deployment_manifest(spec, ref)["spec"])
    workload = k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata={**metadata, "namespace": base.placement},
        spec=pod_spec,
        opts=_opts(target, parent, depends_on=[image]),
    )
    probe = spec.readiness_probe
    rollout = RolloutReady(
        f"{name}-rollout",
        namespace=base.placement,
        deployment=plan.deployment_name(spec),
        selector={"io.mlendpoints.endpoint": spec.endpoint_name, "io.mlendpoints.deployment": spec.name},
        revision=pod_spec.apply(digest),
        timeout_s=max(target.ready_timeout_s, probe.initial_delay + probe.period * probe.failure_threshold),
        port=plan.SCORER_PORT,
        kubeconfig=target.kubeconfig,
        context=target.context,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[workload]),
    )
    service_manifest = plan.service_manifest(spec)
    service = k8s.core.v1.Service(
        f"{name}-service",
        # The provider would also wait (10 min) for a ready pod behind the Service: the waiter decides.
        metadata={**service_manifest["metadata"], "namespace": base.placement, "annotations": SKIP_AWAIT},
        spec=service_manifest["spec"],
        opts=_opts(target, parent),
    )
    autoscaler = plan.autoscaler_manifest(spec)
    if autoscaler is not None:
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-autoscaler",
            metadata={**autoscaler["metadata"], "namespace": base.placement},
            spec=autoscaler["spec"],
            opts=_opts(target, parent, depends_on=[workload]),
        )
    # The Kubernetes provider waits for the rollout (every replica ready) before it reports success.
    return DeploymentParts(
        instances=service.spec.apply(lambda s: [f"{s.cluster_ip}:{plan.SCORER_PORT}"]),
        names=pulumi.Output.from_input([plan.deployment_name(spec)]),
        image=image.reference,
        provisioning_state=rollout.urn.apply(lambda _: "Succeeded"),
    )


def endpoint_front(
    target: KubernetesTarget,
    parent: pulumi.Resource,
    name: str,
    spec: OnlineEndpointSpec,
    deployments: dict[str, tuple[OnlineDeploymentSpec, DeploymentParts]],
    base: EndpointBase,
    depends_on: list[pulumi.Resource],
) -> EndpointFront:
    """Traffic (the router's ConfigMap), keys (a Secret), the router Deployment and its NodePort Service."""
    config, secrets = router_inputs(spec, deployments, base)
    keys = k8s.core.v1.Secret(
        f"{name}-keys-secret",
        metadata={
            "name": f"{spec.name}-keys",
            "namespace": base.placement,
            "labels": plan.labels(spec.name, role="router"),
        },
        string_data=secrets.apply(lambda s: {"secrets.json": render_files({}, s)[1]}),
        opts=_opts(target, parent),
    )
    traffic = k8s.core.v1.ConfigMap(
        f"{name}-traffic",
        metadata={
            "name": f"{spec.name}-router",
            "namespace": base.placement,
            "labels": plan.labels(spec.name, role="router"),
        },
        data=config.apply(lambda c: {"config.json": render_files(c, {})[0]}),
        opts=_opts(target, parent, depends_on=depends_on),
    )
    router_plan = environments.EnvironmentPlan(base_image=target.base_image)
    router_image = RegistryImage(
        f"{name}-router-image",
        router_plan,
        target.registry,
        {},
        "the router",
        pulumi.ResourceOptions(parent=parent),
    )
    digest = pulumi.Output.all(config, secrets).apply(lambda cs: expected_digest(cs[0], cs[1]))
    router = router_image.reference.apply(
        lambda ref: plan.router_manifest(spec, ref, target.router_replicas, "")
    )
    workload = k8s.apps.v1.Deployment(
        f"{name}-router",
        metadata={
            "name": f"{spec.name}-router",
            "namespace": base.placement,
            "labels": plan.labels(spec.name, role="router"),
        },
        spec=router.apply(lambda m: m["spec"]),
        opts=_opts(target, parent, depends_on=[traffic, keys, router_image]),
    )
    service_manifest = plan.router_service_manifest(spec, target.service_type)
    service = k8s.core.v1.Service(
        f"{name}-router-service",
        metadata={**service_manifest["metadata"], "namespace": base.placement},
        spec=service_manifest["spec"],
        opts=_opts(target, parent, depends_on=[workload]),
    )
    if target.service_type == "LoadBalancer":
        # The address the cluster's load balancer gave the Service (the provider waits for it).
        url = service.status.apply(_load_balancer_url)
    else:
        url = service.spec.apply(_node_port).apply(lambda p: f"http://{target.node_address}:{p}")
    # The kubelet brings a changed ConfigMap into each router pod in its own time (up to its sync
    # period): the update returns only once every router pod serves the new files, as on the local
    # target.
    applied = RouterPodsApplied(
        f"{name}-traffic-applied",
        url=url.apply(lambda u: f"{u}/"),
        digest=digest,
        namespace=base.placement,
        selector=plan.router_selector(spec),
        port=plan.ROUTER_PORT,
        # A kubelet refreshes ConfigMap volumes on its sync period (1 min by default) plus its
        # cache's TTL: measured 60+ s here now and then, so up to 3 min before calling it failed.
        timeout_s=KUBELET_CONFIG_SYNC_S,
        kubeconfig=target.kubeconfig,
        context=target.context,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[workload, service, traffic, keys]),
    )
    return EndpointFront(
        scoring_uri=url.apply(lambda u: f"{u}/score"),
        swagger_uri=url.apply(lambda u: f"{u}/swagger.json"),
        provisioning_state=pulumi.Output.all(workload.status, applied.urn).apply(lambda _: "Succeeded"),
        router=pulumi.Output.from_input(f"{spec.name}-router"),
        agent=pulumi.Output.from_input(""),
    )


def _load_balancer_url(status: Any) -> str:
    ingress = list(status.load_balancer.ingress or []) if status and status.load_balancer else []
    if not ingress:
        raise ValueError(
            "the router's LoadBalancer Service has no address: this cluster has no load balancer; "
            "use mlendpoints:kubernetes.service_type NodePort (and node_address)"
        )
    return f"http://{ingress[0].ip or ingress[0].hostname}:{plan.ROUTER_PORT}"


def _node_port(spec: Any) -> int:
    ports = list(spec.ports or []) if spec is not None else []
    return int(ports[0].node_port or 0) if ports else 0
