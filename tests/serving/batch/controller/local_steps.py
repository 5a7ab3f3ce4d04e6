"""A stand-in for the agent's step API that runs each step's command as a local process (for tests).

The command is the one the controller filled in, run by /bin/sh as the agent's container would run
it: output to the step's log file, in the step's code folder.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from serving.batch.controller.agent import NodeInfo, StepInfo
from serving.batch.controller.errors import AgentError


class LocalSteps:
    def __init__(self, code: Path, capacity: int = 8) -> None:
        self.code = code
        self.capacity = capacity
        self.runs: dict[str, tuple[str, str, subprocess.Popen[bytes]]] = {}  # name -> (job, step, process)
        self.commands: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def nodes(self) -> list[NodeInfo]:
        return []

    def ensure(self, deployment: str, count: int) -> list[str]:
        return []

    def remove(self, name: str) -> None:
        return None

    def steps(self, job: str) -> list[StepInfo]:
        with self._lock:
            found = []
            for name, (owner, step, process) in self.runs.items():
                if owner == job:
                    code = process.poll()
                    found.append(StepInfo(name, step, "running" if code is None else "exited", code))
            return found

    def run_step(self, deployment: str, step: str, job: str, command: str, log: str) -> str:
        with self._lock:
            for name, (owner, known, _) in self.runs.items():
                if (owner, known) == (job, step):
                    return name
            if sum(1 for _, _, p in self.runs.values() if p.poll() is None) >= self.capacity:
                raise AgentError("cluster full")
            name = f"{job}-{step}"
            shell = f'exec >>"$MLE_STEP_LOG" 2>&1; cd "$MLE_STEP_CODE" || exit 1\n{command}'
            env = {**os.environ, "MLE_STEP_LOG": log, "MLE_STEP_CODE": str(self.code)}
            self.runs[name] = (job, step, subprocess.Popen(["/bin/sh", "-c", shell], env=env))
            self.commands[(job, step)] = command
            return name

    def remove_step(self, name: str) -> None:
        with self._lock:
            _, _, process = self.runs.pop(name)
        if process.poll() is None:
            process.kill()
        process.wait()
