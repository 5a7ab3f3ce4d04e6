"""The scheduler: node messages against the store, and the periodic pass (expiry, merge, logs, scaling)."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from serving.batch.controller.agent import Agent, NodeInfo
from serving.batch.controller.config import ConfigWatcher
from serving.batch.controller.errors import AgentError, MergeError
from serving.batch.controller.joblogs import JobLogs, failure_summary
from serving.batch.controller.jobs import JobSpec
from serving.batch.controller.merge import merge_parts, remove_parts
from serving.batch.controller.pipeline_runner import PipelineRunner
from serving.batch.controller.scaling import DEAD_STATES, LIVE_STATES, NodeView, decide, desired_nodes
from serving.batch.controller.settings import ControllerSettings
from serving.batch.controller.step_store import StepStore
from serving.batch.controller.store import Store
from serving.batch.controller.store_rows import TERMINAL
from serving.batch.controller.work_signal import RECHECK_S, WorkSignal
from serving.batch.protocol import (
    Heartbeat,
    HeartbeatAnswer,
    Lease,
    LeaseRequest,
    Report,
    ReportAnswer,
)

log = logging.getLogger("serving.batch.controller")
# Whether the client that sent a request still has its connection open (the HTTP server's probe; a
# request that waits for work asks it before it takes any).
Connected = Callable[[], bool]


def connected_always() -> bool:
    """The probe for callers without a connection (tests, in-process calls)."""
    return True


# A job's last completion hurries a pass so the job is merged at once; passes stay this far apart.
MIN_PASS_GAP_S = 0.05


def part_holds(path: str, size: int) -> bool:
    """Whether the part file a node reported holds at least `size` bytes (its range ends there)."""
    try:
        return os.stat(path).st_size >= size
    except OSError:
        return False


def part_path(spec: JobSpec, idx: int, attempt: int) -> str:
    """Unique per attempt: a stale attempt can never write over the accepted one."""
    return os.path.join(spec.parts_folder, f"mb{idx:06d}-a{attempt}.part")


class Scheduler:
    def __init__(
        self,
        store: Store,
        watcher: ConfigWatcher,
        settings: ControllerSettings,
        agent: Agent | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.watcher = watcher
        self.settings = settings
        self.pipelines = PipelineRunner(store, StepStore(store), agent, clock)
        self.agent = agent
        self.clock = clock
        self.logs = JobLogs()
        self.wake = threading.Event()
        self._hurry = threading.Event()  # the next pass comes without the gap (see run)
        self.work = WorkSignal()
        self._lock = threading.Lock()
        self._active: dict[str, float] = {}  # node -> last time it was handed or held a lease
        # Lease requests waiting for work now (idle workers, long polling): (deployment, node, probe of
        # the request's connection), one entry per request.
        self._waiting: list[tuple[str, str, Connected]] = []
        # Nodes a scaling pass is removing get no work. The gate is held from that check to the end of
        # the lease's transaction, so a node marked under it either leased before (and is kept: it is
        # busy) or leases nothing after.
        self._lease_gate = threading.Lock()
        self._draining: set[str] = set()
        # Nodes of an older template (the last scaling pass's view): they finish what they hold, lease
        # nothing new, and go when idle; a worker of theirs that waits for work waits without any.
        self._outdated: set[str] = set()
        self._scale_due = True
        self._last_scale = float("-inf")
        # The last scaling pass found no node and none wanted (see _resting).
        self._at_rest = False
        # Digest of the config the health answer reports: with an agent, only after a scaling pass
        # under it (see tick).
        self._in_force = "" if agent is not None else watcher.current.digest
        self._last_progress = float("-inf")
        self._progress_seen: dict[str, tuple[int, ...]] = {}

    # ------------------------------------------------------------------ node API

    def lease(self, request: LeaseRequest, connected: Connected = connected_always) -> list[Lease]:
        """A bundle for the worker; with `wait_s`, an idle worker's request waits for work that long.

        After each wait the request's connection is probed first: a node that stopped (scaled down,
        killed) while its request waited would otherwise be handed the next job's first bundle, which
        then waits for the lease expiry (and a job of instance_count 1 with it)."""
        deadline = time.monotonic() + request.wait_s
        waited = False
        while True:
            seen = self.work.generation
            if self.work.closed or (waited and not connected()):
                return []
            with self._lease_gate:
                if request.node in self._draining:
                    return []
                now = self.clock()
                outdated = request.node in self._outdated
                leases = [] if outdated else self.store.lease(request, now, part_path)
                if leases:
                    with self._lock:
                        self._active[request.node] = now
            if leases:
                return leases
            if outdated and request.job is not None:
                return []  # a worker of a running job: nothing more for it here, so its process ends
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            entry = (request.deployment, request.node, connected)
            with self._lock:
                self._waiting.append(entry)
            try:
                self.work.wait(seen, min(left, RECHECK_S))
            finally:
                with self._lock:
                    self._waiting.remove(entry)
            waited = True

    def waiting_nodes(self, deployment: str) -> int:
        """Nodes of the deployment with a worker waiting for work right now (its connection still open:
        a stopped node's request waits on until its next re-check), not counting nodes being removed."""
        with self._lease_gate:
            draining = self._draining | self._outdated
        with self._lock:
            waiting = [(node, connected) for name, node, connected in self._waiting if name == deployment]
        return len({node for node, connected in waiting if node not in draining and connected()})

    def heartbeat(self, beat: Heartbeat) -> HeartbeatAnswer:
        return HeartbeatAnswer(abandon=self.store.heartbeat(beat.tokens, self.clock()))

    def complete(self, report: Report) -> ReportAnswer:
        accepted = self.store.complete_all(report.completions, self.clock(), part_holds)
        if report.completions and self.store.drained(report.completions[-1].token):
            self.hurry()  # its job's last mini-batch (or the threshold ended it): merged now
        # Any other report leaves nothing for a pass to do at once (expiry, progress and scaling go by
        # the clock): waking one per report made ~13 passes of every short heart-classifier job.
        if any(done.outcome == "failed" for done in report.completions):
            self.work.notify()  # a failed try may be pending again: waiting workers take it
        leases = [] if report.next_lease is None else self.lease(report.next_lease)
        return ReportAnswer(accepted=accepted, leases=leases)

    def job_submitted(self, deployment: str, instance_count: int) -> None:
        """A new job: waiting workers take it now; nodes are asked for now (not at the next scaling
        interval) unless the job's instance_count nodes are up and waiting for work already. Then the
        scaling pass would only ask the agent, and through it the Docker engine, what is running, on
        the cores the job's first run() calls need (about 4 ms of CPU in three processes)."""
        self.work.notify()
        if self.waiting_nodes(deployment) < instance_count:
            self._scale_due = True
            self.wake.set()

    # ------------------------------------------------------------------ the periodic pass

    def start(self) -> None:
        """After a (re)start: leases get a fresh expiry; parts left by a finalize that was cut short go."""
        now = self.clock()
        recovered = self.store.recover(now)
        if recovered:
            log.info(
                "resumed with %d leased mini-batches; their nodes have %.0f s to heartbeat",
                recovered,
                self.settings.lease_expiry_s,
            )
        for job in self.store.jobs(statuses=TERMINAL):
            if job.finalized and os.path.isdir(job.spec.parts_folder):
                remove_parts(Path(job.spec.parts_folder))

    def hurry(self) -> None:
        """Run the next pass now, without the gap between passes: a job to merge, or stopping."""
        self._hurry.set()
        self.wake.set()

    def run(self, stop: threading.Event) -> None:
        """Passes until `stop` is set (then call hurry): every tick_interval_s, on a wake-up sooner,
        but at least MIN_PASS_GAP_S apart unless hurried."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the scheduler must outlive any one bad pass
                log.exception("scheduler pass failed; trying again")
            self._hurry.wait(MIN_PASS_GAP_S)
            self._hurry.clear()
            self.wake.wait(self.settings.tick_interval_s)
            self.wake.clear()

    @property
    def config_digest(self) -> str:
        """The config in force, as the health answer reports it ("" before the first pass)."""
        return self._in_force

    def tick(self) -> None:
        now = self.clock()
        if (self.watcher.poll() or not self._in_force) and self.agent is not None:
            # A new config (its node templates may have changed: new image, new size) is reported
            # applied only after a scaling pass has seen which nodes are of an older template, and
            # `pulumi up` waits for that report: a job invoked after it never runs on an old node.
            self._scale_due = False
            self._last_scale = now
            self.scale(self.agent, now)
        self._in_force = self.watcher.current.digest
        expired = self.store.expire(now, self.settings.lease_expiry_s)
        for job, idx in expired:
            log.warning(
                "lease of job %s mini-batch %d expired (its node stopped heartbeating); requeued", job, idx
            )
        if expired:
            self.work.notify()
        for name in self.store.settle():
            self.finalize(name)
        self.pipelines.tick()
        if now - self._last_progress >= self.settings.progress_interval_s:
            self._last_progress = now
            self.write_progress(now)
        if self.agent is not None and (
            self._scale_due
            or (now - self._last_scale >= self.settings.scale_interval_s and not self._resting())
        ):
            self._scale_due = False
            self._last_scale = now
            self.scale(self.agent, now)

    def write_progress(self, now: float) -> None:
        for job in self.store.jobs(statuses=("Queued", "Running")):
            counts = self.store.counts(job.spec.name)
            seen = (*counts.minibatches.values(), counts.rows, counts.failed_tries)
            if self._progress_seen.get(job.spec.name) != seen:
                self._progress_seen[job.spec.name] = seen
                self.logs.progress(job, counts, now)

    def finalize(self, name: str) -> None:
        """Merge (append_row), write the job's logs, record the end, delete the parts: in that order.

        Killed anywhere before the end is recorded, the whole step runs again and gives the same result
        (the merge rewrites the same file from the same accepted parts); after it, only the parts'
        deletion is left, which start() finishes.
        """
        job = self.store.job(name)
        spec, now = job.spec, self.clock()
        status, error = "Canceled", job.error
        # Nothing changes a job's mini-batches once it is finalizing or canceled: read them once.
        batches = self.store.minibatches(name)
        if job.status != "Canceled":
            failed = [b for b in batches if b.state == "failed"]
            status = "Failed" if job.error else "Completed"
            if not job.error and len(failed) == len(batches):
                # Azure fails such a job with "There is no succeeded mini batch item returned from run()"
                # (how-to-troubleshoot-batch-endpoints); ours says which mini-batches, files and errors.
                status, error = "Failed", f"No mini-batch succeeded: all {len(failed)} failed."
            try:
                if spec.settings.output_action == "append_row" and any(
                    b.state == "succeeded" for b in batches
                ):
                    merge_parts(self.store.accepted_parts(name), Path(spec.output_file))
            except (MergeError, OSError) as exc:
                status = "Failed"
                error = f"The output file {spec.output_file_uri} could not be written: {exc}. {error or ''}"
            if status == "Failed":
                error = failure_summary((error or "").strip(), failed)
        final = dataclasses.replace(job, status=status, error=error, ended_at=job.ended_at or now)
        try:
            self.logs.final(final, self.store.counts(name), batches, self.store.attempts(name), now)
        except OSError as exc:
            log.error("job %s: its logs could not be written: %s", name, exc)
        self.store.finish(name, status, error, now)
        self._progress_seen.pop(name, None)
        remove_parts(Path(spec.parts_folder))
        log.info("job %s %s", name, status.lower())

    # ------------------------------------------------------------------ scaling

    def _resting(self) -> bool:
        """No periodic scaling pass while the endpoint is at rest: a pass asks the agent, and it the
        Docker engine, what runs (~10 ms of CPU in three processes, every scale_interval_s), and with
        no node and no open job there is nothing to find. What can change that brings a pass anyway:
        a job (job_submitted, and the open-job check here for jobs that come another way), a new
        config (tick), a failed pass (never at rest)."""
        return self._at_rest and not self.store.has_open_jobs()

    def scale(self, agent: Agent, now: float) -> None:
        # Read before asking the agent: a node that held work then and does not run now is gone
        # (killed, preempted, out of memory), and its leases need not wait for their expiry.
        held = self.store.busy_nodes()
        self._at_rest = False
        try:
            listed = agent.nodes()
        except AgentError as exc:
            log.warning("scaling skipped: %s", exc)
            return
        nodes = [n for n in listed if n.status in LIVE_STATES]
        wanted = False
        self._release_gone(held - {n.name for n in nodes}, now)
        self._remove_dead(agent, [n for n in listed if n.status in DEAD_STATES])
        with self._lease_gate:
            self._outdated = {n.name for n in nodes if not n.current}
        busy = self.store.busy_nodes()
        config = self.watcher.current.config
        with self._lock:
            live = {n.name for n in nodes}
            self._active = {name: t for name, t in self._active.items() if name in live}
            for node in nodes:
                self._active[node.name] = now if node.name in busy else self._active.get(node.name, now)
            active = dict(self._active)
        for deployment in sorted({*config.deployments, *(n.deployment for n in nodes)}):
            mine = [n for n in nodes if n.deployment == deployment]
            views = [NodeView(n.name, n.name in busy, active[n.name]) for n in mine]
            spec = config.deployments.get(deployment)
            if spec is None:  # the deployment is gone: its idle nodes go too
                self._remove(agent, deployment, [v for v in views if not v.busy], "idle")
                continue
            # `pulumi up` changed what a node is: the old ones go as soon as they hold no lease (they
            # get none from now on), and the count below is of current nodes only.
            current = {n.name for n in mine if n.current}
            old = [v for v in views if v.name not in current and not v.busy]
            self._remove(agent, deployment, old, "of an older template")
            desired = desired_nodes(
                self.store.demand(deployment), spec.settings.max_concurrency_per_instance, spec.cluster
            )
            decision = decide(desired, spec.cluster, [v for v in views if v.name in current], now)
            removing = set(decision.remove)
            self._apply(agent, deployment, decision.ensure, [v for v in views if v.name in removing], mine)
            wanted = wanted or desired > 0 or spec.cluster.min_instances > 0
        self._at_rest = not nodes and not wanted

    def _remove_dead(self, agent: Agent, dead: list[NodeInfo]) -> None:
        """Node containers that stopped for good go now (their leases went back just before), not at
        the next job's `ensure`: after a Docker engine restart they would otherwise sit in `docker ps -a`
        as exited until then."""
        for node in dead:
            self._remove_node(agent, node.deployment, node.name, f"its container {node.status}")

    def _release_gone(self, gone: set[str], now: float) -> None:
        released = self.store.release_gone_nodes(gone, now)
        for job, idx in released:
            log.warning(
                "job %s mini-batch %d: its node is gone (%s); requeued", job, idx, ", ".join(sorted(gone))
            )
        if released:
            self.work.notify()

    def _take_out(self, node: NodeView) -> bool:
        """Mark an idle node so it is handed no more work; False (and unmarked) when it took work since
        the pass looked at it (a job came meanwhile): then it stays."""
        with self._lease_gate:
            self._draining.add(node.name)
        with self._lock:
            active_since = self._active.get(node.name, node.idle_since)
        if active_since != node.idle_since or node.name in self.store.busy_nodes():
            with self._lease_gate:
                self._draining.discard(node.name)
            return False
        return True

    def _apply(
        self, agent: Agent, deployment: str, ensure: int | None, remove: list[NodeView], nodes: list[NodeInfo]
    ) -> None:
        self._remove(agent, deployment, remove, "idle")
        if ensure is not None:
            try:
                started = agent.ensure(deployment, ensure)
                with self._lock:  # a new node's idle time counts from when it was asked for
                    for name in started:
                        self._active.setdefault(name, self.clock())
                log.info(
                    "deployment %s: asked for %d nodes (had %d): %s",
                    deployment,
                    ensure,
                    len(nodes),
                    ", ".join(started),
                )
            except AgentError as exc:
                log.warning("deployment %s: could not get %d nodes: %s", deployment, ensure, exc)

    def _remove(self, agent: Agent, deployment: str, remove: list[NodeView], why: str) -> None:
        for node in remove:
            name = node.name
            if not self._take_out(node):
                log.info("deployment %s: idle node %s took work meanwhile; it stays", deployment, name)
                continue
            self._remove_node(agent, deployment, name, why)
            with self._lease_gate:  # gone (the agent stops it before answering), or kept: it may work
                self._draining.discard(name)
            with self._lock:
                self._active.pop(name, None)

    def _remove_node(self, agent: Agent, deployment: str, name: str, why: str) -> None:
        """Ask the agent to remove the node; it counts no more as one of its jobs' nodes."""
        try:
            agent.remove(name)
            self.store.forget_node(name)
            log.info("deployment %s: removed node %s (%s)", deployment, name, why)
        except AgentError as exc:
            log.warning("deployment %s: could not remove node %s: %s", deployment, name, exc)
