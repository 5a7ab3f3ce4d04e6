"""The controller's two HTTP apps as plain callables: request in, Response out (no sockets here)."""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ValidationError

from serving.batch.controller.auth import authenticate
from serving.batch.controller.config import ConfigWatcher
from serving.batch.controller.counts_cache import CountsCache
from serving.batch.controller.datastores import Datastores
from serving.batch.controller.errors import BadRequest, ControllerError, NotFound, Unauthorized
from serving.batch.controller.invoke import parse_invoke
from serving.batch.controller.jobs import build_job, input_sizes, new_job_name
from serving.batch.controller.minibatches import split
from serving.batch.controller.pipeline_jobs import build_pipeline_job
from serving.batch.controller.resource import job_resource
from serving.batch.controller.scheduler import Connected, Scheduler, connected_always
from serving.batch.controller.settings import ControllerSettings
from serving.batch.controller.step_store import StepStore
from serving.batch.controller.store import Store
from serving.batch.controller.store_rows import JobRow
from serving.batch.protocol import (
    NODE_SECRET_HEADER,
    ControllerConfig,
    DeploymentConfig,
    Heartbeat,
    LeaseRequest,
    Leases,
    Report,
)
from serving.router.nginx_conf import CONFIG_HEADER

log = logging.getLogger("serving.batch.controller")
DEPLOYMENT_HEADER = "azureml-model-deployment"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def model_response(model: BaseModel) -> Response:
    """A 200 JSON answer serialized by pydantic itself (node answers carry a bundle's leases)."""
    return Response(200, model.model_dump_json().encode(), {"Content-Type": "application/json"})


def error_response(exc: ControllerError) -> Response:
    return json_response(exc.status, {"message": str(exc)})


App = Callable[[str, str, Mapping[str, str], bytes, Connected], Response]


class _GuardedApp:
    """An app: `_route` answers, errors become JSON answers (never a traceback in an answer)."""

    def __call__(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        connected: Connected = connected_always,
    ) -> Response:
        try:
            return self._route(method, path, headers, body, connected)
        except ControllerError as exc:
            return error_response(exc)
        except Exception:
            log.exception("%s %s failed", method, path)
            return json_response(500, {"message": "internal error in the batch controller; see its log"})

    def _route(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, connected: Connected
    ) -> Response:
        raise NotImplementedError


def pick_deployment(config: ControllerConfig, requested: str | None) -> DeploymentConfig:
    """The header's deployment, else the endpoint's default; errors name the deployments there are."""
    known = ", ".join(sorted(config.deployments)) or "none"
    if requested:
        found = config.deployments.get(requested) or next(
            (d for name, d in config.deployments.items() if name.lower() == requested.lower()), None
        )
        if found is None:
            raise NotFound(
                f"deployment {requested!r} does not exist on endpoint {config.endpoint}; "
                f"its deployments: {known}"
            )
        return found
    default = config.default_deployment
    if default is None:
        raise BadRequest(
            f"endpoint {config.endpoint} has no default deployment; name one in the {DEPLOYMENT_HEADER} "
            f"header: {known}"
        )
    if default not in config.deployments:
        raise BadRequest(
            f"the default deployment {default!r} of endpoint {config.endpoint} does not exist; "
            f"its deployments: {known}"
        )
    return config.deployments[default]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON ({exc})") from None


