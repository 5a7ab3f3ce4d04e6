"""Healing decisions: what gets started or restarted, and the crash-loop back-off."""

from __future__ import annotations

import pytest

from serving.agent.healing import BackoffPolicy, HealHistory, Observed, needed, next_due, plan


def box(name: str = "ep-blue-0-abc", status: str = "running", **kw: object) -> Observed:
    return Observed(id=f"id-{name}", name=name, status=status, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("container", "verb"),
    [
        (box(status="exited", exit_code=137), "start"),  # docker kill: the engine will not restart it
        (box(status="dead"), "start"),
        (box(health="unhealthy"), "restart"),  # liveness probe failed failure_threshold times
        (box(), None),
        (box(health="healthy"), None),
        (box(health="starting"), None),
        (box(status="restarting"), None),  # the engine's restart policy is on it
        (box(status="created"), None),  # a deployer is still setting it up
        (box(status="removing"), None),  # deleted on purpose
        (box(status="paused"), None),
        (box(status="exited", role="agent"), None),  # the agent never acts on itself
    ],
)
def test_what_each_state_needs(container: Observed, verb: str | None) -> None:
    action = needed(container)
    assert (action.verb if action else None) == verb


def test_reason_names_the_exit_code() -> None:
    action = needed(box(status="exited", exit_code=137))
    assert action is not None and action.reason == "exited with code 137"


def test_first_heal_is_immediate_then_backs_off_and_resets() -> None:
    policy = BackoffPolicy(first_delay_s=1, max_delay_s=4, reset_after_s=60)
    history = HealHistory(policy)
    down = [box(status="exited")]
    assert len(plan(down, history, now=0)) == 1
    history.record(down[0].name, 0)
    # Dead again at once: waits 1 s, then 2 s, then 4 s (the cap), then 4 s.
    expected_waits = [1, 2, 4, 4]
    now = 0.0
    for wait in expected_waits:
        assert plan(down, history, now=now + wait - 0.01) == []
        now += wait
        assert len(plan(down, history, now=now)) == 1
        history.record(down[0].name, now)
    # A minute without a heal: the next one is immediate again.
    assert len(plan(down, history, now=now + 61)) == 1


def test_history_forgets_containers_that_are_gone() -> None:
    history = HealHistory()
    history.record("old", 0)
    plan([box("new", status="exited")], history, now=1)
    assert history.recent("old", 1) == (0, float("-inf"))


def test_each_container_has_its_own_backoff() -> None:
    history = HealHistory(BackoffPolicy(first_delay_s=10))
    history.record("a", 0)
    actions = plan([box("a", status="exited"), box("b", status="exited")], history, now=1)
    assert [a.container.name for a in actions] == ["b"]


def test_a_heal_in_back_off_says_when_it_is_due() -> None:
    # The agent sweeps rarely when nothing happens; a heal waiting out its back-off wakes it on time.
    history = HealHistory(BackoffPolicy(first_delay_s=2, max_delay_s=30))
    down, fine = box("a", status="exited"), box("b")
    assert next_due([down, fine], history, now=0) is None  # due now: nothing waits
    history.record("a", 0)
    history.record("a", 1)  # healed twice: the next one waits 4 s from the last
    assert next_due([down, fine], history, now=2) == 5
    assert next_due([box("a"), fine], history, now=2) is None  # running again: nothing to wait for
