"""The job store's transactions: leases, completions, expiry, retries, threshold, cancel, restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from serving.batch.controller.errors import Conflict, NotFound
from serving.batch.controller.jobs import JobSpec
from serving.batch.controller.scheduler import part_path
from serving.batch.controller.store import LOST_NODES_FORGIVEN, STICKY_S, Store
from serving.batch.controller.store_rows import AcceptedPart
from serving.batch.protocol import Completion, JobSettings, Lease, LeaseRequest, PartRange


def _spec(name: str = "job-1", deployment: str = "blue", **settings: object) -> JobSpec:
    return JobSpec(
        name=name,
        endpoint="ep",
        deployment=deployment,
        settings=JobSettings.model_validate(
            {"retry_settings": {"max_retries": 1, "timeout": 30}, **settings}
        ),
        input_name="d",
        input_kind="UriFolder",
        input_uri="azureml://datastores/data/paths/in/",
        output_uri="azureml://datastores/workspaceblobstore/paths/azureml/x/score/",
        output_folder_uri="azureml://datastores/workspaceblobstore/paths/azureml/x/score/",
        output_folder="/out",
        output_file="/out/predictions.csv",
        job_folder=f"/jobs/{name}",
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "jobs.sqlite3")


def _lease(
    store: Store, node: str = "n1", now: float = 0.0, job: str | None = None, deployment: str = "blue"
) -> Lease:
    leases = store.lease(LeaseRequest(node=node, deployment=deployment, process=0, job=job), now, part_path)
    assert len(leases) == 1
    return leases[0]


def _ok(lease: Lease, node: str = "n1", rows: int = 1) -> Completion:
    return Completion(token=lease.token, node=node, process=0, outcome="succeeded", rows=rows)


def _failed(lease: Lease, kind: str = "exception") -> Completion:
    return Completion(token=lease.token, node="n1", process=0, outcome="failed", failure=kind, error="boom")  # type: ignore[arg-type]


def always(_: str, __: int) -> bool:
    return True


def test_leases_hand_mini_batches_in_order_with_unique_part_paths(store: Store) -> None:
    store.create_job(_spec(), [["a", "b"], ["c"]], now=0)
    first, second = _lease(store), _lease(store)
    assert (first.minibatch, first.files, first.attempt) == (0, ["a", "b"], 0)
    assert (second.minibatch, second.files) == (1, ["c"])
    assert first.part_path != second.part_path and first.token != second.token
    assert first.timeout_s == 30 and first.output_path == "/out" and first.user_log_dir == "/jobs/job-1"
    assert store.lease(LeaseRequest(node="n1", deployment="blue", process=1), 0, part_path) == []
    assert store.job("job-1").status == "Running"


def test_a_stale_token_is_refused_and_the_same_token_is_idempotent(store: Store) -> None:
    store.create_job(_spec(), [["a"]], now=0)
    lease = _lease(store)
    assert store.complete(_ok(lease), 1, always) is True
    assert store.complete(_ok(lease), 2, always) is True  # repeated: same answer, no double count
    assert store.counts("job-1").rows == 1
    assert (
        store.complete(Completion(token="forged", node="n1", process=0, outcome="succeeded"), 2, always)
        is False
    )


def test_expired_leases_are_requeued_without_counting_a_failure(store: Store) -> None:
    store.create_job(_spec(), [["a"]], now=0)
    old = _lease(store, now=0)
    assert store.expire(now=5, expiry_s=6) == []
    assert store.expire(now=7, expiry_s=6) == [("job-1", 0)]
    assert store.heartbeat([old.token], now=8) == [old.token]  # its node is told to stop
    new = _lease(store, node="n2", now=8)
    assert (new.minibatch, new.attempt) == (0, 1)
    assert new.part_path != old.part_path
    assert store.complete(_ok(old), 9, always) is False  # the old attempt can never be accepted
    assert store.complete(_ok(new, node="n2"), 9, always) is True
    batch = store.minibatches("job-1")[0]
    assert (batch.state, batch.failures, batch.part_path) == ("succeeded", 0, new.part_path)
    assert [a.outcome for a in store.attempts("job-1")] == ["expired", "succeeded"]
    lost = store.attempts("job-1")[0].error
    assert lost == "lost: its node n1 sent no heartbeat for 6 s; the mini-batch runs again", lost


def test_leases_of_gone_nodes_are_requeued_and_no_others(store: Store) -> None:
    store.create_job(_spec(instance_count=2), [["a"], ["b"]], now=0)
    gone, kept = _lease(store, node="n1", now=0), _lease(store, node="n2", now=0)
    assert store.release_gone_nodes(set(), now=1) == []
    assert store.release_gone_nodes({"n1", "n9"}, now=1) == [("job-1", gone.minibatch)]
    states = {b.idx: b.state for b in store.minibatches("job-1")}
    assert states == {gone.minibatch: "pending", kept.minibatch: "leased"}
    assert store.complete(_ok(gone), 2, always) is False


def test_a_refused_late_report_of_a_gone_node_does_not_make_it_the_job_s_node_again(store: Store) -> None:
    store.create_job(_spec(instance_count=1), [["a"], ["b"]], now=0)
    gone = _lease(store, node="n1", now=0)
    assert store.release_gone_nodes({"n1"}, now=1) == [("job-1", gone.minibatch)]
    assert store.complete(_ok(gone), 2, always) is False  # its report came after all
    # instance_count 1: the job's one node is whichever takes it now, not the gone one.
    assert _lease(store, node="n2", now=2).minibatch == gone.minibatch


def test_a_mini_batch_that_keeps_losing_its_node_fails_at_last(store: Store) -> None:
    # max_retries 1: after LOST_NODES_FORGIVEN free losses, two counted ones fail it.
    store.create_job(_spec(), [["a"]], now=0)
    now = 0.0
    for _ in range(LOST_NODES_FORGIVEN + 2):
        _lease(store, now=now)
        now += 10
        assert store.expire(now=now, expiry_s=6) == [("job-1", 0)]
    batch = store.minibatches("job-1")[0]
    assert (batch.state, batch.failures, batch.failure) == ("failed", 2, "worker_died")
    assert "lost 5 times" in (batch.last_error or "")
    assert store.lease(LeaseRequest(node="n1", deployment="blue", process=0), now, part_path) == []


def test_heartbeats_keep_a_lease_alive(store: Store) -> None:
    store.create_job(_spec(), [["a"]], now=0)
    lease = _lease(store, now=0)
    assert store.heartbeat([lease.token], now=5) == []
    assert store.expire(now=10, expiry_s=6) == []
    assert store.expire(now=12, expiry_s=6) == [("job-1", 0)]


def test_failures_retry_up_to_max_retries_then_the_mini_batch_fails(store: Store) -> None:
    store.create_job(_spec(), [["a", "b"], ["c"]], now=0)
    for attempt in range(2):  # max_retries 1: two tries
        lease = _lease(store)
        assert (lease.minibatch, lease.attempt) == (0, attempt)
        assert store.complete(_failed(lease, "timeout"), 1, always) is True
    batch = store.minibatches("job-1")[0]
    assert (batch.state, batch.failures, batch.failure, batch.last_error) == ("failed", 2, "timeout", "boom")
    assert store.job("job-1").failed_files == 2
    assert store.job("job-1").error is None  # threshold -1 ignores failures
    assert _lease(store).minibatch == 1


def test_a_job_is_drained_once_nothing_is_pending_or_leased(store: Store) -> None:
    store.create_job(_spec(), [["a"], ["b"]], now=0)
    first, second = _lease(store), _lease(store)
    assert store.complete(_ok(first), 1, always) is True
    assert store.drained(first.token) is False  # the second is still leased
    assert store.complete(_failed(second), 1, always) is True
    assert store.drained(second.token) is False  # its failed try is pending again (max_retries 1)
    retry = _lease(store)
    assert store.complete(_failed(retry), 2, always) is True
    assert store.drained(retry.token) is True  # out of retries: failed, nothing left to run


def test_exceeding_the_error_threshold_abandons_the_rest(store: Store) -> None:
    store.create_job(
        _spec(error_threshold=1, retry_settings={"max_retries": 0}), [["a", "b"], ["c"], ["d"]], now=0
    )
    failing, running = _lease(store), _lease(store)
    assert store.complete(_failed(failing, "too_few_rows"), 1, always) is True
    job = store.job("job-1")
    assert job.failed_files == 2 and job.error == "error_threshold 1 exceeded: 2 input files failed."
    assert store.heartbeat([running.token], 2) == [running.token]
    assert store.complete(_ok(running), 2, always) is False
    assert store.lease(LeaseRequest(node="n1", deployment="blue", process=0), 2, part_path) == []
    assert store.settle() == ["job-1"]
    assert [b.state for b in store.minibatches("job-1")] == ["failed", "canceled", "canceled"]


def test_a_success_without_its_part_file_counts_as_a_failed_try(store: Store) -> None:
    store.create_job(_spec(), [["a"]], now=0)
    lease = _lease(store)
    assert store.complete(_ok(lease), 1, lambda path, size: False) is True
    batch = store.minibatches("job-1")[0]
    assert (batch.state, batch.failures) == ("pending", 1)
    assert "part file" in (batch.last_error or "")


def test_instance_count_caps_the_nodes_a_job_runs_on(store: Store) -> None:
    store.create_job(_spec(instance_count=1), [["a"], ["b"], ["c"]], now=0)
    _lease(store, node="n1")
    assert store.lease(LeaseRequest(node="n2", deployment="blue", process=0), 0, part_path) == []
    assert _lease(store, node="n1").minibatch == 1  # another worker of the same node


def test_a_job_keeps_to_its_nodes_between_mini_batches(store: Store) -> None:
    # n1 holds no lease for a moment between two mini-batches: n2 must not take the job over.
    store.create_job(_spec(instance_count=1), [["a"], ["b"], ["c"]], now=0)
    first = _lease(store, node="n1", now=0)
    assert store.complete(_ok(first), 1, always) is True
    other = LeaseRequest(node="n2", deployment="blue", process=0)
    assert store.lease(other, 1.001, part_path) == []
    assert _lease(store, node="n1", now=1.002).minibatch == 1
    # A node silent for longer than a lease lasts is not the job's any more: another may take over.
    assert store.lease(other, 1.002 + STICKY_S + 1, part_path) == []  # n1 holds a lease still
    assert store.expire(now=1.002 + STICKY_S + 1, expiry_s=STICKY_S) == [("job-1", 1)]
    assert store.lease(other, 1.002 + STICKY_S + 2, part_path) != []


def test_oldest_job_first_and_bound_workers_only_get_their_job(store: Store) -> None:
    store.create_job(_spec("old"), [["a"]], now=0)
    store.create_job(_spec("new"), [["b"]], now=1)
    store.create_job(_spec("other", deployment="green"), [["c"]], now=2)
    assert _lease(store, job="new").job == "new"
    assert _lease(store).job == "old"
    assert store.lease(LeaseRequest(node="n1", deployment="blue", process=0), 0, part_path) == []
    assert _lease(store, deployment="green").job == "other"


def test_cancel_abandons_work_and_refuses_finished_jobs(store: Store) -> None:
    store.create_job(_spec(), [["a"], ["b"]], now=0)
    lease = _lease(store)
    store.cancel("job-1", now=1)
    store.cancel("job-1", now=2)  # again: nothing to do
    assert store.job("job-1").status == "Canceled"
    assert store.heartbeat([lease.token], 2) == [lease.token]
    assert store.complete(_ok(lease), 2, always) is False
    assert store.settle() == ["job-1"]
    store.finish("job-1", "Canceled", "Canceled on request.", 3)
    store.create_job(_spec("done"), [["a"]], now=0)
    store.complete(_ok(_lease(store)), 1, always)
    store.settle()
    store.finish("done", "Completed", None, 2)
    with pytest.raises(Conflict, match="is Completed"):
        store.cancel("done", 3)
    with pytest.raises(NotFound, match="no job named 'nope'"):
        store.cancel("nope", 3)


def test_duplicate_job_names_are_refused(store: Store) -> None:
    store.create_job(_spec(), [["a"]], now=0)
    with pytest.raises(Conflict, match="already exists"):
        store.create_job(_spec(), [["a"]], now=0)


def test_state_survives_a_restart_and_leases_get_a_fresh_expiry(tmp_path: Path) -> None:
    first = Store(tmp_path / "jobs.sqlite3")
    first.create_job(_spec(), [["a"], ["b"]], now=0)
    lease = _lease(first, now=0)
    first.complete(_ok(_lease(first, now=0)), 1, always)
    # No close(): the process was killed. A new store on the same file sees every committed step.
    second = Store(tmp_path / "jobs.sqlite3")
    assert second.recover(now=100) == 1
    assert second.expire(now=105, expiry_s=6) == []  # the lease has LEASE_EXPIRY_S from the restart
    assert second.complete(_ok(lease), 106, always) is True
    assert [b.state for b in second.minibatches("job-1")] == ["succeeded", "succeeded"]
    assert second.settle() == ["job-1"]
    assert second.job("job-1").status == "Finalizing"


def test_a_bundle_is_settled_in_one_transaction_and_a_stale_member_is_refused_alone(store: Store) -> None:
    store.create_job(_spec(), [[f"f{i}"] for i in range(20)], now=0)
    ask = LeaseRequest(node="n1", deployment="blue", process=0, max_minibatches=8)
    first = store.lease(ask, 0, part_path)
    assert [lease.minibatch for lease in first] == [0]  # one at a time until the job's pace is known
    done = _ok(first[0]).model_copy(update={"elapsed_s": 0.01})
    assert store.complete_all([done], 1, always) == [True]
    bundle = store.lease(ask, 1, part_path)
    assert [lease.minibatch for lease in bundle] == list(range(1, 9))  # 8 asked, 19 pending, one worker
    assert len({lease.token for lease in bundle}) == len({lease.part_path for lease in bundle}) == 8
    # Mini-batch 1's lease is taken back and handed again; the first bundle's report then carries
    # one stale attempt: the others are accepted, that one alone refused, in one transaction.
    store.heartbeat([lease.token for lease in bundle[1:]], 50)
    assert store.expire(50, 10) == [("job-1", 1)]
    (again,) = store.lease(LeaseRequest(node="n1", deployment="blue", process=1), 50, part_path)
    assert again.minibatch == 1 and again.attempt == 1
    ran = [_ok(lease).model_copy(update={"started_at": 50.0 + i * 0.1, "elapsed_s": 0.1}) for i, lease in
           enumerate(bundle)]  # fmt: skip
    answers = store.complete_all(ran, 51, always)
    assert answers == [False] + [True] * 7
    assert store.counts("job-1").minibatches["succeeded"] == 8
    # The job report shows when each bundled run() ran, not the bundle's one lease time.
    times = {(a.idx, a.attempt): (a.started_at, a.ended_at) for a in store.attempts("job-1")}
    assert times[(2, 0)] == pytest.approx((50.1, 50.2)) and times[(8, 0)] == pytest.approx((50.7, 50.8))


def test_a_new_job_s_first_bundles_go_by_its_deployment_s_last_pace(store: Store) -> None:
    ask = LeaseRequest(node="n1", deployment="blue", process=0, max_minibatches=128)
    store.create_job(_spec("job-1"), [[f"f{i}"] for i in range(2)], now=0)
    (first,) = store.lease(ask, 0, part_path)
    assert store.complete_all([_ok(first).model_copy(update={"elapsed_s": 0.004})], 1, always) == [True]
    # The next job of the deployment starts with a bundle of CARRIED_TARGET_S (0.1 s) at 4 ms each ...
    store.create_job(_spec("job-2"), [[f"g{i}"] for i in range(500)], now=2)
    store.create_job(_spec("job-3", deployment="green"), [[f"h{i}"] for i in range(500)], now=2)
    bundle = store.lease(ask.model_copy(update={"job": "job-2"}), 3, part_path)
    assert [lease.minibatch for lease in bundle] == list(range(25))
    # ... and another deployment's job, with no pace of its own, one mini-batch at a time, as does a
    # job of the same deployment with mini-batches of another size (mini_batch_size overridden).
    green = ask.model_copy(update={"deployment": "green"})
    assert [lease.minibatch for lease in store.lease(green, 3, part_path)] == [0]
    store.create_job(_spec("job-4", mini_batch_size=5), [[f"k{i}"] for i in range(100)], now=2)
    assert len(store.lease(ask.model_copy(update={"job": "job-4"}), 3, part_path)) == 1
    # Once job-2's own pace is known, its bundles fill BUNDLE_TARGET_S (or a worker's share).
    ran = [_ok(lease).model_copy(update={"elapsed_s": 0.004}) for lease in bundle]
    assert store.complete_all(ran, 4, always) == [True] * 25
    assert len(store.lease(ask.model_copy(update={"job": "job-2"}), 4, part_path)) == 125  # 0.5 s / 4 ms


def test_bundles_go_by_the_job_s_mean_pace_not_by_its_last_cheap_mini_batches(store: Store) -> None:
    # 21 mini-batches of 20 ms, then 40 of 0.5 ms (a folder of small files): the mean is 7.2 ms, so
    # 0.5 s of work is 69 of them; a moving average over the last ones said 0.5 ms, i.e. the node's 128.
    store.create_job(_spec(), [[f"f{i}"] for i in range(300)], now=0)
    ask = LeaseRequest(node="n1", deployment="blue", process=0, max_minibatches=20)
    for elapsed in (0.02, 0.02, 0.0005, 0.0005):
        held = store.lease(ask, 0, part_path)
        done = [_ok(lease).model_copy(update={"elapsed_s": elapsed}) for lease in held]
        assert all(store.complete_all(done, 1, always))
    assert store.counts("job-1").minibatches["succeeded"] == 1 + 20 + 20 + 20  # the first one alone
    bundle = store.lease(ask.model_copy(update={"max_minibatches": 128}), 2, part_path)
    assert len(bundle) == int(0.5 / ((21 * 0.02 + 40 * 0.0005) / 61)) == 69


def test_a_report_settles_in_order_when_a_failure_ends_the_job_midway(store: Store) -> None:
    # Successes are written together, but a failure that exceeds error_threshold cancels the rest of
    # the job at its place in the report: a later success is refused, as if settled one by one.
    store.create_job(
        _spec(error_threshold=0, retry_settings={"max_retries": 0}), [[f"f{i}"] for i in range(12)], now=0
    )
    ask = LeaseRequest(node="n1", deployment="blue", process=0, max_minibatches=8)
    (first,) = store.lease(ask, 0, part_path)
    assert store.complete_all([_ok(first).model_copy(update={"elapsed_s": 0.001})], 1, always) == [True]
    bundle = store.lease(ask, 1, part_path)
    assert [lease.minibatch for lease in bundle] == list(range(1, 9))  # the node asked for 8 at most
    report = [_ok(bundle[0]), _ok(bundle[1]), _failed(bundle[2]), _ok(bundle[3]), _ok(bundle[0])]
    assert store.complete_all(report, 2, always) == [True, True, True, False, True]
    states = [b.state for b in store.minibatches("job-1")]
    assert states == ["succeeded", "succeeded", "succeeded", "failed"] + ["canceled"] * 8
    assert store.job("job-1").error == "error_threshold 0 exceeded: 1 input files failed."
    outcomes = {a.idx: (a.outcome, a.accepted) for a in store.attempts("job-1")}
    assert outcomes[2] == ("succeeded", True) and outcomes[4] == ("canceled", False)


def test_a_bundle_s_rows_are_ranges_of_one_part_file_and_other_files_are_refused(store: Store) -> None:
    store.create_job(_spec(), [[f"f{i}"] for i in range(3)], now=0)
    ask = LeaseRequest(node="n1", deployment="blue", process=0, max_minibatches=8)
    leases = [
        *store.lease(ask, 0, part_path),
        *store.lease(ask, 0, part_path),
        *store.lease(ask, 0, part_path),
    ]
    bundle_file = leases[0].part_path
    sizes: dict[str, int] = {}

    def holds(path: str, size: int) -> bool:
        sizes[path] = size
        return size <= 10

    ranged = [
        _ok(leases[0]).model_copy(update={"part": PartRange(path=bundle_file, offset=0, length=4)}),
        _ok(leases[1]).model_copy(update={"part": PartRange(path=bundle_file, offset=4, length=6)}),
        # a range past the file's end, and a file outside the job's parts folder: both refused
        _ok(leases[2]).model_copy(update={"part": PartRange(path=bundle_file, offset=10, length=1)}),
    ]
    assert store.complete_all(ranged, 1, holds) == [True, True, True]
    assert sizes == {bundle_file: 11}
    assert store.accepted_parts("job-1") == [
        AcceptedPart(0, bundle_file, 0, 4), AcceptedPart(1, bundle_file, 4, 6),
    ]  # fmt: skip
    third = store.minibatches("job-1")[2]
    assert third.state == "pending" and "missing or short" in (third.last_error or "")
    (again,) = store.lease(ask, 2, part_path)
    forged = _ok(again).model_copy(update={"part": PartRange(path="/etc/passwd", offset=0, length=1)})
    assert store.complete(forged, 3, always) is True
    assert "not a part file of this job" in (store.minibatches("job-1")[2].last_error or "")


def test_a_store_from_before_ranges_gets_their_columns(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.db")
    db.executescript(
        "CREATE TABLE minibatches (job TEXT NOT NULL, idx INTEGER NOT NULL, files TEXT NOT NULL,"
        " nfiles INTEGER NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, token TEXT,"
        " node TEXT, process INTEGER, heartbeat_at REAL, leased_at REAL, failures INTEGER NOT NULL DEFAULT 0,"
        " failure TEXT, last_error TEXT, elapsed REAL, rows INTEGER, part_path TEXT, PRIMARY KEY (job, idx))"
        " WITHOUT ROWID;"
        "INSERT INTO minibatches (job, idx, files, nfiles, state, part_path)"
        " VALUES ('old', 0, '[\"f\"]', 1, 'succeeded', '/p/mb000000-a0.part');"
    )
    db.close()
    store = Store(tmp_path / "old.db")
    assert store.accepted_parts("old") == [AcceptedPart(0, "/p/mb000000-a0.part", 0, None)]


def _ran(lease: Lease, nbytes: int) -> Completion:
    """A success that took 1 ms plus 1.2 ms per KB of input (the heart-classifier driver's shape)."""
    return _ok(lease).model_copy(update={"elapsed_s": 0.001 + nbytes * 1.2e-6})


def test_bundles_are_sized_by_the_work_their_bytes_predict(store: Store) -> None:
    ask = LeaseRequest(node="n1", deployment="blue", process=0, max_minibatches=128)
    sizes = [8400, 410, 8400, 410]
    store.create_job(
        _spec("job-1", instance_count=2, max_concurrency_per_instance=2),
        [[f"f{i}"] for i in range(4)],
        now=0,
        nbytes=sizes,
    )
    one = ask.model_copy(update={"max_minibatches": 1})
    for nbytes in sizes:
        (lease,) = store.lease(one, 0, part_path)
        assert store.complete_all([_ran(lease, nbytes)], 1, always) == [True]
    # The next job ends in 9 expensive mini-batches and 25 cheap ones. Counted, a worker's share of 34
    # is 8, all expensive: 89 ms while the rest is 48 ms. In work (137 ms over 4 workers) it is three.
    sizes = [8400] * 9 + [410] * 25
    store.create_job(
        _spec("job-2", instance_count=2, max_concurrency_per_instance=2),
        [[f"g{i}"] for i in range(34)],
        now=2,
        nbytes=sizes,
    )
    job2 = ask.model_copy(update={"job": "job-2"})
    assert [lease.minibatch for lease in store.lease(job2, 3, part_path)] == [0, 1, 2]
    # The shares shrink with the work left (104 ms: two; 82 ms: one ...); the cheap ones then go
    # together, up to the floor of 10 ms of work (7 x 1.5 ms), not one per round trip.
    sizes_handed = [len(store.lease(job2, 3, part_path)) for _ in range(9)]
    assert sizes_handed == [2, 1, 1, 1, 1, 7, 7, 7, 4]


def test_a_restarted_store_reads_the_sizes_back(tmp_path: Path) -> None:
    first = Store(tmp_path / "jobs.sqlite3")
    two = _spec(instance_count=2)  # 2 workers
    first.create_job(two, [[f"f{i}"] for i in range(40)], now=0, nbytes=[8400, 410] * 20)
    second = Store(tmp_path / "jobs.sqlite3")  # the first was killed: its pace is gone with it
    ask = LeaseRequest(node="n1", deployment="blue", process=0, max_minibatches=128)
    assert len(second.lease(ask, 0, part_path)) == 1  # one at a time until a pace is measured again
    second.expire(100, 10)
    for nbytes in (8400, 410):
        (lease,) = second.lease(ask.model_copy(update={"max_minibatches": 1}), 100, part_path)
        assert second.complete_all([_ran(lease, nbytes)], 1, always) == [True]
    # 38 pending, 11.1 and 1.5 ms in turn: 239 ms over 2 workers is 119 ms, 18 of them from 2 on.
    bundle = second.lease(ask, 2, part_path)
    assert [lease.minibatch for lease in bundle] == list(range(2, 20))


def test_a_store_of_an_older_controller_gets_the_sizes_column_and_weighs_its_jobs_alike(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"
    two = _spec(instance_count=2)  # 2 workers
    Store(path).create_job(two, [[f"f{i}"] for i in range(20)], now=0, nbytes=[100, 9000] * 10)
    with sqlite3.connect(path) as db:  # as an older controller left it: no nbytes column
        db.execute("ALTER TABLE minibatches DROP COLUMN nbytes")
    store = Store(path)
    ask = LeaseRequest(node="n1", deployment="blue", process=0, max_minibatches=128)
    for elapsed in (0.002, 0.010):
        (lease,) = store.lease(ask.model_copy(update={"max_minibatches": 1}), 0, part_path)
        done = _ok(lease).model_copy(update={"elapsed_s": elapsed})
        assert store.complete_all([done], 1, always) == [True]
    # Sizes unknown: every mini-batch costs the mean, 6 ms; a share of 18 over 2 workers is 9.
    assert len(store.lease(ask, 2, part_path)) == 9
