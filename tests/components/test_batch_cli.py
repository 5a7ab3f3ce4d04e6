"""`mle batch` commands against the real controller running in-process (fake stack outputs and nodes)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components import batch_progress, endpoint_cli
from components.batch_inputs import content_hash
from components.batch_jobs_api import JobsApi
from serving.batch.controller.app import Controller
from serving.batch.controller.settings import ControllerSettings
from tests.components.test_batch_inputs import _tree
from tests.components.test_batch_progress import _job
from tests.serving.batch.controller.helpers import (
    ENDPOINT,
    NODE_SECRET,
    TOKEN_SECRET,
    FakeNode,
    config,
    deployment,
    write_config,
)

# ---------------------------------------------------------------- the commands against a real controller


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Controller, Path]]:
    root = tmp_path / "datastores"
    (root / "workspaceblobstore").mkdir(parents=True)
    (root / "data").mkdir()
    config_path = tmp_path / "controller.json"
    write_config(config_path, config(deployment("blue", mini_batch_size=2), deployment("green")))
    secrets = tmp_path / "secrets.json"
    secrets.write_text(
        json.dumps({"primary_key": "k" * 24, "secondary_key": "s" * 24, "token_secret": TOKEN_SECRET})
    )
    settings = ControllerSettings.model_validate(
        {
            "config": config_path, "state_dir": tmp_path / "state", "datastores_root": root,
            "host": "127.0.0.1", "port": 0, "internal_host": "127.0.0.1", "internal_port": 0,
            "node_secret": NODE_SECRET, "secrets_file": secrets, "tick_interval_s": 0.02,
            "progress_interval_s": 0.05,
        }
    )  # fmt: skip
    controller = Controller(settings)
    controller.start()
    yield controller, root
    controller.stop()


def _outputs(port: int, root: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A stack with an online endpoint and the batch endpoint (token auth, as the example's)."""
    return {
        "shop.scoring_uri": "http://127.0.0.1:1/score",
        "shop.auth_mode": "key",
        "shop.primary_key": "online-key",
        f"{ENDPOINT}.kind": "batch",
        f"{ENDPOINT}.invoke_uri": f"http://127.0.0.1:{port}/jobs",
        f"{ENDPOINT}.auth_mode": "aad_token",
        f"{ENDPOINT}.token_secret": TOKEN_SECRET,
        f"{ENDPOINT}.primary_key": "k" * 24,
        f"{ENDPOINT}.default_deployment": "blue",
        f"{ENDPOINT}.deployments": {"blue": "Succeeded", "green": "Succeeded"},
        f"{ENDPOINT}.controller_container": f"{ENDPOINT}-controller",
        f"{ENDPOINT}.datastores": {
            "workspaceblobstore": str(root / "workspaceblobstore"),
            "data": str(root / "data"),
        },
        **(extra or {}),
    }


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def mle(
    running: tuple[Controller, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    controller, root = running
    monkeypatch.setattr(
        endpoint_cli, "stack_outputs", lambda stack, secrets=False: _outputs(controller.public_port, root)
    )
    monkeypatch.setattr(batch_progress, "POLL_INTERVAL_S", 0.01)

    def run(*argv: str) -> tuple[int, str, str]:
        code = endpoint_cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


class _Nodes:
    """Fake nodes working in a thread while a command runs (they write one row per file)."""

    def __init__(self, port: int, deployment: str = "blue") -> None:
        self.nodes = [
            FakeNode(port, name=f"{ENDPOINT}-{deployment}-node-{i}", process=i, deployment=deployment)
            for i in range(2)
        ]
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._loop, args=(n,), daemon=True) for n in self.nodes]

    def _loop(self, node: FakeNode) -> None:
        try:
            while not self.stop.is_set():
                if not node.step():
                    self.stop.wait(0.01)
        except BaseException as exc:
            self.errors.append(exc)

    def __enter__(self) -> _Nodes:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not self.errors, self.errors


def test_invoke_wait_uploads_runs_and_ends_with_the_output_path(
    mle: Run, running: tuple[Controller, Path], tmp_path: Path
) -> None:
    controller, root = running
    data = _tree(tmp_path / "inputs", {f"f{i}.txt": str(i) for i in range(5)})
    with _Nodes(controller.internal_port):
        code, out, err = mle("batch", "invoke", "--input", str(data), "--wait", "--set", "max_retries=2")
    assert code == 0, err
    lines = out.splitlines()
    name = lines[0]
    assert name.startswith("batchjob-")
    output = root / "workspaceblobstore" / "azureml" / name / "score" / "predictions.csv"
    assert lines[1] == f"job {name}: Completed" + lines[1].split("Completed")[1]
    assert "mini-batches: 3 succeeded, 0 failed of 3; files: 5 of 5 succeeded; rows: 5" in out
    assert f"output: {output}" in out
    assert sorted(output.read_text().splitlines()) == [f"f{i}.txt,{i}" for i in range(5)]
    assert (
        f"input {data} (5 files, uploaded): azureml://datastores/workspaceblobstore/paths/LocalUpload/" in err
    )
    assert "3/3 mini-batches" in err and "Completed: 100%" in err  # the bar, on stderr
    job = json.loads(mle("batch", "show", name, "--json")[1])
    assert job["properties"]["retrySettings"]["maxRetries"] == 2
    assert job["properties"]["inputData"]["input_data"]["uri"].endswith(f"/{content_hash(data)}/inputs/")


