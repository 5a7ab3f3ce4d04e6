"""Kubernetes resource quantities (`cpu: 500m`, `memory: 200Mi`) as numbers, for targets that are not
Kubernetes (the local target sizes containers by them) and for the quota check."""

from __future__ import annotations

import re

_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*([A-Za-z]*)\s*$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "": 1,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}


def quantity(text: str) -> float:
    """A Kubernetes quantity as a number (`500m` -> 0.5, `200Mi` -> 209715200, `1e3` -> 1000);
    ValueError saying what is expected."""
    matched = _QUANTITY.match(str(text))
    suffix = matched.group(3) if matched else ""
    if matched is None or (suffix not in _BINARY and suffix not in _DECIMAL):
        raise ValueError(
            f"{text!r} is not a Kubernetes quantity (e.g. cpu: 500m or 0.5; memory: 200Mi, 1Gi or 512M)"
        )
    number = float(matched.group(1)) * (10 ** int(matched.group(2)) if matched.group(2) else 1)
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def cpu_cores(text: str) -> float:
    cores = quantity(text)
    if cores <= 0:
        raise ValueError(f"cpu {text!r} must be more than 0")
    return cores


def memory_mb(text: str) -> int:
    """Memory in MiB (rounded up: a limit is never made smaller)."""
    size = quantity(text)
    if size <= 0:
        raise ValueError(f"memory {text!r} must be more than 0")
    return max(1, -int(-size // 2**20))
