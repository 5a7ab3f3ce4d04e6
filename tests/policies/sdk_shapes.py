"""Real provider SDKs, run under Pulumi mocks, give the exact input shapes the policy pack receives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_azure_native.machinelearningservices as ml
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from tests.pulumi_mocks import RecordingMocks, set_mocks


def _azure() -> list[pulumi.Resource]:
    common = {"resource_group_name": "rg", "workspace_name": "ws"}
    endpoint = ml.OnlineEndpoint(
        "azure-endpoint",
        endpoint_name="churn",
        properties=ml.OnlineEndpointPropertiesArgs(
            auth_mode="AMLToken", traffic={"blue": 90, "green": 10}, mirror_traffic={"green": 20}
        ),
        **common,
    )
    deployment = ml.OnlineDeployment(
        "azure-deployment",
        endpoint_name="churn",
        deployment_name="blue",
        sku=ml.SkuArgs(name="Default", capacity=3),
        properties=ml.ManagedOnlineDeploymentArgs(
            endpoint_compute_type="Managed",
            instance_type="Standard_DS3_v2",
            environment_id="azureml:sklearn-env:3",
            request_settings=ml.OnlineRequestSettingsArgs(request_timeout="PT1M30S"),
            liveness_probe=ml.ProbeSettingsArgs(initial_delay="PT10S", period="PT10S", timeout="PT2S"),
            readiness_probe=ml.ProbeSettingsArgs(failure_threshold=30),
        ),
        **common,
    )
    autoscaled = ml.OnlineDeployment(
        "azure-autoscaled",
        endpoint_name="churn",
        deployment_name="green",
        sku=ml.SkuArgs(name="Default", capacity=1),
        properties=ml.ManagedOnlineDeploymentArgs(
            endpoint_compute_type="Managed",
            instance_type="Standard_F4s_v2",
            scale_settings=ml.TargetUtilizationScaleSettingsArgs(
                scale_type="TargetUtilization", min_instances=1, max_instances=5
            ),
        ),
        **common,
    )
    compute = ml.Compute(
        "azure-compute",
        compute_name="cpu-cluster",
        properties=ml.AmlComputeArgs(
            compute_type="AmlCompute",
            properties=ml.AmlComputePropertiesArgs(
                vm_size="Standard_DS3_v2",
                vm_priority="LowPriority",
                scale_settings=ml.ScaleSettingsArgs(
                    max_node_count=4, min_node_count=0, node_idle_time_before_scale_down="PT2M"
                ),
            ),
        ),
        **common,
    )
    batch = ml.BatchEndpoint(
        "azure-batch",
        endpoint_name="scoring",
        properties=ml.BatchEndpointPropertiesArgs(
            auth_mode="AADToken", defaults=ml.BatchEndpointDefaultsArgs(deployment_name="nightly")
        ),
        **common,
    )
    # The compute is an ARM id, as the az CLI and the azure-ai-ml SDK send it.
    cluster_id = (
        "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
        "/workspaces/ws/computes/cpu-cluster"
    )
    batch_deployment = ml.BatchDeployment(
        "azure-batch-deployment",
        endpoint_name="scoring",
        deployment_name="nightly",
        properties=ml.BatchDeploymentPropertiesArgs(
            compute=cluster_id,
            environment_id="azureml:batch-env:2",
            resources=ml.DeploymentResourceConfigurationArgs(instance_count=5),
            mini_batch_size=20,
            max_concurrency_per_instance=4,
            output_action="SummaryOnly",
            output_file_name="scores.csv",
            retry_settings=ml.BatchRetrySettingsArgs(max_retries=2, timeout="PT5M"),
            error_threshold=10,
            logging_level="Warning",
        ),
        **common,
    )
    bare_deployment = ml.BatchDeployment(
        "azure-batch-bare",
        endpoint_name="scoring",
        deployment_name="hourly",
        properties=ml.BatchDeploymentPropertiesArgs(compute="azureml:cpu-cluster"),
        **common,
    )
    return [endpoint, deployment, autoscaled, compute, batch, batch_deployment, bare_deployment]


def _kubernetes() -> list[pulumi.Resource]:
    container = k8s.core.v1.ContainerArgs(
        name="scorer",
        image="registry.local/scorer@sha256:" + "a" * 64,
        resources=k8s.core.v1.ResourceRequirementsArgs(limits={"cpu": "500m", "memory": "1Gi"}),
        liveness_probe=k8s.core.v1.ProbeArgs(initial_delay_seconds=5, period_seconds=10, timeout_seconds=2),
    )
    sidecar = k8s.core.v1.ContainerArgs(name="sidecar", image="busybox")
    deployment = k8s.apps.v1.Deployment(
        "k8s-deployment",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="scorer-blue"),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=2,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "scorer"}),
            template=k8s.core.v1.PodTemplateSpecArgs(
                spec=k8s.core.v1.PodSpecArgs(containers=[container, sidecar])
            ),
        ),
    )
    service = k8s.core.v1.Service(
        "k8s-service",
        spec=k8s.core.v1.ServiceSpecArgs(type="LoadBalancer", ports=[k8s.core.v1.ServicePortArgs(port=80)]),
    )
    return [deployment, service]


def _docker() -> list[pulumi.Resource]:
    image = docker.Image(
        "docker-image",
        image_name="mlendpoints/scorer:latest",
        skip_push=True,
        build=docker.DockerBuildArgs(context=".", builder_version="BuilderV1"),
    )
    container = docker.Container(
        "docker-container",
        name="churn-blue-0",
        image="mlendpoints/scorer:3f2a9c1",
        memory=512,
        cpus="1.5",
        ports=[
            docker.ContainerPortArgs(internal=5001, external=8080, ip="127.0.0.1"),
            docker.ContainerPortArgs(internal=5002, external=8081),
        ],
    )
    return [image, container]


def capture(build: Callable[[], list[pulumi.Resource]]) -> dict[str, dict[str, Any]]:
    """Inputs by logical name, exactly as the SDK serialises them for the engine."""
    mocks = RecordingMocks()
    set_mocks(mocks, project="proj", stack="dev")

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        return pulumi.Output.all(*[r.id for r in build() if isinstance(r, pulumi.CustomResource)])

    run()
    return {r.name: r.inputs for r in mocks.resources}


def all_shapes() -> dict[str, dict[str, Any]]:
    return capture(lambda: _azure() + _kubernetes() + _docker())
