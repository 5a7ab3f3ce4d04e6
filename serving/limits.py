"""Request size limits: one set of numbers for the scorer and the router (README "Limits")."""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

# The request head as the scorer receives it: request line, header lines and the empty line that
# ends them, CRLFs included. Past it the scorer answers 414 while still in the request line, else 431.
MAX_HEAD_BYTES = 64 * KIB
# The request body, sent with Content-Length or chunked (counted as it arrives): past it, 413.
# Azure ML's documented maximum is not restated in this repo; this is the size it always used.
MAX_BODY_BYTES = 100 * MIB

# nginx reads a head into a small buffer and moves the line that overflows it, and the rest of the
# head, into ONE large buffer; more is 414 (request line) or 431. So the router accepts every head of
# up to ROUTER_LARGE_HEADER_BUFFER_BYTES and none above ROUTER_MAX_HEAD_BYTES.
ROUTER_HEADER_BUFFER_BYTES = 1 * KIB
# Room for what the router adds to a head it forwards (X-Request-Id, X-Forwarded-For, a
# Content-Length for a chunked body; Authorization is dropped): a few hundred bytes at most.
ROUTER_HEAD_MARGIN_BYTES = 1 * KIB
ROUTER_LARGE_HEADER_BUFFER_BYTES = MAX_HEAD_BYTES - ROUTER_HEADER_BUFFER_BYTES - ROUTER_HEAD_MARGIN_BYTES
ROUTER_MAX_HEAD_BYTES = ROUTER_HEADER_BUFFER_BYTES + ROUTER_LARGE_HEADER_BUFFER_BYTES
