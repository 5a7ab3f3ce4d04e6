"""Test helpers: a small HTTP client, the scorer served in-process, and the scorer as a subprocess."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from serving.scorer.app import ScorerApp, create_app
from serving.scorer.server import new_event_loop, serve
from serving.scorer.settings import ScorerSettings

FIXTURES = Path(__file__).parent / "fixtures"
MODEL_ROOT = FIXTURES / "model_root"
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        return str(self.json()["message"])


@dataclass
class Client:
    """Keep-alive HTTP/1.1 client on one connection."""

    port: int
    timeout: float = 30.0
    _conn: http.client.HTTPConnection | None = field(default=None, repr=False)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Answer:
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        self._conn.request(method, path, body=body, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        headers: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        answer = Answer(response.status, headers, data)
        if response.will_close:
            self.close()
        return answer

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def settings_for(fixture: str, **overrides: Any) -> ScorerSettings:
    values: dict[str, Any] = {
        "app_root": str(FIXTURES / fixture),
        "entry_script": "score.py",
        "model_dir": str(MODEL_ROOT),
        "host": "127.0.0.1",
        "port": 0,
    }
    values.update(overrides)
    return ScorerSettings(**values)


def copy_fixture(fixture: str, target: Path) -> Path:
    """A fixture copied to a tmp dir; *.broken files become *.py (kept out of the linted tree)."""
    shutil.copytree(FIXTURES / fixture, target)
    for broken in target.glob("*.broken"):
        broken.rename(broken.with_suffix(""))
    return target


@contextmanager
def isolated() -> Iterator[None]:
    """An in-process scorer sets AZUREML_* variables, extends sys.path and registers `entry_module` as a
    worker would, and inference-schema keeps a registry per module name: undo all of it afterwards."""
    environ, path = dict(os.environ), list(sys.path)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        sys.path[:] = path
        sys.modules.pop("entry_module", None)
        _forget_schemas()


def _forget_schemas() -> None:
    try:
        from inference_schema import schema_util
    except ImportError:
        return
    for registry in (schema_util.__functions_schema__, schema_util.__versions__):
        for key in [key for key in registry if key.startswith("entry_module.")]:
            del registry[key]


def run_in_process(app: ScorerApp, client_fn: Callable[[int], T]) -> T:
    """Serve `app` on this (main) thread, so SIGALRM timeouts work; `client_fn(port)` runs in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    app.install_signal_handlers()

    async def main() -> T:
        stop = asyncio.Event()
        server = asyncio.ensure_future(serve(app, sock, stop))
        try:
            return await loop.run_in_executor(None, client_fn, port)
        finally:
            stop.set()
            await server

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def in_process(fixture: str, client_fn: Callable[[Client], T], **overrides: Any) -> T:
    """Load `fixture` with create_app and serve it in this process while `client_fn(client)` runs."""

    def call(port: int) -> T:
        client = Client(port)
        try:
            return client_fn(client)
        finally:
            client.close()

    return in_process_port(fixture, call, **overrides)


def in_process_port(fixture: str, client_fn: Callable[[int], T], **overrides: Any) -> T:
    """Like in_process, for clients that speak raw sockets: `client_fn(port)`."""
    with isolated():
        return run_in_process(create_app(settings_for(fixture, **overrides)), client_fn)


class ScorerProcess:
    """`python -m serving.scorer` with the given environment; collects its output."""

    def __init__(self, env: dict[str, str]) -> None:
        full_env = {
            key: value for key, value in os.environ.items() if not key.startswith(("AZUREML_", "AML_"))
        }
        full_env.update(env)
        full_env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serving.scorer"],
            env=full_env,
            cwd=str(REPO),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = self._wait_for_port()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def _wait_for_port(self, timeout: float = 30.0) -> int:
        pattern = re.compile(r"scorer supervisor \d+ on [^ ]+:(\d+) ")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = pattern.search(line)
                if found:
                    return int(found.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError("scorer did not start:\n" + self.output)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if Client(self.port, timeout=2).get("/readyz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("scorer never became ready:\n" + self.output)

    def wait_for_output(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in the output:\n{self.output}")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)


@contextmanager
def scorer_process(fixture: str | Path, **env: str) -> Iterator[ScorerProcess]:
    app_root = fixture if isinstance(fixture, Path) else FIXTURES / fixture
    base = {
        "AML_APP_ROOT": str(app_root),
        "AZUREML_ENTRY_SCRIPT": "score.py",
        "AZUREML_MODEL_DIR": str(MODEL_ROOT),
        "SERVER_HOST": "127.0.0.1",
        "SERVER_PORT": "0",
    }
    base.update(env)
    process = ScorerProcess(base)
    try:
        yield process
    finally:
        process.stop()