def _model(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequest(f"{model.__name__}: {problems}") from None


def _segments(path: str) -> tuple[list[str], dict[str, list[str]]]:
    parts = urlsplit(path)
    return [unquote(p) for p in parts.path.split("/") if p], parse_qs(parts.query)


class PublicApp(_GuardedApp):
    """Invoke, list, get and cancel jobs (Bearer key or token); `GET /` health without auth."""

    def __init__(
        self,
        store: Store,
        watcher: ConfigWatcher,
        scheduler: Scheduler,
        settings: ControllerSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.watcher, self.scheduler, self.settings, self.clock = (
            store,
            watcher,
            scheduler,
            settings,
            clock,
        )
        self.counts = CountsCache(store)

    def _route(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, _: Connected
    ) -> Response:
        parts, query = _segments(path)
        applied = self.watcher.current
        if not parts:
            if method not in ("GET", "HEAD"):
                return json_response(405, {"message": f"{method} / is not allowed; use GET"})
            # The digest once in force (see Scheduler.tick): `pulumi up` waits for it.
            in_force = self.scheduler.config_digest
            return Response(200, b"Healthy", {"Content-Type": "text/plain", CONFIG_HEADER: in_force})
        if parts[0] != "jobs" or len(parts) > 3 or (len(parts) == 3 and parts[2] != "cancel"):
            raise NotFound(
                f"no route {path.split('?')[0]}; the jobs API is /jobs, /jobs/<name>, /jobs/<name>/cancel"
            )
        authenticate(applied.secrets, applied.config.endpoint, headers.get("authorization"))
        allowed = {1: ("GET", "POST"), 2: ("GET",), 3: ("POST",)}[len(parts)]
        if method not in allowed:
            return json_response(
                405, {"message": f"{method} is not allowed here; use {' or '.join(allowed)}"}
            )
        if len(parts) == 1 and method == "POST":
            return self.invoke(applied.config, headers, body)
        if len(parts) == 1:
            deployment = query["deployment"][0] if query.get("deployment") else None
            jobs = self.store.jobs(deployment=deployment)
            return json_response(200, {"value": [self._resource(j) for j in jobs], "nextLink": None})
        name = parts[1]
        if len(parts) == 3:
            self.store.cancel(name, self.clock())
            self.scheduler.wake.set()
        return json_response(200, self._resource(self.store.job(name)))

    def _resource(self, job: JobRow) -> dict[str, Any]:
        steps = self.scheduler.pipelines.steps.steps(job.spec.name) if job.spec.pipeline is not None else None
        return job_resource(job, self.counts.counts(job), steps)

    def invoke(self, config: ControllerConfig, headers: Mapping[str, str], body: bytes) -> Response:
        deployment = pick_deployment(config, headers.get(DEPLOYMENT_HEADER))
        datastores = Datastores(config, self.settings.datastores_root)
        if deployment.pipeline is not None:
            name = new_job_name()
            spec = build_pipeline_job(_json(body), config.endpoint, deployment, datastores, name)
            steps = StepStore.add(name, list(deployment.pipeline.steps))
            self.store.create_job(spec, [], self.clock(), kind="pipeline", also=steps)
            self.scheduler.wake.set()
            log.info("job %s: pipeline for deployment %s", name, deployment.name)
            return json_response(200, self._resource(self.store.job(name)))
        request = parse_invoke(_json(body))
        name = request.name or new_job_name()
        spec, files = build_job(request, config.endpoint, deployment, datastores, name)
        size = spec.settings.mini_batch_size
        nbytes = [sum(sizes) for sizes in split(input_sizes(files), size)]
        self.store.create_job(spec, split(files, size), self.clock(), nbytes=nbytes)
        try:  # drivers write custom outputs there (AZUREML_BI_OUTPUT_PATH), as into Azure's mounted folder
            os.makedirs(spec.output_folder, exist_ok=True)
        except OSError as exc:
            log.warning("job %s: cannot create the output folder %s: %s", name, spec.output_folder, exc)
        self.scheduler.job_submitted(deployment.name, spec.settings.instance_count)
        log.info("job %s: %d files for deployment %s", name, len(files), deployment.name)
        return json_response(200, self._resource(self.store.job(name)))


class InternalApp(_GuardedApp):
    """The node API: lease, heartbeat, complete; every request carries the node secret."""

    def __init__(self, scheduler: Scheduler, settings: ControllerSettings) -> None:
        self.scheduler = scheduler
        self._secret = settings.node_secret.get_secret_value().encode()

    def _route(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, connected: Connected
    ) -> Response:
        parts, _ = _segments(path)
        if not parts and method in ("GET", "HEAD"):
            return Response(200, b"Healthy", {"Content-Type": "text/plain"})
        sent = headers.get(NODE_SECRET_HEADER.lower(), "").encode()
        if not hmac.compare_digest(sent, self._secret):
            raise Unauthorized(f"the node API needs the endpoint's node secret in {NODE_SECRET_HEADER}")
        if len(parts) != 2 or parts[0] != "internal" or parts[1] not in ("lease", "heartbeat", "complete"):
            raise NotFound(f"no route {path}; the node API is POST /internal/lease|heartbeat|complete")
        if method != "POST":
            return json_response(405, {"message": f"{method} is not allowed here; use POST"})
        if parts[1] == "lease":
            leases = self.scheduler.lease(_model(LeaseRequest, body), connected)
            if not leases:
                return Response(204)
            return model_response(Leases.model_construct(leases=leases))
        if parts[1] == "heartbeat":
            return model_response(self.scheduler.heartbeat(_model(Heartbeat, body)))
        return model_response(self.scheduler.complete(_model(Report, body)))
