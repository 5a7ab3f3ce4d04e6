"""Moved to components.targets.local.docker_image; this name stays for stacks created before the move.

Pulumi keeps each dynamic resource's provider in the stack's state as a pickle that names the
module its class came from, and reads it back to refresh or delete the resource.
"""

from components.targets.local.docker_image import _ImageProvider

__all__ = ["_ImageProvider"]
