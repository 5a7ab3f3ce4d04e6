"""Where a chunked request body ends, found beside the parser so that it is never fed past the request."""

from __future__ import annotations

from serving.limits import MAX_HEAD_BYTES
from serving.scorer.errors import BadInput, HeaderTooLarge

# A chunk-size line with its extensions; nothing legitimate comes near it.
MAX_CHUNK_LINE_BYTES = 4096
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_SIZE, _DATA, _DATA_END, _TRAILERS = range(4)


class ChunkedFraming:
    """Follows `size CRLF data CRLF ... 0 CRLF trailers CRLF` (RFC 9112 §7.1) without keeping the data.

    The parser (httptools) is given exactly the body's bytes, so the head of a request pipelined behind
    it is counted from its first byte; and the trailer section, which the parser buffers like headers,
    is held to the request head limit.
    """

    __slots__ = ("_left", "_line", "_state", "done", "trailer_bytes")

    def __init__(self) -> None:
        self._state = _SIZE
        self._left = 0  # bytes of chunk data or of its CRLF still to come; in trailers, the line so far
        self._line = b""
        self.trailer_bytes = 0
        self.done = False

    def advance(self, data: bytes, pos: int, stop: int) -> int:
        """How far data[pos:stop] belongs to this body (`done` tells whether the body ends there)."""
        while pos < stop and not self.done:
            state = self._state
            if state in (_DATA, _DATA_END):
                step = min(self._left, stop - pos)
                pos += step
                self._left -= step
                if not self._left:
                    self._state, self._left = (_DATA_END, 2) if state == _DATA else (_SIZE, 0)
                continue
            newline = data.find(b"\n", pos, stop)
            end = stop if newline < 0 else newline + 1
            if state == _SIZE:
                if len(self._line) + end - pos > MAX_CHUNK_LINE_BYTES:
                    raise BadInput(
                        f"Malformed chunked body: a chunk-size line over {MAX_CHUNK_LINE_BYTES} bytes."
                    )
                self._line += data[pos:end]
                if newline >= 0:
                    size = _chunk_size(self._line)
                    self._line = b""
                    self._state, self._left = (_DATA, size) if size else (_TRAILERS, 0)
            else:
                self.trailer_bytes += end - pos
                if self.trailer_bytes > MAX_HEAD_BYTES:
                    raise HeaderTooLarge(
                        f"The trailer section after the chunked body exceeds {MAX_HEAD_BYTES} bytes "
                        "(the request head limit)."
                    )
                self._left += end - pos
                if newline >= 0:
                    # the empty line (CRLF alone) ends the message; the parser rejects any other 2-byte line
                    self.done = self._left == 2
                    self._left = 0
            pos = end
        return pos


def _chunk_size(line: bytes) -> int:
    digits = line.rstrip(b"\r\n").partition(b";")[0]
    if not digits or digits.strip(_HEX_DIGITS):
        raise BadInput("Malformed chunked body: a chunk size is not a hexadecimal number.")
    return int(digits, 16)
