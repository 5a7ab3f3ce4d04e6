"""Run nginx as the router's data path: render its config, start it, reload on change, stop gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import resource
import shutil
import signal
import stat
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from serving.router.config import RouterConfig, RouterSecrets, files_digest, parse_config
from serving.router.control import ControlState, create_app, serve_control
from serving.router.cpus import worker_count
from serving.router.errors import ConfigError, NginxError
from serving.router.logtail import LogTail
from serving.router.metrics import RouterMetrics
from serving.router.nginx_conf import Layout, generation_of, render
from serving.router.nginx_workers import children_of, still_accepting
from serving.router.request_log import printable_lines
from serving.router.resolve import resolve_all
from serving.router.settings import RouterSettings

log = logging.getLogger("serving.router")

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; keep a margin
_APPLY_TIMEOUT_S = 15.0


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _open_files_limit() -> int:
    """As many as the hard limit lets an unprivileged process raise to (65536 at most)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)


def prepare_run_dir(settings: RouterSettings) -> Layout:
    """Create the runtime directory (config, sockets, temp files, request log) and describe it."""
    run_dir = settings.run_dir or Path(tempfile.mkdtemp(prefix="mle-router-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and not _reachable_by_others(run_dir.parent):
        # Workers run as `nobody` and must reach the sockets and temp files inside it.
        raise ConfigError(
            f"MLE_ROUTER_RUN_DIR {run_dir} sits in a directory the nginx workers (user nobody) cannot "
            "enter: give every parent o+x, pick another place (e.g. under /run or /tmp), or leave it unset"
        )
    # Workers (maybe `nobody`) must reach the sockets; listing the directory is not needed.
    run_dir.chmod(0o711)
    layout = Layout(
        run_dir=run_dir,
        host=settings.host,
        port=settings.port,
        metrics_port=settings.metrics_port,
        workers=worker_count(settings.workers),
        max_open_files=_open_files_limit(),
    )
    if len(str(layout.control_socket)) > _SOCKET_PATH_MAX:
        raise ConfigError(
            f"MLE_ROUTER_RUN_DIR {run_dir} is too long for unix socket paths; use a shorter one"
        )
    layout.empty_dir.mkdir(exist_ok=True)
    owned = [*layout.temp_dirs.values(), layout.auth_cache]
    for path in owned:
        path.mkdir(parents=True, exist_ok=True)
    for stale in (layout.mirror_socket, layout.admin_socket, layout.control_socket):
        stale.unlink(missing_ok=True)
    if os.geteuid() == 0:
        # nginx drops its workers to an unprivileged user; they write temp files and the token cache.
        user = pwd.getpwnam("nobody")
        group = grp.getgrgid(user.pw_gid).gr_name
        for path in owned:
            os.chown(path, user.pw_uid, user.pw_gid)
        layout = replace(layout, worker_user=f"nobody {group}")
    return layout


def _signature(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _instances(config: RouterConfig) -> list[str]:
    return [i for route in config.deployments.values() for i in route.instances]


class Supervisor:
    """One router: nginx plus the control socket, the request log tail and the config watcher."""

    def __init__(self, settings: RouterSettings, layout: Layout) -> None:
        self.settings = settings
        self.layout = layout
        self.nginx: asyncio.subprocess.Process | None = None
        self.conf_text = ""
        # The digest GET / reports; it only moves once no worker with an older config accepts.
        self.reported_digest = ""
        self.addresses: dict[str, list[str]] = {}
        # False after a reload that failed part-way: the next re-resolve retries it whatever it finds.
        self._settled = True
        self.state: ControlState | None = None
        self._signatures = self._watched()
        self._stop = asyncio.Event()
        self._reload_requested = asyncio.Event()
        self._tail = LogTail(layout.access_log)

    def _watched(self) -> tuple[object, ...]:
        return _signature(self.settings.config), _signature(self.settings.secrets_file)

    def _load(self) -> tuple[RouterConfig, RouterSecrets, str]:
        """Config, secrets and the digest of the files they came from (reported on GET /)."""
        path = self.settings.config
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"router config {path}: cannot read it ({exc.strerror})") from None
        config = parse_config(text, f"router config {path}")
        secrets, source = self.settings.load_secrets()
        secrets.require_for(config, source)
        secrets_file = self.settings.secrets_file
        secrets_text = secrets_file.read_text(encoding="utf-8") if secrets_file is not None else ""
        return config, secrets, files_digest(text, secrets_text)

    async def _check(self, text: str) -> None:
        """Write the candidate config and let nginx itself validate it before it is used."""
        candidate = self.layout.run_dir / "nginx.conf.new"
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        command = [self.settings.nginx, "-t", "-q", "-p", str(self.layout.run_dir), "-c", str(candidate)]
        proc = await asyncio.create_subprocess_exec(
            *command, "-e", "stderr", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await proc.communicate()
        if proc.returncode != 0:
            raise NginxError(f"nginx rejected the rendered config: {output.decode(errors='replace').strip()}")
        os.replace(candidate, self.layout.conf)

    async def _generation(self) -> str | None:
        try:
            reader, writer = await asyncio.open_unix_connection(str(self.layout.admin_socket))
        except OSError:
            return None
        try:
            writer.write(b"GET /generation HTTP/1.0\r\nHost: admin\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 2.0)
        except (OSError, TimeoutError):
            return None
        finally:
            writer.close()
        return data.rpartition(b"\r\n\r\n")[2].decode() or None

    async def _await_generation(self, generation: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _APPLY_TIMEOUT_S
        while loop.time() < deadline:
            if self.nginx is not None and self.nginx.returncode is not None:
                raise NginxError(f"nginx exited with status {self.nginx.returncode}; see its messages above")
            if await self._generation() == generation:
                return
            await asyncio.sleep(0.05)
        raise NginxError(f"nginx did not apply config generation {generation} within {_APPLY_TIMEOUT_S:g} s")

    async def _await_retired(self, workers: set[int]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _APPLY_TIMEOUT_S
        while still_accepting(workers):
            if loop.time() >= deadline:
                raise NginxError(
                    f"nginx workers from the previous config still accept after {_APPLY_TIMEOUT_S:g} s"
                )
            await asyncio.sleep(0.02)

    async def _apply(self, text: str) -> None:
        """Hand nginx a new config; return once only workers running it accept connections."""
        assert self.nginx is not None
        await self._check(text)
        previous = children_of(self.nginx.pid)
        self.nginx.send_signal(signal.SIGHUP)
        await self._await_generation(generation_of(text))
        await self._await_retired(previous)
        self.conf_text = text

    async def start(self) -> None:
        config, secrets, digest = self._load()
        self.addresses = await asyncio.to_thread(resolve_all, _instances(config))
        text = render(config, secrets, self.layout, self.addresses, digest)
        await self._check(text)
        self.state = ControlState(config=config, secrets=secrets, metrics=RouterMetrics(config.endpoint))
        self._control = await serve_control(create_app(self.state), self.layout.control_socket)
        self.nginx = await asyncio.create_subprocess_exec(
            self.settings.nginx, "-p", str(self.layout.run_dir), "-c", str(self.layout.conf), "-e", "stderr"
        )
        await self._await_generation(generation_of(text))
        self.conf_text = text
        self.reported_digest = digest
        self._log_unresolved()
        log.info(
            "router ready on %s:%s for endpoint %s (deployments: %s; traffic: %s; mirror: %s)",
            self.layout.host,
            self.layout.port,
            config.endpoint,
            ", ".join(sorted(config.deployments)) or "none",
            config.live_traffic or "none",
            config.mirror or "none",
        )

    def _log_unresolved(self) -> None:
        missing = sorted(i for i, addrs in self.addresses.items() if not addrs)
        if missing:
            log.warning("instances not resolvable yet (kept out until they are): %s", ", ".join(missing))

    async def reload(self, reason: str) -> bool:
        """Apply the current config file; on any error keep serving the previous config."""
        assert self.state is not None and self.nginx is not None
        try:
            config, secrets, digest = self._load()
            addresses = await asyncio.to_thread(resolve_all, _instances(config))
            text = render(config, secrets, self.layout, addresses, digest)
            if text == self.conf_text:
                self._settled = True
                return False
            # Two steps, so that whoever sees the new digest on GET / (pulumi up waits for it) only
            # ever reaches the new config: first the new config still reporting the old digest,
            # then, once the old workers stopped accepting, the same config with the new digest.
            staged = render(config, secrets, self.layout, addresses, self.reported_digest)
            if staged != self.conf_text:
                await self._apply(staged)
                # nginx enforces the new config from here on, whatever becomes of the second step.
                self._adopt(config, secrets, addresses)
            await self._apply(text)
            self.reported_digest = digest
        except (ConfigError, NginxError, OSError) as exc:
            self._settled = False
            self.state.metrics.reload_failures += 1
            log.error("config change not applied (%s), still serving the previous one: %s", reason, exc)
            return False
        self._adopt(config, secrets, addresses)
        self._settled = True
        self.state.metrics.reloads += 1
        self._log_unresolved()
        log.info("config applied (%s): traffic %s, mirror %s", reason, config.live_traffic, config.mirror)
        return True

    def _adopt(self, config: RouterConfig, secrets: RouterSecrets, addresses: dict[str, list[str]]) -> None:
        """Make the control socket and the log filter follow the config nginx now runs."""
        assert self.state is not None
        self.state.config, self.state.secrets, self.addresses = config, secrets, addresses
        self.state.metrics.endpoint = config.endpoint

    def _drain_log(self) -> None:
        assert self.state is not None
        text = self._tail.read()
        if not text:
            return
        self.state.metrics.observe_log(text)
        printed = printable_lines(text, self.state.config)
        if printed:
            sys.stdout.write(printed)
            sys.stdout.flush()
        if self._tail.size() > self.settings.log_rotate_mb * 1024 * 1024 and self.nginx is not None:
            os.replace(self.layout.access_log, self.layout.access_log.with_suffix(".log.1"))
            self.nginx.send_signal(signal.SIGUSR1)

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload_requested.set()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        next_resolve = loop.time() + self.settings.resolve_interval_s
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reload_requested.wait(), self.settings.poll_interval_s)
            self._drain_log()
            signatures = self._watched()
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                await self.reload("reload requested")
            elif signatures != self._signatures:
                self._signatures = signatures
                await self.reload("config file changed")
            elif loop.time() >= next_resolve:
                next_resolve = loop.time() + self.settings.resolve_interval_s
                await self.re_resolve()

    async def re_resolve(self) -> bool:
        """Follow instances that came back with another address. This runs every second for the
        router's life, so an unchanged answer costs the lookups only: reading, validating and
        rendering the config is for a change of address, or a reload that failed part-way."""
        assert self.state is not None
        if self._settled:
            addresses = await asyncio.to_thread(resolve_all, _instances(self.state.config))
            if addresses == self.addresses:
                return False
        return await self.reload("instance addresses re-resolved")

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT (graceful stop) or until nginx dies; the exit status to use."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            await self.start()
            assert self.nginx is not None
            watcher = asyncio.create_task(self._watch())
            exited = asyncio.create_task(self.nginx.wait())
            stopping = asyncio.create_task(self._stop.wait())
            await asyncio.wait({watcher, exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            self._stop.set()
            died = exited.done()
            if died:
                log.error("nginx exited unexpectedly with status %s", self.nginx.returncode)
            await watcher
            for task in (exited, stopping):
                task.cancel()
            return 1 if died else 0
        finally:
            self._stop.set()
            await self._shutdown_nginx()
            if self.state is not None:
                self._drain_log()
                self._control.close()
            self._tail.close()

    async def _shutdown_nginx(self) -> None:
        """SIGQUIT lets nginx finish in-flight requests; escalate only after the timeout."""
        if self.nginx is None or self.nginx.returncode is not None:
            return
        self.nginx.send_signal(signal.SIGQUIT)
        try:
            await asyncio.wait_for(self.nginx.wait(), self.settings.shutdown_timeout_s)
        except TimeoutError:
            log.warning(
                "nginx still running after %.0f s; stopping it hard", self.settings.shutdown_timeout_s
            )
            self.nginx.kill()
            await self.nginx.wait()
        log.info("router stopped")


async def run_router(settings: RouterSettings) -> int:
    layout = prepare_run_dir(settings)
    try:
        return await Supervisor(settings, layout).run()
    finally:
        if settings.run_dir is None:
            # Ours alone (a fresh temporary directory): nothing in it outlives the router.
            shutil.rmtree(layout.run_dir, ignore_errors=True)
