"""Serve one ScorerApp on a listening socket with uvloop (plain asyncio if absent) until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time

from serving.scorer.app import ScorerApp
from serving.scorer.logs import flush_streams, set_deferred_flush
from serving.scorer.protocol import HttpConnection

_FLUSH_PERIOD_S = 0.1


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The listening socket, created before the workers fork so they all accept from it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


async def serve(app: ScorerApp, sock: socket.socket, stop: asyncio.Event) -> None:
    """Accept and answer until `stop` is set, then drain queued runs for up to graceful_timeout_s."""
    loop = asyncio.get_running_loop()
    connections: set[HttpConnection] = set()
    server = await loop.create_server(lambda: HttpConnection(app, connections), sock=sock, backlog=2048)
    housekeeping = asyncio.ensure_future(_housekeeping(connections, app.settings.keepalive_timeout_s))
    set_deferred_flush(True)
    try:
        await stop.wait()
    finally:
        server.close()
        app.draining = True
        deadline = time.monotonic() + app.settings.graceful_timeout_s
        while (app.queued or any(not conn.idle for conn in connections)) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(connections):
            conn.close()
        housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await housekeeping
        set_deferred_flush(False)


def run_server(app: ScorerApp, sock: socket.socket) -> None:
    """Blocking: serve on this thread until SIGTERM or SIGINT (on the main thread) arrives."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        stop = asyncio.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
        app.install_signal_handlers()
        loop.run_until_complete(serve(app, sock, stop))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        flush_streams()


async def _housekeeping(connections: set[HttpConnection], keepalive_s: float) -> None:
    """Flush batched log output and close keep-alive connections idle for longer than keepalive_s."""
    next_sweep = time.monotonic() + min(5.0, keepalive_s / 2)
    while True:
        await asyncio.sleep(_FLUSH_PERIOD_S)
        flush_streams()
        now = time.monotonic()
        if now >= next_sweep:
            next_sweep = now + min(5.0, keepalive_s / 2)
            for conn in list(connections):
                if conn.idle and now - conn.last_active > keepalive_s:
                    conn.close()
