"""Moved to components.targets.local.docker_resources; this name stays for stacks created before the move.

Pulumi keeps each dynamic resource's provider in the stack's state as a pickle that names the
module its class came from, and reads it back to refresh or delete the resource.
"""

from components.targets.local.docker_resources import _ContainerProvider, _NetworkProvider

__all__ = ["_ContainerProvider", "_NetworkProvider"]
