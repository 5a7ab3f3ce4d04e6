"""Exact weighted schedules: which deployment (or mirror yes/no) each request slot gets."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping

SLOTS = 100  # traffic and mirror shares are whole percentages
ROTATIONS = 100  # per-connection starting offsets; one per slot keeps every column exact too


def exact_schedule(weights: Mapping[str, int]) -> tuple[str, ...]:
    """SLOTS entries where each name appears exactly `weight` times, in a shuffled order.

    Shuffled rather than interleaved so a client that alternates request kinds on one connection
    does not send every request of one kind to the same deployment. The seed comes from the
    weights, so the same weights always render the same nginx.conf (no spurious reloads).
    """
    total = sum(weights.values())
    if total != SLOTS or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be non-negative and sum to {SLOTS}, got {dict(weights)}")
    slots = [name for name, weight in sorted(weights.items()) for _ in range(weight)]
    seed = hashlib.sha256(repr(sorted(weights.items())).encode()).hexdigest()
    random.Random(seed).shuffle(slots)
    return tuple(slots)


def rotation_table(schedule: tuple[str, ...], default: str) -> dict[str, str]:
    """nginx map entries `"<rotation>:<slot>" -> name`, leaving out entries equal to `default`.

    A connection picks a rotation at random (split_clients on $connection) and walks the slots with
    its request counter, so each keep-alive connection gets the weights exactly every SLOTS requests,
    and one-request connections (all at slot 1) still get them exactly across the rotations.
    """
    table: dict[str, str] = {}
    for rotation in range(ROTATIONS):
        for slot in range(SLOTS):
            name = schedule[(slot + rotation) % SLOTS]
            if name != default:
                table[f"{rotation}:{slot:02d}"] = name
    return table


def most_weighted(weights: Mapping[str, int]) -> str:
    """The name with the largest weight (ties by name); it becomes the map default."""
    return min(weights, key=lambda name: (-weights[name], name))


def slot_of(connection_request: int) -> int:
    """The slot nginx's map derives from $connection_requests (its last two digits)."""
    return connection_request % SLOTS


def simulate(schedule: tuple[str, ...], connections: Iterable[tuple[int, int]]) -> dict[str, int]:
    """Counts per name when each `(rotation, requests)` connection walks the schedule (for tests)."""
    counts: dict[str, int] = {}
    for rotation, requests in connections:
        for n in range(1, requests + 1):
            name = schedule[(slot_of(n) + rotation) % SLOTS]
            counts[name] = counts.get(name, 0) + 1
    return counts
