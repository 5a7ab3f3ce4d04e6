"""Serve one ScorerApp on a listening socket with uvloop (plain asyncio if absent) until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable

from serving.scorer.app import ScorerApp
from serving.scorer.logs import flush_streams, set_deferred_flush
from serving.scorer.protocol import HttpConnection

_FLUSH_PERIOD_S = 0.1  # while requests come: their log lines go out within this (batched, not per line)
# With no request: how often what a background thread of the user's printed goes out. Waking every
# 0.1 s to flush nothing cost a serving worker ~2 ms of CPU a second at rest (bench/idle_cost.py).
_IDLE_FLUSH_S = 1.0


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
    activity = asyncio.Event()
    closing = asyncio.Event()
    server = await loop.create_server(
        lambda: HttpConnection(app, connections, activity), sock=sock, backlog=2048
    )
    housekeeping = asyncio.ensure_future(
        _housekeeping(connections, app.settings.keepalive_timeout_s, activity, closing=closing)
    )
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
        # The flag, not only the cancel, ends it: on Python < 3.12 asyncio.wait_for returns the inner
        # result when the event fires as the cancel comes (closing connections set it), swallowing the
        # cancel, and the loop went on flushing forever: a stop that never returned (seen in a test).
        closing.set()
        activity.set()
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


async def _housekeeping(
    connections: set[HttpConnection],
    keepalive_s: float,
    activity: asyncio.Event,
    flush: Callable[[], None] = flush_streams,
    period_s: float = _FLUSH_PERIOD_S,
    idle_s: float = _IDLE_FLUSH_S,
    closing: asyncio.Event | None = None,
) -> None:
    """Flush batched log output and close keep-alive connections idle for longer than keepalive_s.

    `activity` is set by connections as requests come in and answers go out: a flush follows within
    `period_s` of each; with none, the loop wakes every `idle_s` only. Returns after a flush once
    `closing` is set."""
    sweep_s = min(5.0, keepalive_s / 2)
    next_sweep = time.monotonic() + sweep_s
    while closing is None or not closing.is_set():
        # asyncio.TimeoutError: on Python 3.9 (older base images) it is not the builtin one.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(activity.wait(), min(idle_s, max(0.0, next_sweep - time.monotonic())))
        if activity.is_set():
            activity.clear()
            await asyncio.sleep(period_s)  # what the burst writes meanwhile goes out in one flush
        flush()
        now = time.monotonic()
        if now >= next_sweep:
            next_sweep = now + sweep_s
            for conn in list(connections):
                if conn.idle and now - conn.last_active > keepalive_s:
                    conn.close()
