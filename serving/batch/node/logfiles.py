"""Where a worker's user logs go, in Azure's layout for batch jobs."""

from __future__ import annotations

import os
from dataclasses import dataclass


def process_name(number: int) -> str:
    return f"process{number:03d}"


@dataclass(frozen=True)
class UserLogs:
    """One worker process's user log files under the job's ``logs`` folder.

    From https://learn.microsoft.com/azure/machine-learning/v1/how-to-debug-parallel-run-step and
    https://learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-batch-endpoints:

    * ``logs/user/stdout/<node_id>/<process_name>.stdout.txt``: the driver's stdout (print) and the root
      logger ("sets a handler on the root logger, which sinks the message to
      logs/user/stdout/<node_id>/processNNN.stdout.txt");
    * ``logs/user/stderr/<node_id>/<process_name>.stderr.txt``: the driver's stderr;
    * ``logs/user/error/<node_id>/<process_name>.txt`` (e.g. ``logs/user/error/10.0.0.X/process000.txt``):
      "full stack traces of exceptions thrown while loading and running entry script".

    Process names are ``processNNN``; a replacement worker gets a new number, as on Azure ("each process
    will generate a processNNN file as log").

    `Lease.user_log_dir` is the "Job folder for logs/user/stdout|error/<node>/processNNN.*": the job
    folder, so the files go under its ``logs/``; a value that already ends in ``logs`` is taken as that
    folder itself (both readings of the protocol's wording land in the same place).
    """

    root: str
    stdout: str
    stderr: str
    error: str

    @classmethod
    def at(cls, user_log_dir: str, node: str, process: int) -> UserLogs:
        name = process_name(process)
        logs = os.path.normpath(user_log_dir)
        if os.path.basename(logs) != "logs":
            logs = os.path.join(logs, "logs")
        user = os.path.join(logs, "user")
        return cls(
            root=logs,
            stdout=os.path.join(user, "stdout", node, f"{name}.stdout.txt"),
            stderr=os.path.join(user, "stderr", node, f"{name}.stderr.txt"),
            error=os.path.join(user, "error", node, f"{name}.txt"),
        )

    def shown(self, path: str) -> str:
        """A log path as the user finds it among the job's outputs (logs/user/...)."""
        return os.path.join("logs", os.path.relpath(path, self.root))
