"""`mle batch`: uploads, datastore paths, data assets, overrides, the invoke body, progress, and the
commands against the real controller running in-process (fake stack outputs, fake nodes)."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components import batch_cli, endpoint_cli
from components.batch_cli import (
    ControllerDown,
    Progress,
    ResolvedInput,
    build_body,
    content_hash,
    datastore_uri,
    host_path,
    load_data_asset,
    parse_overrides,
    resolve_input,
    resolve_output,
    upload,
    wait_for_job,
)
from components.endpoint_cli import CliError
from serving.batch.controller.app import Controller
from serving.batch.controller.invoke import Overrides, parse_invoke
from serving.batch.controller.settings import ControllerSettings
from tests.serving.batch.controller.helpers import (
    ENDPOINT,
    NODE_SECRET,
    TOKEN_SECRET,
    FakeNode,
    config,
    deployment,
    write_config,
)

CONFORMANCE_ASSET = (
    Path(__file__).resolve().parents[3]
    / "shared/conformance/azureml-examples/cli/endpoints/batch/deploy-models/heart-classifier-mlflow"
    / "heart-dataset-unlabeled.yml"
)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "stores" / "workspaceblobstore"
    path.mkdir(parents=True)
    return path


# ---------------------------------------------------------------- uploads


def test_upload_copies_once_under_the_content_hash(tmp_path: Path, store: Path) -> None:
    data = _tree(tmp_path / "data", {"a.csv": "1\n", "sub/b.csv": "2\n", ".hidden": "x", ".git/c": "y"})
    relative, copied, files = upload(data, store)
    digest = content_hash(data)
    assert (relative, copied, files) == (f"LocalUpload/{digest}/data", True, 2)
    target = store / relative
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "a.csv",
        "sub/b.csv",
    ]  # hidden files stay behind, as the controller skips them anyway
    # Same content again: the same folder, nothing copied.
    (target / "a.csv").write_text("changed behind our back")
    assert upload(data, store) == (relative, False, 2)
    assert (target / "a.csv").read_text() == "changed behind our back"
    # Hidden files do not change the hash; content and relative paths do.
    (data / ".hidden").write_text("other")
    assert content_hash(data) == digest
    (data / "a.csv").write_text("3\n")
    assert content_hash(data) != digest
    (data / "a.csv").write_text("1\n")
    (data / "sub" / "b.csv").rename(data / "b.csv")
    assert content_hash(data) != digest
    # Nothing half-copied is left beside the uploads.
    assert [p.name for p in (store / "LocalUpload").rglob(".*")] == []


def test_upload_of_a_file_and_the_same_bytes_under_another_name(tmp_path: Path, store: Path) -> None:
    one = _tree(tmp_path, {"one.csv": "x,y\n1,2\n"}) / "one.csv"
    two = _tree(tmp_path, {"two.csv": "x,y\n1,2\n"}) / "two.csv"
    first, copied, files = upload(one, store)
    second, _, _ = upload(two, store)
    assert copied and files == 1 and first.endswith("/one.csv") and second.endswith("/two.csv")
    assert Path(first).parent == Path(second).parent  # the hash is of the content only
    assert (store / first).read_text() == "x,y\n1,2\n"


def test_a_failed_upload_leaves_no_folder_that_looks_complete(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _tree(tmp_path / "data", {f"f{i}.csv": str(i) for i in range(3)})
    real_copy = shutil.copyfile
    copied: list[str] = []

    def flaky(src: Any, dst: Any, **kwargs: Any) -> Any:
        if copied:
            raise OSError(28, "No space left on device")
        copied.append(str(src))
        return real_copy(src, dst)

    monkeypatch.setattr(shutil, "copyfile", flaky)
    with pytest.raises(CliError, match=r"cannot upload .*No space left on device"):
        upload(data, store)
    digest_folder = store / "LocalUpload" / content_hash(data)
    assert list(digest_folder.iterdir()) == []  # neither the final name nor the temp copy
    monkeypatch.setattr(shutil, "copyfile", real_copy)
    relative, was_copied, _ = upload(data, store)
    assert was_copied and len(list((store / relative).iterdir())) == 3


def test_an_upload_racing_another_keeps_the_one_that_landed_first(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _tree(tmp_path / "data", {"a.csv": "1"})
    real_rename = os.rename

    def other_process_won(src: Any, dst: Any) -> None:
        Path(dst).mkdir()
        (Path(dst) / "a.csv").write_text("1")
        real_rename(src, dst)  # a non-empty folder is there: OSError

    monkeypatch.setattr(os, "rename", other_process_won)
    relative, _, _ = upload(data, store)
    assert sorted(p.name for p in (store / relative).parent.iterdir()) == ["data"]


# ---------------------------------------------------------------- datastore URIs <-> host paths


def test_uris_map_to_host_paths_and_back(tmp_path: Path) -> None:
    folders = {"workspaceblobstore": tmp_path / "ws", "inner": tmp_path / "ws" / "inner"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    uri = "azureml://datastores/workspaceblobstore/paths/azureml/job-1/score/predictions.csv"
    assert host_path(uri, folders) == tmp_path / "ws/azureml/job-1/score/predictions.csv"
    assert host_path("azureml://datastores/workspaceblobstore/paths/", folders) == tmp_path / "ws"
    long_form = (
        "azureml://subscriptions/s/resourcegroups/g/workspaces/w/datastores/workspaceblobstore/paths/a/b"
    )
    assert host_path(long_form, folders) == tmp_path / "ws/a/b"
    with pytest.raises(CliError, match="datastore 'nope' is not in the stack's outputs"):
        host_path("azureml://datastores/nope/paths/x", folders)
    with pytest.raises(CliError, match=r"'\.\.' is not allowed"):
        host_path("azureml://datastores/workspaceblobstore/paths/../etc", folders)
    assert datastore_uri(tmp_path / "ws/out/x", folders, folder=True) == (
        "azureml://datastores/workspaceblobstore/paths/out/x/"
    )
    # The most specific datastore wins.
    assert datastore_uri(tmp_path / "ws/inner/f.csv", folders) == "azureml://datastores/inner/paths/f.csv"
    assert datastore_uri(tmp_path / "elsewhere", folders) is None


def test_output_path_is_a_datastore_uri_or_a_folder_inside_one(tmp_path: Path) -> None:
    folders = {"workspaceblobstore": tmp_path / "ws"}
    (tmp_path / "ws").mkdir()
    assert resolve_output(str(tmp_path / "ws" / "runs" / "r1"), folders) == (
        "azureml://datastores/workspaceblobstore/paths/runs/r1/"
    )
    assert resolve_output("azureml://datastores/x/paths/y/", folders) == "azureml://datastores/x/paths/y/"
    with pytest.raises(CliError, match=r"in no datastore folder.*workspaceblobstore \("):
        resolve_output(str(tmp_path / "outside"), folders)
    with pytest.raises(CliError, match="web and cloud URIs are not supported"):
        resolve_output("https://example.com/out", folders)


# ---------------------------------------------------------------- inputs and data assets


def test_local_inputs_are_uploaded_and_sent_as_datastore_uris(tmp_path: Path, store: Path) -> None:
    folders = {"workspaceblobstore": store}
    data = _tree(tmp_path / "data", {"a.csv": "1", "b.csv": "2"})
    got = resolve_input("data", None, folders, cwd=tmp_path)
    digest = content_hash(data)
    assert got == ResolvedInput(
        f"azureml://datastores/workspaceblobstore/paths/LocalUpload/{digest}/data/",
        "UriFolder",
        data,
        True,
        2,
    )
    single = resolve_input(str(data / "a.csv"), None, folders)
    assert single.kind == "UriFile" and single.uri.endswith("/a.csv") and single.files == 1
    assert resolve_input("data", "uri_folder", folders, cwd=tmp_path).copied is False
    with pytest.raises(CliError, match="is a file: use --input-type uri_file"):
        resolve_input(str(data / "a.csv"), "uri_folder", folders)
    with pytest.raises(CliError, match="is a folder: use --input-type uri_folder"):
        resolve_input(str(data), "uri_file", folders)
    (tmp_path / "empty").mkdir()
    _tree(tmp_path / "empty", {".only-hidden": "x"})
    with pytest.raises(CliError, match="has no files"):
        resolve_input(str(tmp_path / "empty"), None, folders)
    with pytest.raises(CliError, match="no such file or folder"):
        resolve_input(str(tmp_path / "missing"), None, folders)
    with pytest.raises(CliError, match="no folder for the default datastore workspaceblobstore"):
        resolve_input(str(data), None, {})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://pipelinedata.blob.core.windows.net/sampledata/mnist", "web and cloud URIs"),
        ("wasbs://c@a.blob.core.windows.net/x", "web and cloud URIs"),
        ("azureml:heart-dataset-unlabeled:1", "data asset references are not resolved locally"),
        ("azureml:heart-dataset-unlabeled@latest", "data asset references are not resolved locally"),
        ("s3://bucket/key", "unsupported URI"),
    ],
)
def test_inputs_this_machine_cannot_read_are_refused_in_one_line(value: str, message: str) -> None:
    with pytest.raises(CliError, match=message) as caught:
        resolve_input(value, None, {"workspaceblobstore": Path("/nonexistent")})
    assert "\n" not in str(caught.value)


def test_datastore_uris_pass_through_and_their_kind_comes_from_what_is_there(tmp_path: Path) -> None:
    folders = {"workspaceblobstore": tmp_path}
    _tree(tmp_path, {"in/a.csv": "1"})
    folder = resolve_input("azureml://datastores/workspaceblobstore/paths/in", None, folders)
    assert folder == ResolvedInput("azureml://datastores/workspaceblobstore/paths/in", "UriFolder")
    assert resolve_input("azureml://datastores/workspaceblobstore/paths/in/a.csv", None, folders).kind == (
        "UriFile"
    )
    # A datastore the stack does not export: the controller decides (it knows its datastores).
    assert resolve_input("azureml://datastores/other/paths/x", "uri_file", folders).kind == "UriFile"
    with pytest.raises(CliError, match="nothing at"):
        resolve_input("azureml://datastores/workspaceblobstore/paths/missing", None, folders)


def test_a_data_asset_yaml_resolves_its_path_against_its_own_folder(tmp_path: Path, store: Path) -> None:
    folders = {"workspaceblobstore": store}
    _tree(tmp_path / "assets/data", {"heart-0.csv": "age\n63\n", "heart-1.csv": "age\n40\n"})
    asset = tmp_path / "assets" / "heart.yml"
    asset.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
        "name: heart-dataset-unlabeled\ntype: uri_folder\npath: data"
    )
    assert load_data_asset(asset) == (str(tmp_path / "assets" / "data"), "uri_folder")
    got = resolve_input("assets/heart.yml", None, folders, cwd=tmp_path)
    assert got.kind == "UriFolder" and got.files == 2 and got.source == tmp_path / "assets" / "data"
    assert got.uri.endswith(f"/LocalUpload/{content_hash(tmp_path / 'assets' / 'data')}/data/")
    with pytest.raises(CliError, match="is a uri_folder data asset but --input-type says uri_file"):
        resolve_input(str(asset), "uri_file", folders)


def test_data_asset_variants(tmp_path: Path, store: Path) -> None:
    folders = {"workspaceblobstore": store}
    _tree(tmp_path, {"one.csv": "1"})

    def asset(body: str, name: str = "a.yaml") -> Path:
        path = tmp_path / name
        path.write_text(body)
        return path

    # No $schema but a data asset's shape; a single file.
    assert resolve_input(str(asset("type: uri_file\npath: ./one.csv\n")), None, folders).kind == "UriFile"
    # A datastore URI passes through.
    remote = asset("type: uri_folder\npath: azureml://datastores/elsewhere/paths/in/\n")
    assert resolve_input(str(remote), None, folders).uri == "azureml://datastores/elsewhere/paths/in/"
    with pytest.raises(CliError, match="type 'mltable' is not supported"):
        resolve_input(str(asset("type: mltable\npath: ./t\n")), None, folders)
    with pytest.raises(CliError, match="web and cloud URIs"):
        resolve_input(
            str(asset("type: uri_folder\npath: https://x.blob.core.windows.net/c/\n")), None, folders
        )
    with pytest.raises(CliError, match="no such file or folder"):
        resolve_input(str(asset("type: uri_folder\npath: ./nope\n")), None, folders)
    # Any other YAML file is an input file like any other.
    other = asset("apiVersion: v1\nkind: Pod\n", "pod.yml")
    assert load_data_asset(other) is None
    assert resolve_input(str(other), None, folders).kind == "UriFile"


@pytest.mark.conformance
def test_the_conformance_data_asset_resolves_to_its_data_folder(store: Path) -> None:
    if not CONFORMANCE_ASSET.is_file():
        pytest.skip("../shared/conformance is not here")
    got = resolve_input(str(CONFORMANCE_ASSET), None, {"workspaceblobstore": store})
    assert got.kind == "UriFolder" and got.source == CONFORMANCE_ASSET.parent / "data" and got.files == 4


# ---------------------------------------------------------------- overrides and the body


def test_set_takes_the_controllers_overrides_and_names_the_key_at_fault() -> None:
    got = parse_overrides(
        [
            "mini_batch_size=5",
            "max_retries=0",
            "timeout=60",
            "error_threshold=-1",
            "output_file_name=out.csv",
            "logging_level=DEBUG",
            "overwrite=True",
        ],
        {"instance_count": 2, "mini_batch_size": None},
    )
    assert got == {
        "instance_count": 2, "mini_batch_size": 5, "max_retries": 0, "timeout": 60, "error_threshold": -1,
        "output_file_name": "out.csv", "logging_level": "debug", "overwrite": True,
    }  # fmt: skip
    # Azure's spellings of the same keys.
    assert parse_overrides(
        ["miniBatchSize=3", "retry_settings.max_retries=2", "compute.instance_count=4"]
    ) == {
        "mini_batch_size": 3,
        "max_retries": 2,
        "instance_count": 4,
    }
    bad = {
        "colour=blue": r"--set colour: unknown override; allowed: instance_count, mini_batch_size, "
        r"max_retries, timeout, error_threshold, output_file_name, logging_level, overwrite",
        "overwrite": "expected key=value",
        "mini_batch_size=0": "mini_batch_size must be between 1 and 1000000",
        "mini_batch_size=2.5": "mini_batch_size must be a whole number",
        "instance_count=65001": "instance_count must be between 1 and 65000",
        "max_retries=101": "max_retries must be between 0 and 100",
        "timeout=0": "timeout must be between 1 and 604800",
        "error_threshold=-2": "error_threshold must be between -1 and 2147483647",
        "output_file_name=out/x.csv": "output_file_name must be a plain file name",
        "output_file_name=.hidden": "output_file_name must be a plain file name",
        "logging_level=trace": "logging_level must be one of warning, info, debug",
        "overwrite=yes": "overwrite must be true or false",
    }
    for item, message in bad.items():
        with pytest.raises(CliError, match=message):
            parse_overrides([item])
    with pytest.raises(CliError, match=r"--mini-batch-size=0: mini_batch_size must be between"):
        parse_overrides([], {"mini_batch_size": 0})
    with pytest.raises(CliError, match=r"mini_batch_size is given twice \(--mini-batch-size and --set"):
        parse_overrides(["mini_batch_size=3"], {"mini_batch_size": 2})
    assert parse_overrides(["mini_batch_size=2"], {"mini_batch_size": 2}) == {"mini_batch_size": 2}


def test_the_body_is_azures_rest_shape_and_the_controller_reads_every_override() -> None:
    data = ResolvedInput("azureml://datastores/workspaceblobstore/paths/LocalUpload/h/data/", "UriFolder")
    assert build_body(data, {}) == {
        "properties": {
            "InputData": {
                "input_data": {
                    "JobInputType": "UriFolder",
                    "Uri": "azureml://datastores/workspaceblobstore/paths/LocalUpload/h/data/",
                }
            }
        }
    }
    overrides = parse_overrides(
        [
            "instance_count=3", "mini_batch_size=4", "max_retries=1", "timeout=90", "error_threshold=10",
            "output_file_name=p.csv", "logging_level=warning", "overwrite=true",
        ]
    )  # fmt: skip
    body = build_body(data, overrides, "azureml://datastores/workspaceblobstore/paths/out/")
    props = body["properties"]
    assert props["compute"] == {"instanceCount": 3}
    assert props["retrySettings"] == {"maxRetries": 1, "timeout": "PT90S"}
    assert props["OutputData"] == {
        "score": {"JobOutputType": "UriFolder", "Uri": "azureml://datastores/workspaceblobstore/paths/out/"}
    }
    parsed = parse_invoke(json.loads(json.dumps(body)))
    assert parsed.overrides == Overrides(
        instance_count=3, mini_batch_size=4, max_retries=1, timeout=90, error_threshold=10,
        output_file_name="p.csv", logging_level="warning", overwrite=True,
    )  # fmt: skip
    assert parsed.input.kind == "UriFolder" and parsed.input.location.path == "LocalUpload/h/data"
    assert parsed.output is not None and parsed.output.location.path == "out"


# ---------------------------------------------------------------- progress


def _job(status: str, succeeded: int, failed: int, total: int, rows: int, name: str = "j") -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "status": status,
            "progress": {
                "miniBatches": {"total": total, "succeeded": succeeded, "failed": failed},
                "rows": rows,
            },
        },
    }


def test_progress_draws_settled_of_total_with_failed_and_rows() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress.update(_job("Queued", 0, 0, 4, 0))
    progress.update(_job("Queued", 0, 0, 4, 0))  # unchanged, not a terminal: not drawn again
    progress.update(_job("Running", 1, 1, 4, 50))
    progress.update(_job("Running", 1, 1, 4, 50), note="controller not answering, retrying")
    progress.update(_job("Completed", 3, 1, 4, 150))
    progress.close()
    frames = [f.strip() for f in out.getvalue().split("\r") if f.strip()]
    assert frames[0].startswith("Queued:   0%|") and "0/4 mini-batches" in frames[0]
    assert "failed=0, rows=0" in frames[0]
    assert len([f for f in frames if f.startswith("Queued")]) == 1
    running = [f for f in frames if f.startswith("Running")]
    assert "2/4 mini-batches" in running[0] and "failed=1, rows=50]" in running[0]
    assert running[1].endswith("failed=1, rows=50, controller not answering, retrying]")
    assert frames[-1].startswith("Completed: 100%|") and "4/4 mini-batches" in frames[-1]
    assert "failed=1, rows=150]" in frames[-1] and "/s" in frames[-1]  # tqdm's rate
    assert out.getvalue().endswith("\n")


class _ScriptedApi:
    """Answers GET /jobs/<name> from a script: a job dict, or an exception to raise."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    def job(self, name: str) -> dict[str, Any]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        result: dict[str, Any] = answer
        return result