def test_invoke_prints_the_job_name_at_once_and_show_list_cancel_follow_it(
    mle: Run, running: tuple[Controller, Path], tmp_path: Path
) -> None:
    _, root = running
    data = _tree(tmp_path / "inputs", {f"f{i}.txt": str(i) for i in range(4)})
    code, out, _ = mle("batch", "invoke", ENDPOINT, "--input", str(data), "--deployment", "green")
    assert code == 0
    name = out.strip()
    code, out, _ = mle("batch", "show", name)
    assert code == 0
    assert f"job:          {name}" in out and "status:       Queued" in out
    assert "deployment:   green" in out and "mini-batches: 0 of 1 settled" in out
    host = root / "workspaceblobstore" / "LocalUpload" / content_hash(data) / "inputs"
    assert f"host: {host}" in out
    assert "output file:  azureml://datastores/workspaceblobstore/paths/azureml/" in out
    assert "predictions.csv (not there)" in out
    code, out, _ = mle("batch", "list")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "STATUS", "DEPLOYMENT", "CREATED", "(UTC)", "MINI-BATCHES", "ROWS"]
    assert row.split()[:3] == [name, "Queued", "green"] and row.split()[-2:] == ["0/1", "0"]
    assert mle("batch", "list", "--deployment", "blue")[1].startswith("no jobs on endpoint")
    code, out, _ = mle("batch", "cancel", name)
    assert (code, out) == (0, f"job {name}: Canceled\n")
    code, out, err = mle("batch", "cancel", name)
    assert code == 0
    code, out, err = mle("batch", "show", name, "--wait")
    assert code == 1 and f"job {name}: Canceled" in out and "error: Canceled on request." in out
    code, _, err = mle("batch", "show", "no-such-job")
    assert (
        code == 1
        and err == "mle: endpoint batch-ep answered 404: no job named 'no-such-job' on this endpoint\n"
    )


def test_logs_print_the_job_files_and_the_chosen_nodes_user_logs(
    mle: Run, running: tuple[Controller, Path], tmp_path: Path
) -> None:
    controller, root = running
    data = _tree(tmp_path / "inputs", {f"f{i}.txt": str(i) for i in range(2)})
    with _Nodes(controller.internal_port):
        code, out, err = mle("batch", "invoke", "--input", str(data), "--wait")
    assert code == 0, err
    name = out.splitlines()[0]
    logs = root / "workspaceblobstore" / "azureml" / name / "logs"
    for node, text in (
        ("batch-ep-blue-node-aa11", "hello from aa11\n"),
        ("batch-ep-blue-node-bb22", "hi bb22\n"),
    ):
        _tree(
            logs / "user",
            {
                f"stdout/{node}/process000.stdout.txt": "one\ntwo\n" + text,
                f"stderr/{node}/process000.stderr.txt": "",
            },
        )
    code, out, _ = mle("batch", "logs", name, "--node", "aa11", "--tail", "1")
    assert code == 0
    assert "==> logs/job_result.txt <==" in out and f"Job {name}: Completed" not in out  # --tail 1
    assert "==> logs/job_progress_overview." in out and "Completed: mini-batches 1 of 1 processed" in out
    assert "==> logs/user/stdout/batch-ep-blue-node-aa11/process000.stdout.txt <==\nhello from aa11\n" in out
    assert "bb22" not in out and "stderr" not in out  # other node; empty files left out
    code, out, _ = mle("batch", "logs", name)
    assert f"Job {name}: Completed" in out and "hi bb22" in out and "one\ntwo\nhello from aa11" in out
    assert "processed_mini-batches.csv" in out
    code, _, err = mle("batch", "logs", name, "--node", "zz")
    assert (
        code == 1
        and "no node 'zz' in the job's user logs; nodes: batch-ep-blue-node-aa11, batch-ep-blue-node-bb22"
        in err
    )
    code, _, err = mle("batch", "logs", name, "--node", "node")
    assert code == 1 and "matches several nodes" in err


def test_download_copies_the_score_folder_and_never_overwrites_by_accident(
    mle: Run, running: tuple[Controller, Path], tmp_path: Path
) -> None:
    controller, root = running
    data = _tree(tmp_path / "inputs", {f"f{i}.txt": str(i) for i in range(3)})
    with _Nodes(controller.internal_port):
        code, out, err = mle("batch", "invoke", "--input", str(data), "--wait")
    assert code == 0, err
    name = out.splitlines()[0]
    score = root / "workspaceblobstore" / "azureml" / name / "score"
    _tree(score, {"custom/extra.json": "{}", ".predictions.csv.tmp": "half"})  # a driver's custom output
    target = tmp_path / "downloaded"
    code, out, err = mle("batch", "download", name, "--output", str(target))
    assert code == 0, err
    assert out.startswith("copied 2 file(s), ") and f"output file: {target / 'predictions.csv'}" in out
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "custom/extra.json",
        "predictions.csv",
    ]
    (target / "predictions.csv").write_text("mine")
    code, _, err = mle("batch", "download", name, "--output", str(target))
    assert (
        code == 1
        and err
        == f"mle: {target / 'custom/extra.json'} already exists (and 1 more); pass --overwrite to replace\n"
    )
    assert (target / "predictions.csv").read_text() == "mine"
    assert mle("batch", "download", name, "--output", str(target), "--overwrite")[0] == 0
    assert (target / "predictions.csv").read_text() == (score / "predictions.csv").read_text()


