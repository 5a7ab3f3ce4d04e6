"""Resolve instance host names to addresses, so nginx never fails on a name that is not up yet."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from serving.router.config import split_instance


def _format(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolve_instance(instance: str) -> list[str]:
    """`ip:port` strings for one `host:port`; empty when the name does not resolve (yet)."""
    host, port = split_instance(instance)
    try:
        ipaddress.ip_address(host)
        return [_format(host, port)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    # IPv4 first: container networks are IPv4, and `localhost` must not count twice.
    v4 = sorted({str(info[4][0]) for info in infos if info[0] == socket.AF_INET})
    v6 = sorted({str(info[4][0]) for info in infos if info[0] == socket.AF_INET6})
    return [_format(ip, port) for ip in (v4 or v6)]


def resolve_all(instances: Iterable[str]) -> dict[str, list[str]]:
    """Blocking (DNS); the supervisor runs it in a thread."""
    return {instance: resolve_instance(instance) for instance in sorted(set(instances))}
