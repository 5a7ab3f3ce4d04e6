"""Moved to components.targets.local.router_files; this name stays for stacks created before the move.

Pulumi keeps each dynamic resource's provider in the stack's state as a pickle that names the
module its class came from, and reads it back to refresh or delete the resource.
"""

from components.targets.local.router_files import _RouterFilesProvider
from components.targets.router_applied import _AppliedProvider

__all__ = ["_AppliedProvider", "_RouterFilesProvider"]