def test_errors_are_one_line_with_the_controllers_message(mle: Run, tmp_path: Path) -> None:
    data = _tree(tmp_path / "inputs", {"a.txt": "1"})
    cases = {
        ("batch", "invoke", "--input", str(data), "--deployment", "purple"): (
            "answered 404: deployment 'purple' does not exist on endpoint batch-ep; "
            "its deployments: blue, green"
        ),
        ("batch", "invoke", "--input", str(data), "--set", "retries=2"): "--set retries: unknown override",
        ("batch", "invoke", "--input", "https://example.com/x"): "web and cloud URIs are not supported",
        ("batch", "invoke", "--input", "azureml://datastores/nope/paths/x"): (
            "answered 400: InputData.input_data: unknown datastore 'nope'; "
            "this endpoint has: data, workspaceblobstore"
        ),
        (
            "batch",
            "invoke",
            "shop",
            "--input",
            str(data),
        ): "shop is an online endpoint; batch endpoints: batch-ep",
        ("batch", "list", "nope"): "no batch endpoint 'nope' in the stack; batch endpoints: batch-ep",
    }
    for argv, message in cases.items():
        code, _, err = mle(*argv)
        assert code == 1 and message in err, (argv, err)
        # One error line, last (an upload says what it copied before the controller refuses).
        assert err.splitlines()[-1].startswith("mle: ") and err.count("mle: ") == 1, err
        assert "Traceback" not in err


def test_a_controller_that_does_not_answer_is_named_with_where_to_look(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setattr(endpoint_cli, "stack_outputs", lambda stack, secrets=False: _outputs(port, tmp_path))
    assert endpoint_cli.main(["batch", "show", "job-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"mle: the batch controller of batch-ep does not answer at http://127.0.0.1:{port}/jobs ("
    )
    assert "see `scripts/mle logs batch-ep` or `docker logs batch-ep-controller`" in err
    assert err.count("\n") == 1
    # The job's logs are files on this machine: they are read all the same.
    _tree(tmp_path / "workspaceblobstore/azureml/job-1/logs", {"job_result.txt": "Job job-1: Failed\n"})
    assert endpoint_cli.main(["batch", "logs", "job-1"]) == 0
    captured = capsys.readouterr()
    assert "does not answer" in captured.err and "reading the job folder directly" in captured.err
    assert "==> logs/job_result.txt <==\nJob job-1: Failed\n" in captured.out
    assert endpoint_cli.main(["batch", "logs", "../job-1"]) == 1
    assert capsys.readouterr().err == "mle: '../job-1' is not a job name (letters, digits, '-' and '_')\n"


def test_the_endpoint_may_be_left_out_only_when_the_stack_has_one_batch_endpoint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outputs = _outputs(1, tmp_path, {"other.kind": "batch", "other.invoke_uri": "http://127.0.0.1:1/jobs"})
    monkeypatch.setattr(endpoint_cli, "stack_outputs", lambda stack, secrets=False: outputs)
    assert endpoint_cli.main(["batch", "show", "job-1"]) == 1
    assert "several batch endpoints, name one with --endpoint: batch-ep, other" in capsys.readouterr().err
    monkeypatch.setattr(endpoint_cli, "stack_outputs", lambda stack, secrets=False: {"shop.scoring_uri": "u"})
    assert endpoint_cli.main(["batch", "list"]) == 1
    assert "the stack has no batch endpoint" in capsys.readouterr().err


def test_ctrl_c_while_waiting_leaves_the_job_running_and_says_how_to_follow_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    answers: list[Any] = [_job("Running", 1, 0, 4, 10, name="job-7"), KeyboardInterrupt()]

    def job(self: JobsApi, name: str) -> dict[str, Any]:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        result: dict[str, Any] = answer
        return result

    monkeypatch.setattr(JobsApi, "job", job)
    monkeypatch.setattr(batch_progress, "POLL_INTERVAL_S", 0)
    monkeypatch.setattr(endpoint_cli, "stack_outputs", lambda stack, secrets=False: _outputs(1, tmp_path))
    assert endpoint_cli.main(["batch", "show", "job-7", "--wait"]) == 130
    err = capsys.readouterr().err
    assert "1/4 mini-batches" in err
    assert err.rstrip().endswith(
        "stopped waiting; job job-7 keeps running. Follow it: scripts/mle batch show job-7 --wait; "
        "cancel it: scripts/mle batch cancel job-7"
    )
