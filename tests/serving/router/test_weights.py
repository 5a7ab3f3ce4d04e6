"""Exact weighted schedules: every connection and every slot column gets the weights exactly."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.router.weights import (
    ROTATIONS,
    SLOTS,
    exact_schedule,
    most_weighted,
    rotation_table,
    simulate,
    slot_of,
)


@st.composite
def weights(draw: st.DrawFn) -> dict[str, int]:
    count = draw(st.integers(1, 6))
    cuts = sorted(draw(st.lists(st.integers(0, SLOTS), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, SLOTS]
    return {f"d{i}": bounds[i + 1] - bounds[i] for i in range(count)}


@given(weights())
def test_schedule_holds_each_weight_exactly(w):
    schedule = exact_schedule(w)
    assert len(schedule) == SLOTS
    assert Counter(schedule) == Counter({name: n for name, n in w.items() if n})


@given(weights())
def test_every_rotation_and_every_slot_column_is_exact(w):
    schedule = exact_schedule(w)
    default = most_weighted(w)
    table = rotation_table(schedule, default)

    def pick(rotation: int, slot: int) -> str:
        return table.get(f"{rotation}:{slot:02d}", default)

    for rotation in range(0, ROTATIONS, 7):
        assert Counter(pick(rotation, s) for s in range(SLOTS)) == Counter(schedule)
    for slot in range(0, SLOTS, 7):
        assert Counter(pick(r, slot) for r in range(ROTATIONS)) == Counter(schedule)


def test_same_weights_render_the_same_schedule_and_order_is_mixed():
    assert exact_schedule({"a": 50, "b": 50}) == exact_schedule({"b": 50, "a": 50})
    schedule = exact_schedule({"a": 50, "b": 50})
    # Not simply alternating: a client alternating request kinds must not pin each kind to one side.
    assert schedule[0::2].count("a") not in (0, 50)


@pytest.mark.parametrize("bad", [{"a": 60}, {"a": 120, "b": -20}])
def test_weights_must_sum_to_the_slot_count(bad):
    with pytest.raises(ValueError):
        exact_schedule(bad)


def test_slots_follow_the_last_two_digits_of_the_connection_request_counter():
    assert [slot_of(n) for n in (1, 9, 10, 99, 100, 101, 12345)] == [1, 9, 10, 99, 0, 1, 45]


def test_many_uneven_connections_stay_within_a_fraction_of_a_point():
    schedule = exact_schedule({"blue": 90, "green": 10})
    rng = random.Random(7)
    connections = [(rng.randrange(ROTATIONS), rng.randrange(1, 400)) for _ in range(64)]
    counts = simulate(schedule, connections)
    total = sum(counts.values())
    assert abs(counts["green"] / total - 0.10) < 0.005


def test_most_weighted_breaks_ties_by_name():
    assert most_weighted({"b": 50, "a": 50}) == "a"
    assert most_weighted({"a": 10, "b": 90}) == "b"
