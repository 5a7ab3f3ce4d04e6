"""The scorer's one error hierarchy and its single mapping to HTTP status codes."""

from __future__ import annotations

from types import MappingProxyType


class ScorerError(Exception):
    """Base of every error the scorer answers with; the body is always {"message": ...}."""

    #: set on errors that come from the user's run(); answered with x-ms-run-function-failed: True
    run_function_failed = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(ScorerError):
    """The request body or query cannot be turned into run()'s arguments."""


class NotFound(ScorerError):
    """No route for the path."""


class SwaggerUnavailable(NotFound):
    """The script has no schema for the requested swagger version."""


class MethodNotAllowed(ScorerError):
    """The route exists but not for this HTTP method."""


class PayloadTooLarge(ScorerError):
    """The request body is larger than max_request_body_bytes."""


class UriTooLong(ScorerError):
    """The request line alone overflows the request head limit."""


class UnsupportedMediaType(ScorerError):
    """A schema-decorated run() needs a JSON body."""


class HeaderTooLarge(ScorerError):
    """A request id header, or the request head (request line and header lines), is too long."""


class TooManyRequests(ScorerError):
    """Every concurrency slot stayed busy for max_queue_wait_ms."""


class NotReady(ScorerError):
    """init() has not returned yet."""


class ScriptLoadError(NotReady):
    """The script failed to import, lacks init()/run(), or init() raised: the worker stays up, unready."""


class RunFailed(ScorerError):
    """The user's run() raised."""

    run_function_failed = True

    def __init__(self, message: str, elapsed_ms: float = 0.0) -> None:
        super().__init__(message)
        self.elapsed_ms = elapsed_ms


class RunTimeout(RunFailed):
    """run() did not return within request_timeout_ms."""


class OutputNotSerializable(RunFailed):
    """run() returned something json.dumps cannot encode."""


class InternalError(ScorerError):
    """A bug in the scorer itself."""


# The one place where errors become HTTP statuses; the most specific class in the MRO wins.
_HTTP_STATUS = MappingProxyType(
    {
        BadInput: 400,
        NotFound: 404,
        MethodNotAllowed: 405,
        PayloadTooLarge: 413,
        UriTooLong: 414,
        UnsupportedMediaType: 415,
        TooManyRequests: 429,
        HeaderTooLarge: 431,
        RunFailed: 500,
        InternalError: 500,
        NotReady: 503,
        RunTimeout: 504,
        ScorerError: 500,
    }
)


def http_status(error: ScorerError) -> int:
    """The HTTP status a scorer error is answered with."""
    for cls in type(error).__mro__:
        status = _HTTP_STATUS.get(cls)  # type: ignore[arg-type]
        if status is not None:
            return status
    return 500
