"""The mlendpoints Pulumi program: stack config -> components -> exports."""

import pulumi

from components.targets.local import EndpointNetwork, EndpointNetworkArgs

config = pulumi.Config("mlendpoints")
endpoint_name = config.get("endpoint") or "mle-demo"

network = EndpointNetwork(endpoint_name, EndpointNetworkArgs(endpoint_name=endpoint_name))
pulumi.export("network_name", network.network_name)
pulumi.export("network_id", network.network_id)
