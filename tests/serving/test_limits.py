"""The scorer's size limits: request head (431, 414 for the request line), body (413), memory under floods."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.limits import MAX_BODY_BYTES, MAX_HEAD_BYTES, MIB
from serving.scorer.settings import ScorerSettings
from tests.serving.harness import Client, ScorerProcess, in_process_port, scorer_process
from tests.serving.rawhttp import Exchange, answers, chunked, exchange, flood, head

GET = b"GET / HTTP/1.1\r\nHost: x\r\n"
SCORE_BODY = b'{"data": [1]}'
BODY_LIMIT = 1000
FLOOD_BYTES = 50 * MIB


def post(fields: bytes, body: bytes = b"") -> bytes:
    return b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + fields + b"\r\n" + body


def scored(body: bytes) -> bytes:
    return post(b"Content-Length: %d\r\n" % len(body), body)


def serve(payload: bytes, expect: int = 1, wait_close_s: float = 3.0, **settings: int) -> Exchange:
    return in_process_port(
        "ok", lambda port: exchange(port, payload, expect, wait_close_s=wait_close_s), **settings
    )


def test_the_limits_come_from_one_place() -> None:
    assert ScorerSettings.model_fields["max_request_body_bytes"].default == MAX_BODY_BYTES


def test_a_head_of_exactly_the_limit_is_served() -> None:
    answered = serve(head(MAX_HEAD_BYTES, GET), wait_close_s=0.2)
    assert [(a.status, a.body) for a in answered.answers] == [(200, b"Healthy")]
    assert not answered.closed


def test_a_head_one_byte_over_the_limit_is_431_and_closes() -> None:
    answered = serve(head(MAX_HEAD_BYTES + 1, GET))
    [answer] = answered.answers
    assert answer.status == 431
    assert f"exceed {MAX_HEAD_BYTES} bytes" in answer.message
    assert "connection: close" in answer.head and answered.closed


def test_a_request_line_over_the_limit_is_414() -> None:
    line = b"GET /?q=" + b"a" * MAX_HEAD_BYTES + b" HTTP/1.1\r\n"
    answered = serve(line + b"Host: x\r\n\r\n")
    [answer] = answered.answers
    assert answer.status == 414
    assert "request line" in answer.message and answered.closed


def test_a_request_line_filling_the_whole_head_is_served() -> None:
    fixed = len(b"GET /?q= HTTP/1.1\r\n\r\n")
    line = b"GET /?q=" + b"a" * (MAX_HEAD_BYTES - fixed) + b" HTTP/1.1\r\n"
    answered = serve(line + b"\r\n", wait_close_s=0)
    assert [a.status for a in answered.answers] == [200]


def test_content_length_over_the_limit_is_413_before_any_body_is_sent() -> None:
    # The body is announced but never sent: only an answer given on the head alone can arrive.
    answered = serve(post(b"Content-Length: %d\r\n" % (BODY_LIMIT + 1)), max_request_body_bytes=BODY_LIMIT)
    [answer] = answered.answers
    assert answer.status == 413
    assert f"max_request_body_bytes={BODY_LIMIT}" in answer.message and answered.closed


def test_expect_100_continue_with_too_large_a_body_gets_413_and_no_100() -> None:
    fields = b"Expect: 100-continue\r\nContent-Length: %d\r\n" % (50 * MIB)
    answered = serve(post(fields), max_request_body_bytes=BODY_LIMIT)
    assert [a.status for a in answered.answers] == [413]
    assert b"100 Continue" not in answered.raw


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    # No last chunk: the answer must come from counting the chunks that did arrive.
    first, second = b" " * BODY_LIMIT, b" "
    body = b"%x\r\n%s\r\n%x\r\n%s\r\n" % (len(first), first, len(second), second)
    answered = serve(post(b"Transfer-Encoding: chunked\r\n", body), max_request_body_bytes=BODY_LIMIT)
    [answer] = answered.answers
    assert answer.status == 413 and answered.closed


def test_a_body_of_exactly_the_limit_is_served_with_either_framing() -> None:
    body = SCORE_BODY + b" " * (BODY_LIMIT - len(SCORE_BODY))
    payload = scored(body) + post(b"Transfer-Encoding: chunked\r\n", chunked(body, 300))
    answered = serve(payload, 2, wait_close_s=0, max_request_body_bytes=BODY_LIMIT)
    assert [(a.status, a.body) for a in answered.answers] == [(200, b"[3.0]"), (200, b"[3.0]")]


def test_pipelined_heads_are_each_held_to_the_limit_and_answered_in_order() -> None:
    payload = (
        head(MAX_HEAD_BYTES, GET)
        + scored(SCORE_BODY)
        + head(MAX_HEAD_BYTES, GET)
        + post(b"Transfer-Encoding: chunked\r\n", chunked(SCORE_BODY, 5))
        + head(MAX_HEAD_BYTES + 1, b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        + GET
        + b"\r\n"
    )
    answered = serve(payload, 5)
    assert [a.status for a in answered.answers] == [200, 200, 200, 200, 431]
    assert answered.closed  # the request after the refused one is never read


@pytest.mark.parametrize("kept", [1, 2, 3])
def test_a_head_ending_across_two_reads_does_not_lend_bytes_to_the_next(kept: int) -> None:
    # The blank line ending the first head is split between reads; the head behind it is one byte
    # over the limit and must be refused, not partly counted as the first head's.
    first, second = head(1000, GET), head(MAX_HEAD_BYTES + 1, GET)

    def talk(port: int) -> list[int]:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(first[:-kept])
            time.sleep(0.2)  # the scorer reads the first part on its own
            sock.sendall(first[-kept:] + second)
            data = b""
            while len(answers(data)) < 2:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            return [answer.status for answer in answers(data)]

    assert in_process_port("ok", talk) == [200, 431]


def test_an_unparsable_request_after_a_good_one_is_answered_after_it() -> None:
    answered = serve(scored(SCORE_BODY) + b"NOT HTTP AT ALL\r\n\r\n", 2)
    assert [a.status for a in answered.answers] == [200, 400]
    assert answered.closed


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


@pytest.fixture(scope="module")
def one_worker() -> Iterator[ScorerProcess]:
    with scorer_process("pids", WORKER_COUNT="1") as scorer:
        scorer.wait_ready()
        yield scorer


@pytest.mark.parametrize(
    ("start", "line", "status"),
    [
        (GET, b"X-Flood: " + b"a" * 1000 + b"\r\n", 431),
        (GET + b"X-Flood: ", b"a" * 1024, 431),
        (b"POST /score?q=", b"a" * 1024, 414),
        (post(b"Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\nX-Trailer: "), b"a" * 1024, 431),
    ],
    ids=["header-lines", "one-endless-header", "endless-url", "endless-trailer"],
)
def test_a_flood_of_head_bytes_is_refused_without_growing_the_worker(
    one_worker: ScorerProcess, start: bytes, line: bytes, status: int
) -> None:
    pid = Client(one_worker.port).post("/score", body="{}").json()["pid"]
    before = _memory_kib(pid)
    data, sent = flood(one_worker.port, start, line, FLOOD_BYTES)
    after = _memory_kib(pid)
    assert data.startswith(b"HTTP/1.1 %d " % status), data[:200]
    assert "request head" in json.loads(data.partition(b"\r\n\r\n")[2])["message"]
    assert sent < FLOOD_BYTES  # the scorer stopped reading; the rest never left the client
    # Only the limit's worth was ever read; the peak (VmHWM) would show a transient buffer too.
    assert after["VmRSS"] - before["VmRSS"] < 2 * 1024, (before, after)
    assert after["VmHWM"] - before["VmHWM"] < 2 * 1024, (before, after)
    # The same worker goes on serving.
    assert Client(one_worker.port).post("/score", body="{}").json()["pid"] == pid
