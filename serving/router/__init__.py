"""Endpoint front door: auth, traffic split, mirroring."""
