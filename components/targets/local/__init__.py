"""The local target: Docker resources on this machine's engine (dynamic providers over its API)."""