def test_wait_rides_out_a_short_controller_outage_and_returns_the_ended_job() -> None:
    down = ControllerDown("the batch controller of b does not answer")
    api = _ScriptedApi(
        [
            _job("Running", 0, 0, 2, 0),
            down,
            down,
            _job("Running", 1, 0, 2, 10),
            _job("Completed", 2, 0, 2, 20),
        ]
    )
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    out = io.StringIO()
    job = wait_for_job(api, "j", out, interval=0.5, grace=5, sleep=sleep, clock=lambda: now[0])  # type: ignore[arg-type]
    assert job["properties"]["status"] == "Completed" and sleeps == [0.5] * 4
    assert "controller not answering, retrying" in out.getvalue()


def test_wait_gives_up_when_the_controller_stays_away() -> None:
    down = ControllerDown("the batch controller of b does not answer")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    api = _ScriptedApi([_job("Running", 0, 0, 2, 0), *[down] * 20])
    with pytest.raises(ControllerDown):
        wait_for_job(api, "j", io.StringIO(), interval=1, grace=3, sleep=sleep, clock=lambda: now[0])  # type: ignore[arg-type]


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
    monkeypatch.setattr(batch_cli, "POLL_INTERVAL_S", 0.01)

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

    def job(self: batch_cli.JobsApi, name: str) -> dict[str, Any]:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        result: dict[str, Any] = answer
        return result

    monkeypatch.setattr(batch_cli.JobsApi, "job", job)
    monkeypatch.setattr(batch_cli, "POLL_INTERVAL_S", 0)
    monkeypatch.setattr(endpoint_cli, "stack_outputs", lambda stack, secrets=False: _outputs(1, tmp_path))
    assert endpoint_cli.main(["batch", "show", "job-7", "--wait"]) == 130
    err = capsys.readouterr().err
    assert "1/4 mini-batches" in err
    assert err.rstrip().endswith(
        "stopped waiting; job job-7 keeps running. Follow it: scripts/mle batch show job-7 --wait; "
        "cancel it: scripts/mle batch cancel job-7"
    )
