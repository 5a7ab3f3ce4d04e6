"""Pure healing decisions: which container to start or restart, and when (crash-loop back-off)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

# Docker's restart policy already restarts a container whose process dies (crash, OOM kill, engine
# restart) and shows it as "restarting" meanwhile. It does not restart one stopped through the API
# (`docker kill`, `docker stop`): those stay "exited", and that is what the agent starts again.
_DOWN = frozenset({"exited", "dead"})
AGENT_ROLE = "agent"
# Batch nodes are not healed: a node that dies is replaced when its controller asks for nodes.
NODE_ROLE = "node"
STEP_ROLE = "step"  # pipeline steps end by design: never restarted


@dataclass(frozen=True)
class Observed:
    """One container as the engine reports it."""

    id: str
    name: str
    status: str  # created | running | restarting | removing | paused | exited | dead
    health: str | None = None  # starting | healthy | unhealthy | None (no health check)
    role: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class Action:
    """Start a stopped container, or restart one whose liveness probe keeps failing."""

    verb: Literal["start", "restart"]
    container: Observed
    reason: str


@dataclass(frozen=True)
class BackoffPolicy:
    """First heal at once; heals that follow each other quickly wait longer each time, up to a cap.

    Like Kubernetes' CrashLoopBackOff, but starting at 0 s: an instance killed once is back within
    the second, while a script that dies at every start does not spin the engine.
    """

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, recent_heals: int) -> float:
        if recent_heals <= 0:
            return 0.0
        return float(min(self.first_delay_s * 2 ** (recent_heals - 1), self.max_delay_s))


@dataclass
class HealHistory:
    """How often each container (by name: a healed container keeps its name) was healed lately."""

    policy: BackoffPolicy = field(default_factory=BackoffPolicy)
    _heals: dict[str, tuple[int, float]] = field(default_factory=dict)

    def recent(self, name: str, now: float) -> tuple[int, float]:
        count, last = self._heals.get(name, (0, float("-inf")))
        if now - last > self.policy.reset_after_s:
            return 0, last
        return count, last

    def due_at(self, name: str, now: float) -> float:
        count, last = self.recent(name, now)
        return last + self.policy.delay(count)

    def due(self, name: str, now: float) -> bool:
        return now >= self.due_at(name, now)

    def record(self, name: str, now: float) -> None:
        count, _ = self.recent(name, now)
        self._heals[name] = (count + 1, now)

    def forget_others(self, names: Iterable[str]) -> None:
        keep = set(names)
        for name in [n for n in self._heals if n not in keep]:
            del self._heals[name]


def needed(container: Observed) -> Action | None:
    """What a container needs, ignoring back-off; None when it is fine or not ours to touch."""
    if container.role in (AGENT_ROLE, NODE_ROLE, STEP_ROLE):
        return None
    if container.status in _DOWN:
        code = f" with code {container.exit_code}" if container.exit_code is not None else ""
        return Action("start", container, f"{container.status}{code}")
    if container.status == "running" and container.health == "unhealthy":
        return Action("restart", container, "liveness probe failed failure_threshold times in a row")
    # created: a deployer is still setting it up; restarting: the engine's restart policy has it;
    # removing: being deleted on purpose; paused: paused by hand, left as it is.
    return None


def next_due(containers: Iterable[Observed], history: HealHistory, now: float) -> float | None:
    """When the earliest heal that waits out its back-off becomes due; None when none waits."""
    waiting = [
        history.due_at(c.name, now)
        for c in containers
        if needed(c) is not None and not history.due(c.name, now)
    ]
    return min(waiting, default=None)


def plan(containers: Iterable[Observed], history: HealHistory, now: float) -> list[Action]:
    """The actions due now; containers still in back-off wait for a later sweep."""
    containers = list(containers)
    history.forget_others(c.name for c in containers)
    actions = []
    for container in containers:
        action = needed(container)
        if action is not None and history.due(container.name, now):
            actions.append(action)
    return actions
