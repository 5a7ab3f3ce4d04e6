"""Routes and the Azure ML answer contract; the one place where ScorerErrors become HTTP responses."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from serving.scorer.admission import LocalSlots, RunQueue, Slots
from serving.scorer.errors import (
    InternalError,
    MethodNotAllowed,
    NotFound,
    NotReady,
    RunFailed,
    ScorerError,
    TooManyRequests,
)
from serving.scorer.ids import RequestIds, request_ids
from serving.scorer.inputs import aml_request, query_values, run_arguments
from serving.scorer.logs import AccessLog
from serving.scorer.messages import JSON, TEXT, HeadEncoder, Request, Response
from serving.scorer.responses import NOT_FOUND, error_response, render_output
from serving.scorer.runner import RunInvoker
from serving.scorer.script import InputMode
from serving.scorer.settings import ScorerSettings
from serving.scorer.startup import ScriptState, load_state, prepare_environment
from serving.scorer.version import SERVER_VERSION

log = logging.getLogger("mlendpoints.scorer")

LIVENESS_PATH = "/"
READINESS_PATH = "/readyz"
SCORE_PATH = "/score"
SWAGGER_PATH = "/swagger.json"
_SCORE_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS"})
_READ_METHODS = frozenset({"GET", "HEAD"})


class ScoreJob:
    """A /score request waiting for (or holding) a concurrency slot."""

    __slots__ = ("arguments", "deadline", "ids", "request")

    def __init__(self, request: Request, ids: RequestIds, arguments: dict[str, Any]) -> None:
        self.request = request
        self.ids = ids
        self.arguments = arguments
        self.deadline = 0.0

    @property
    def abandoned(self) -> bool:
        conn = self.request.conn
        return conn is not None and conn.closed


class ScorerApp:
    """One per worker process: routes requests, queues /score runs, writes answers and access logs."""

    def __init__(
        self,
        settings: ScorerSettings,
        state: ScriptState,
        *,
        slots: Slots | None = None,
        on_run_start: Callable[[float], None] | None = None,
        on_run_end: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.max_body_bytes = settings.max_request_body_bytes
        self.draining = False
        self._encoder = HeadEncoder(SERVER_VERSION)
        self._access = AccessLog()
        self._invoker = (
            RunInvoker(
                state.script.run, settings.request_timeout_ms, settings.app_root, on_run_start, on_run_end
            )
            if state.script is not None
            else None
        )
        self._queue = RunQueue(
            slots or LocalSlots(settings.concurrency), settings.max_queue_wait_ms, self._execute, self._reject
        )

    def install_signal_handlers(self) -> None:
        """SIGALRM for request_timeout_ms; call from the thread that runs the event loop."""
        if self._invoker is not None:
            self._invoker.install()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def handle(self, request: Request) -> None:
        ids, id_error = request_ids(request.raw_headers)
        try:
            if id_error is not None:
                raise id_error
            if request.error is not None:
                raise request.error
            path = request.path
            if path == SCORE_PATH:
                response = self._score(request, ids)
                if response is None:
                    return  # queued; answered by _execute or _reject
            elif path == LIVENESS_PATH:
                response = self._liveness(request)
            elif path == READINESS_PATH:
                response = self._readiness(request)
            elif path == SWAGGER_PATH:
                response = self._swagger(request)
            else:
                raise NotFound(NOT_FOUND)
        except ScorerError as error:
            response = error_response(error)
        except Exception:
            log.exception("scorer bug while handling %s %s", request.method, request.path)
            response = error_response(InternalError("An unexpected internal error occurred. Check the logs."))
        self._finish(request, ids, response)

    # routes

    def _liveness(self, request: Request) -> Response:
        if request.method not in _READ_METHODS:
            raise MethodNotAllowed("The method is not allowed for the requested URL.")
        return Response(200, b"Healthy", TEXT)

    def _readiness(self, request: Request) -> Response:
        if request.method not in _READ_METHODS:
            raise MethodNotAllowed("The method is not allowed for the requested URL.")
        if self.state.error is not None:
            raise self.state.error
        return Response(200, b"Ready", TEXT)

    def _swagger(self, request: Request) -> Response:
        if request.method not in _READ_METHODS:
            raise MethodNotAllowed("The method is not allowed for the requested URL.")
        if self.state.error is not None:
            raise self.state.error
        if self.state.swagger is None:
            raise NotFound("swagger.json could not be generated for this scoring script; see the logs.")
        version = None
        if request.query:
            value = query_values(request.query).get("version")
            version = None if value is None else str(value)
        return Response(200, self.state.swagger.get(version), JSON)

    def _score(self, request: Request, ids: RequestIds) -> Response | None:
        script = self.state.script
        if script is None:
            raise self.state.error or NotReady("The scoring script is not loaded.")
        method = request.method
        if method not in _SCORE_METHODS:
            raise MethodNotAllowed("The method is not allowed for the requested URL.")
        if method == "OPTIONS" and script.signature.mode is not InputMode.RAW:
            return Response(200, b"", None)
        self._queue.submit(ScoreJob(request, ids, run_arguments(script.signature, request)))
        return None

    # the queue's callbacks

    def _execute(self, job: ScoreJob) -> None:
        script, invoker = self.state.script, self._invoker
        assert script is not None and invoker is not None
        arguments = job.arguments
        try:
            if script.signature.mode is InputMode.RAW:
                arguments[script.signature.first_param] = aml_request(job.request)
            output, run_ms = invoker.invoke(arguments)
            response = render_output(output, run_ms)
        except RunFailed as error:
            response = error_response(error, error.elapsed_ms)
        except ScorerError as error:
            response = error_response(error)
        except Exception:
            log.exception("scorer bug while answering run()'s output")
            response = error_response(InternalError("An unexpected internal error occurred. Check the logs."))
        self._finish(job.request, job.ids, response)

    def _reject(self, job: ScoreJob, waited_ms: float) -> None:
        error = TooManyRequests(
            f"Too many requests: all {self.settings.concurrency} slots "
            f"(max_concurrent_requests_per_instance) stayed busy for {waited_ms:.0f} ms "
            f"(max_queue_wait_ms={self.settings.max_queue_wait_ms}). Retry later or add instances."
        )
        self._finish(job.request, job.ids, error_response(error))

    def _finish(self, request: Request, ids: RequestIds, response: Response) -> None:
        close = self.draining or not request.keep_alive
        extra = ids.header_bytes()
        if not close and request.http_version == "1.0":
            extra += b"connection: keep-alive\r\n"
        data = self._encoder.encode(response, extra, close)
        if request.method == "HEAD" and response.body:
            data = data[: -len(response.body)]
        conn = request.conn
        if conn is not None:
            conn.send(data, close)
        status = response.status
        if status >= 300 or request.path not in (LIVENESS_PATH, READINESS_PATH):
            # probes that succeed are not logged, as on Azure ML
            self._access.write(
                method=request.method,
                path=request.path,
                status=status,
                duration_ms=(time.perf_counter() - request.started) * 1000,
                run_ms=response.run_ms,
                request_id=ids.request_id,
                client_request_id=ids.client_request_id,
            )


def create_app(
    settings: ScorerSettings, *, state: ScriptState | None = None, slots: Slots | None = None
) -> ScorerApp:
    """The scorer for one process; loads the script and calls init() unless a prepared state is given."""
    if state is None:
        prepare_environment(settings)
        state = load_state(settings)
    return ScorerApp(settings, state, slots=slots)
