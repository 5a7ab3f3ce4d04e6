"""EndpointNetwork: the resource graph it registers (mocked engine)."""

from __future__ import annotations

import pulumi

from components.targets.local.network import EndpointNetwork, EndpointNetworkArgs, network_name
from tests.pulumi_mocks import RecordingMocks


def test_network_name_is_prefixed() -> None:
    assert network_name("blue-shop") == "mle-blue-shop"


@pulumi.runtime.test
def test_endpoint_network_registers_a_parented_docker_network(pulumi_mocks: RecordingMocks) -> pulumi.Output:
    pulumi_mocks.track_parents()
    comp = EndpointNetwork("shop", EndpointNetworkArgs(endpoint_name="shop", labels={"team": "ml"}))

    def check(values: list[object]) -> None:
        name, _ = values
        assert name == "mle-shop"
        [component] = pulumi_mocks.of_type("mlendpoints:local:EndpointNetwork")
        assert component.name == "shop"
        net = pulumi_mocks.named("shop-network")
        assert net.type_ == "pulumi-python:dynamic:Resource"
        assert net.inputs["name"] == "mle-shop"
        assert net.inputs["labels"] == {"io.mlendpoints.endpoint": "shop", "team": "ml"}
        assert pulumi_mocks.parent_of("shop-network") == ("mlendpoints:local:EndpointNetwork", "shop")

    return pulumi.Output.all(comp.network_name, comp.network_id).apply(check)
