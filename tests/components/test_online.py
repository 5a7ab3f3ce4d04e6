"""OnlineEndpoint and OnlineDeployment: the resource graph they register under Pulumi mocks.

Nothing talks to Docker: under mocks the dynamic providers (containers, images, keys, router files)
are only registered, never run. The mocks answer for the two provider outputs the components compute
with (the router's published port and the generated keys), and the host size is fixed so that CPU
and memory limits do not depend on the machine running the tests.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.online import (
    OnlineDeployment,
    OnlineDeploymentArgs,
    OnlineEndpoint,
    OnlineEndpointArgs,
)
from components.specs import OnlineDeploymentSpec, parse_spec
from components.stack_config import OnlineEndpointGroup, load_stack_config
from components.targets.contracts import EndpointBase
from components.targets.endpoint_keys import SECRET_OUTPUTS
from components.targets.local import plan as local_plan
from components.targets.local.target import LocalTarget
from components.targets.rendering import expected_digest, render_files
from components.targets.serving_layout import SCORER_PORT
from serving.router.config import parse_config
from tests.pulumi_mocks import RecordingMocks

ROOT = Path(__file__).resolve().parents[2]
DYNAMIC = "pulumi-python:dynamic:Resource"
ENDPOINT, DEPLOYMENT = "mlendpoints:online:OnlineEndpoint", "mlendpoints:online:OnlineDeployment"
HOST = (8, 32 * 1024)  # CPUs, MB
PICKED_PORT = 49200  # the host port "the engine" picks for the router

# The example endpoint (blue 90 %, green 10 %), its deployments overridden like the az CLI's --set so that
# they differ in instance_count and in app_insights_enabled.
SERVING: dict[str, Any] = {
    "endpoints": ["examples/online/endpoint.yml"],
    "deployments": [
        {"file": "examples/online/blue-deployment.yml", "instance_count": 2, "app_insights_enabled": True},
        {"file": "examples/online/green-deployment.yml", "app_insights_enabled": False},
    ],
}


@dataclass
class Program:
    """The shared recording mocks, plus the options and props every resource was registered with."""

    mocks: RecordingMocks
    tmp: Path
    options: dict[str, pulumi.ResourceOptions] = field(default_factory=dict)
    props: dict[str, Any] = field(default_factory=dict)
    names: list[tuple[str, str, int, str]] = field(default_factory=list)

    def start(self) -> None:
        """Call first inside a test: transformations need the root stack, which exists only there."""
        self.mocks.track_parents()

        def record(args: pulumi.ResourceTransformationArgs) -> None:
            self.options[args.name] = args.opts
            self.props[args.name] = args.props

        pulumi.runtime.register_stack_transformation(record)

    def endpoint(
        self, serving: dict[str, Any] = SERVING, key_rotation: int = 0
    ) -> tuple[OnlineEndpoint, OnlineEndpointGroup]:
        self.start()
        [group] = load_stack_config(serving, base_dir=ROOT, target="local").online
        args = OnlineEndpointArgs(
            endpoint=group.endpoint,
            deployments=group.deployments,
            target=LocalTarget(state_dir=self.tmp, router_port=8631),
            key_rotation=key_rotation,
        )
        return OnlineEndpoint(group.endpoint.name, args), group

    def parent(self, name: str) -> str | None:
        parent = self.mocks.parent_of(name)
        return None if parent is None else parent[1]

    def depends_on(self, name: str) -> set[str]:
        deps = self.options[name].depends_on or []
        assert isinstance(deps, list) and all(isinstance(dep, pulumi.Resource) for dep in deps)
        return {dep._name for dep in deps if isinstance(dep, pulumi.Resource)}


@pytest.fixture
def program(pulumi_mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Program:
    recorded = Program(pulumi_mocks, tmp_path)
    monkeypatch.setattr(local_plan, "host_resources", lambda: HOST)
    # Record which names online.py asks local_plan for, so container names can be traced to it.
    instance_name = local_plan.instance_name

    def spy(endpoint: str, deployment: str, index: int, digest: str) -> str:
        recorded.names.append(
            (endpoint, deployment, index, instance_name(endpoint, deployment, index, digest))
        )
        return recorded.names[-1][3]

    monkeypatch.setattr(local_plan, "instance_name", spy)
    register = pulumi_mocks.new_resource

    def new_resource(args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        id_, state = register(args)
        if "publish" in state:  # a DockerContainer with published ports: the engine picks host ports
            state["ports"] = dict.fromkeys(state["publish"], PICKED_PORT)
        if "rotation" in state:  # EndpointKeys: the provider generates these
            state.update({name: f"{name}-{'k' * 32}" for name in SECRET_OUTPUTS})
        return id_, state

    monkeypatch.setattr(pulumi_mocks, "new_resource", new_resource)
    return recorded


def settled(endpoint: OnlineEndpoint, *more: Any) -> pulumi.Output[list[Any]]:
    # Every resource is an ancestor or dependency of these, so all have reached the mocks once they resolve.
    return pulumi.Output.all(endpoint.provisioning_state, endpoint.deployment_states, endpoint.urn, *more)


@pulumi.runtime.test
def test_every_resource_is_typed_and_parented_to_its_component(program: Program) -> pulumi.Output:
    endpoint, _ = program.endpoint()

    def check(values: list[Any]) -> None:
        assert values[:2] == ["Succeeded", {"blue": "Succeeded", "green": "Succeeded"}]
        graph = {r.name: (r.type_, program.parent(r.name)) for r in program.mocks.resources}
        assert graph == {
            "mle-demo": (ENDPOINT, None),
            "mle-demo-net": ("mlendpoints:local:EndpointNetwork", "mle-demo"),
            "mle-demo-net-network": (DYNAMIC, "mle-demo-net"),
            "mle-demo-keys": (DYNAMIC, "mle-demo"),
            "mle-demo-blue": (DEPLOYMENT, "mle-demo"),
            "mle-demo-blue-image": (DYNAMIC, "mle-demo-blue"),
            "mle-demo-blue-0": (DYNAMIC, "mle-demo-blue"),
            "mle-demo-blue-1": (DYNAMIC, "mle-demo-blue"),
            "mle-demo-green": (DEPLOYMENT, "mle-demo"),
            "mle-demo-green-image": (DYNAMIC, "mle-demo-green"),
            "mle-demo-green-0": (DYNAMIC, "mle-demo-green"),
            "mle-demo-traffic": (DYNAMIC, "mle-demo"),
            "mle-demo-router-image": (DYNAMIC, "mle-demo"),
            "mle-demo-router": (DYNAMIC, "mle-demo"),
            "mle-demo-agent-image": (DYNAMIC, "mle-demo"),
            "mle-demo-agent": (DYNAMIC, "mle-demo"),
            "mle-demo-traffic-applied": (DYNAMIC, "mle-demo"),
        }
        # What the policy pack reviews (policies/adapters.py reads these names).
        assert program.mocks.named("mle-demo").inputs["traffic"] == {"blue": 90, "green": 10}
        blue = program.mocks.named("mle-demo-blue").inputs
        assert (blue["instance_count"], blue["instance_type"], blue["target"]) == (
            2,
            "Standard_DS2_v2",
            "local",
        )
        assert blue["image"] == program.mocks.named("mle-demo-blue-image").inputs["tag"]

    return settled(endpoint).apply(check)


@pulumi.runtime.test
def test_each_deployment_starts_instance_count_containers_named_by_local_plan(
    program: Program,
) -> pulumi.Output:
    endpoint, group = program.endpoint()

    def check(_: object) -> None:
        for spec in group.deployments:
            asked = [(e, d, i) for e, d, i, _ in program.names if d == spec.name]
            assert asked == [("mle-demo", spec.name, i) for i in range(spec.effective_instance_count)]
            image = program.mocks.named(f"mle-demo-{spec.name}-image").inputs["tag"]
            for _, _, index, name in (n for n in program.names if n[1] == spec.name):
                container = program.mocks.named(f"mle-demo-{spec.name}-{index}").inputs
                assert (container["name"], container["aliases"]) == (name, [name])
                assert (container["image"], container["network"]) == (image, "mle-mle-demo")
                # Standard_DS2_v2 is 2 cores and 7 GiB, both within the fixed 8-CPU, 32 GiB host.
                assert (container["nano_cpus"], container["mem_limit_mb"]) == (2 * 10**9, 7 * 1024)
                # Azure's budget for the default readiness probe (10 s + 10 s x 30) exceeds the 180 s default.
                assert container["ready_timeout_s"] == 310
            assert program.depends_on(f"mle-demo-{spec.name}-0") == {f"mle-demo-{spec.name}-image"}
        assert len({n for *_, n in program.names}) == 3  # every instance has a name of its own

    return settled(endpoint).apply(check)


@pulumi.runtime.test
def test_traffic_waits_for_the_deployments_and_the_router_for_the_traffic(program: Program) -> pulumi.Output:
    endpoint, _ = program.endpoint()

    def check(_: object) -> None:
        # The router must never be given instances that are not running yet.
        assert program.depends_on("mle-demo-traffic") == {"mle-demo-blue", "mle-demo-green"}
        assert program.depends_on("mle-demo-router") == {"mle-demo-traffic", "mle-demo-router-image"}
        assert program.depends_on("mle-demo-traffic-applied") == {"mle-demo-router", "mle-demo-traffic"}
        assert program.depends_on("mle-demo-agent") == {"mle-demo-agent-image"}

    return settled(endpoint).apply(check)


@pulumi.runtime.test
def test_router_config_routes_each_deployment_and_logs_per_app_insights(program: Program) -> pulumi.Output:
    endpoint, group = program.endpoint()

    def check(_: object) -> None:
        files = program.mocks.named("mle-demo-traffic").inputs
        assert files["folder"] == str(program.tmp / "mle-demo" / "router")
        # The text the provider would write (Pulumi's floats made whole again), read as the router reads it.
        router = parse_config(render_files(files["config"], {})[0], "test")
        for spec in group.deployments:
            names = sorted(n for _, d, _, n in program.names if d == spec.name)
            route = router.deployments[spec.name]
            assert route.instances == tuple(f"{n}:{SCORER_PORT}" for n in names)
            assert route.log_requests is spec.app_insights_enabled
            assert route.request_timeout_ms == spec.request_settings.request_timeout_ms
        # Guards the loop above against both deployments having the same switch.
        assert {n: d.log_requests for n, d in router.deployments.items()} == {"blue": True, "green": False}
        assert router.live_traffic == {"blue": 90, "green": 10}
        assert (router.endpoint, router.auth_mode, router.mirror) == ("mle-demo", "key", None)

    return settled(endpoint).apply(check)


@pulumi.runtime.test
def test_keys_stay_secret_on_their_way_to_the_router(program: Program) -> pulumi.Output:
    endpoint, _ = program.endpoint(key_rotation=2)
    secrets = program.props["mle-demo-traffic"]["secrets"]

    def check(values: list[Any]) -> None:
        *_, written, written_is_secret, primary = values
        assert program.mocks.named("mle-demo-keys").inputs["rotation"] == 2
        # Mocks ignore additional_secret_outputs (the engine applies it), so check that it was asked for.
        assert sorted(program.options["mle-demo-keys"].additional_secret_outputs or []) == sorted(
            SECRET_OUTPUTS
        )
        assert written_is_secret is True
        assert written == {name: f"{name}-{'k' * 32}" for name in SECRET_OUTPUTS}
        assert primary == written["primary_key"]

    return settled(
        endpoint, secrets, pulumi.Output.from_input(secrets.is_secret()), endpoint.primary_key
    ).apply(check)


@pulumi.runtime.test
def test_router_serves_the_files_on_the_port_the_engine_picked(program: Program) -> pulumi.Output:
    endpoint, _ = program.endpoint()
    secrets = program.props["mle-demo-traffic"]["secrets"]

    def check(values: list[Any]) -> None:
        *_, uri, swagger, written = values
        router = program.mocks.named("mle-demo-router").inputs
        folder = str(program.tmp / "mle-demo" / "router")
        assert router["mounts"] == {"/etc/mlendpoints/router": folder}
        assert router["env"]["MLE_ROUTER_CONFIG"] == "/etc/mlendpoints/router/config.json"
        assert router["env"]["MLE_ROUTER_SECRETS_FILE"] == "/etc/mlendpoints/router/secrets.json"
        assert router["publish"] == {"8080": 8631}
        assert router["network"] == "mle-mle-demo"
        assert (uri, swagger) == (
            f"http://127.0.0.1:{PICKED_PORT}/score",
            f"http://127.0.0.1:{PICKED_PORT}/swagger.json",
        )
        # The update waits until the router reports the digest of exactly the files that were written.
        applied = program.mocks.named("mle-demo-traffic-applied").inputs
        config = program.mocks.named("mle-demo-traffic").inputs["config"]
        assert applied == {
            "url": f"http://127.0.0.1:{PICKED_PORT}/",
            "digest": expected_digest(config, written),
            "timeout_s": 60.0,
            "__provider": applied["__provider"],
        }

    return settled(endpoint, endpoint.scoring_uri, endpoint.swagger_uri, secrets).apply(check)


@pulumi.runtime.test
def test_new_model_bytes_rename_the_instances(program: Program) -> pulumi.Output:
    # A new name lets the replacement start before the old instance stops (create before delete).
    program.start()
    shutil.copytree(ROOT / "examples" / "online" / "model-blue", program.tmp / "blue")
    spec = parse_spec(
        OnlineDeploymentSpec,
        {
            "name": "blue",
            "endpoint_name": "shop",
            "model": {"path": "blue/model"},
            "code_configuration": {"code": "blue/onlinescoring", "scoring_script": "score.py"},
            "environment": {"image": "mlendpoints/base:bookworm-py311"},
            "instance_type": "Standard_DS2_v2",
            "instance_count": 1,
        },
        base_dir=program.tmp,
        check_paths=True,
    )
    keys = [pulumi.Output.from_input("k" * 43)] * 3
    args = OnlineDeploymentArgs(
        spec=spec, base=EndpointBase("mle-shop", *keys), target=LocalTarget(program.tmp)
    )
    before, same = OnlineDeployment("before", args), OnlineDeployment("same", args)
    model_file = program.tmp / "blue" / "model" / "model.json"
    model_file.write_text(model_file.read_text() + "\n")
    after = OnlineDeployment("after", args)

    def check(names: list[list[str]]) -> None:
        [old], [unchanged], [new] = names
        assert old == unchanged
        assert new != old
        assert new.startswith("shop-blue-0-") and old.startswith("shop-blue-0-")

    return pulumi.Output.all(before.container_names, same.container_names, after.container_names).apply(check)


@pulumi.runtime.test
def test_endpoint_without_deployments_yet(program: Program) -> pulumi.Output:
    # Azure ML lets an endpoint exist before its first deployment, and the stack loader accepts one.
    endpoint, _ = program.endpoint({"endpoints": [{"name": "empty-shop", "auth_mode": "key"}]})

    def check(values: list[Any]) -> None:
        config = program.mocks.named("empty-shop-traffic").inputs["config"]
        assert parse_config(render_files(config, {})[0], "test").deployments == {}

    return settled(endpoint).apply(check)


def test_serving_config_has_what_the_graph_tests_assume() -> None:
    # SERVING is what the other tests reason about: two deployments that differ in count and logging.
    [group] = load_stack_config(SERVING, base_dir=ROOT, target="local").online
    assert [(d.name, d.instance_count, d.app_insights_enabled) for d in group.deployments] == [
        ("blue", 2, True),
        ("green", 1, False),
    ]
    assert dict(group.endpoint.traffic) == {"blue": 90, "green": 10}
