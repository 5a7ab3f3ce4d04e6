"""ChunkedFraming: where a chunked body ends, whichever way its bytes are split across reads."""

from __future__ import annotations

import pytest

from serving.limits import MAX_HEAD_BYTES
from serving.scorer.chunked import MAX_CHUNK_LINE_BYTES, ChunkedFraming
from serving.scorer.errors import BadInput, HeaderTooLarge

BODY = b"5;name=value\r\nhello\r\n1A\r\n" + b"x" * 26 + b"\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"
NEXT = b"GET / HTTP/1.1\r\n\r\n"


def feed(framing: ChunkedFraming, data: bytes, split: int) -> int:
    """Offer `data` in two reads split at `split`, as the protocol does; returns where the body ends."""
    end = framing.advance(data, 0, split)
    return end if framing.done else framing.advance(data, end, len(data))


@pytest.mark.parametrize("split", range(len(BODY) + 1))
def test_the_end_is_found_exactly_however_the_reads_fall(split: int) -> None:
    framing = ChunkedFraming()
    end = feed(framing, BODY + NEXT, split)
    assert framing.done and end == len(BODY)


def test_a_body_without_trailers_ends_after_the_last_chunk() -> None:
    framing = ChunkedFraming()
    assert framing.advance(b"2\r\n{}\r\n0\r\n\r\nrest", 0, 16) == 12 and framing.done


def test_a_partial_body_is_consumed_and_not_done() -> None:
    framing = ChunkedFraming()
    assert framing.advance(BODY, 0, len(BODY) - 1) == len(BODY) - 1
    assert not framing.done


@pytest.mark.parametrize("size_line", [b"zz\r\n", b"-1\r\n", b"0x5\r\n", b"\r\n", b"5 \r\n"])
def test_a_chunk_size_that_is_not_hexadecimal_is_bad_input(size_line: bytes) -> None:
    with pytest.raises(BadInput):
        ChunkedFraming().advance(size_line, 0, len(size_line))


def test_an_endless_chunk_size_line_is_bad_input_without_keeping_it() -> None:
    framing = ChunkedFraming()
    line = b"5;" + b"e" * MAX_CHUNK_LINE_BYTES
    with pytest.raises(BadInput, match="chunk-size line"):
        framing.advance(line, 0, len(line))


def test_trailers_are_held_to_the_head_limit() -> None:
    framing = ChunkedFraming()
    start = b"0\r\nX-Trailer: "
    assert framing.advance(start, 0, len(start)) == len(start)
    filler = b"a" * (MAX_HEAD_BYTES - len(b"X-Trailer: ") + 1)
    with pytest.raises(HeaderTooLarge, match="trailer"):
        framing.advance(filler, 0, len(filler))
