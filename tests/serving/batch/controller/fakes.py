"""A fake agent that records calls and keeps a node list the tests can change."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from serving.batch.controller.agent import NodeInfo
from serving.batch.controller.errors import AgentError


@dataclass
class FakeAgent:
    nodes_by_name: dict[str, NodeInfo] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    failing: bool = False
    max_instances: int = 100
    started: int = 0
    listed: int = 0  # nodes() calls (not in `calls`: scaling passes list the nodes every time)

    def _check(self) -> None:
        if self.failing:
            raise AgentError("agent is down")

    def nodes(self) -> list[NodeInfo]:
        self._check()
        self.listed += 1
        return list(self.nodes_by_name.values())

    def ensure(self, deployment: str, count: int) -> list[str]:
        self._check()
        self.calls.append(("ensure", deployment, str(count)))
        # As the agent does: nodes of an older template count for nothing (the controller removes them).
        mine = [n for n in self.nodes_by_name.values() if n.deployment == deployment and n.current]
        for _ in range(len(mine), min(count, self.max_instances)):
            name = f"{deployment}-node-{self.started}"
            self.started += 1
            self.nodes_by_name[name] = NodeInfo(name, deployment, "running")
        return [n.name for n in self.nodes_by_name.values() if n.deployment == deployment and n.current]

    def outdate(self, deployment: str) -> None:
        """`pulumi up` changed the deployment's node template: its nodes are of an older one now."""
        for name, node in self.nodes_by_name.items():
            if node.deployment == deployment:
                self.nodes_by_name[name] = replace(node, current=False)

    def remove(self, name: str) -> None:
        self._check()
        self.calls.append(("remove", name))
        self.nodes_by_name.pop(name, None)
