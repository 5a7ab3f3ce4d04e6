"""Render nginx.conf (the router's data path) from the router config: a pure function of its inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from serving.limits import (
    KIB,
    MAX_HEAD_BYTES,
    MIB,
    ROUTER_HEADER_BUFFER_BYTES,
    ROUTER_LARGE_HEADER_BUFFER_BYTES,
)
from serving.router.config import RouterConfig, RouterSecrets
from serving.router.nginx_maps import (
    UNKNOWN,
    auth_maps,
    common_maps,
    json_body,
    log_formats,
    quote,
    routing_maps,
    upstream_name,
)

HEALTH_PATH = "/"
# On the health answer: the digest (config.files_digest) of the config files now in force.
CONFIG_HEADER = "X-Mlendpoints-Config"
# Must stay below the scorer's own keep-alive timeout (65 s), or nginx may reuse a connection the
# scorer has just closed, and a POST that already went out on it fails with 502.
UPSTREAM_KEEPALIVE_TIMEOUT_S = 4
URI_TOO_LONG_PATH = "/_mle/uri-too-long"
HEADER_TOO_LARGE_PATH = "/_mle/header-too-large"


@dataclass(frozen=True)
class Layout:
    """Paths and ports of one running router (everything the config file does not say)."""

    run_dir: Path
    host: str = "0.0.0.0"
    port: int = 8080
    metrics_port: int = 0
    workers: str = "auto"
    worker_user: str | None = None  # set when the master runs as root
    max_open_files: int | None = None  # never above the hard limit: raising it needs privileges

    @property
    def conf(self) -> Path:
        return self.run_dir / "nginx.conf"

    @property
    def pid(self) -> Path:
        return self.run_dir / "nginx.pid"

    @property
    def access_log(self) -> Path:
        return self.run_dir / "access.log"

    @property
    def control_socket(self) -> Path:
        return self.run_dir / "control.sock"

    @property
    def mirror_socket(self) -> Path:
        return self.run_dir / "mirror.sock"

    @property
    def admin_socket(self) -> Path:
        return self.run_dir / "admin.sock"

    @property
    def empty_dir(self) -> Path:
        return self.run_dir / "empty"

    @property
    def temp_dirs(self) -> dict[str, Path]:
        base = self.run_dir / "tmp"
        names = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        return {name: base / name for name in names}

    @property
    def auth_cache(self) -> Path:
        return self.run_dir / "auth-cache"


def _upstreams(config: RouterConfig, addresses: Mapping[str, Sequence[str]], layout: Layout) -> list[str]:
    lines: list[str] = []
    for name, route in sorted(config.deployments.items()):
        servers = [
            f"server {addr} max_fails={route.max_fails} fail_timeout={route.fail_timeout_s}s;"
            for instance in route.instances
            for addr in addresses.get(instance, ())
        ]
        # No instance is resolvable yet: a permanently-down placeholder makes nginx answer 502 -> our 503.
        servers = servers or ["server 127.0.0.1:9 down;"]
        lines += [f"upstream {upstream_name(name)} {{", "    least_conn;"]
        lines += [f"    {s}" for s in servers]
        lines += [
            "    keepalive 128;",
            f"    keepalive_timeout {UPSTREAM_KEEPALIVE_TIMEOUT_S}s;",
            "}",
        ]
    lines += [
        "upstream mle_control {",
        f"    server unix:{layout.control_socket};",
        "    keepalive 4;",
        "}",
    ]
    if config.mirror is not None:
        lines += ["upstream mle_mirror_sink {", f"    server unix:{layout.mirror_socket};", "}"]
    return lines


def _proxy_settings(config: RouterConfig) -> list[str]:
    read_s = -(-config.read_timeout_ms // 1000)
    return [
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $http_host;",
        # The caller's key or token is for the router; user code never sees it.
        'proxy_set_header Authorization "";',
        "proxy_set_header X-Request-Id $mle_request_id;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"proxy_connect_timeout {config.connect_timeout_ms}ms;",
        f"proxy_send_timeout {read_s}s;",
        f"proxy_read_timeout {read_s}s;",
        # A failed connection, a timeout or a scorer's 503 (not ready: restarting, still in init())
        # moves the request to another instance and counts towards max_fails, so an instance that
        # is coming back stays out of rotation until it is ready. POSTs are resent too: a 503 from
        # a scorer means run() never started, and a read timeout fires only after the scorer's own
        # request timeout, when the instance is hung anyway.
        "proxy_next_upstream error timeout http_503 non_idempotent;",
        "proxy_next_upstream_tries 3;",
        f"proxy_next_upstream_timeout {read_s}s;",
    ]


def _auth_directives(config: RouterConfig) -> list[str]:
    if config.auth_mode == "key":
        message = (
            "Missing or invalid key: send the header Authorization: Bearer <key> "
            "with the primary or secondary key of the endpoint"
        )
        answer = f"return 401 {json_body(message)};"
        return [
            f"if ($mle_key_candidate = 0) {{ {answer} }}",
            f"if ($http_authorization != $mle_expected_authorization) {{ {answer} }}",
        ]
    return [
        "auth_request /_mle/auth;",
        "auth_request_set $mle_auth_message $upstream_http_x_mle_auth_message;",
        "error_page 401 = @mle_unauthorized;",
        "error_page 500 = @mle_auth_unavailable;",
    ]


def _routed_location(
    path: str, config: RouterConfig, layout: Layout, mirrored: bool, *, log: bool = True
) -> list[str]:
    body = [
        f"access_log {layout.access_log} mle_live buffer=64k flush=1s;" if log else "access_log off;",
        *_auth_directives(config),
        f"if ($mle_target = {quote(UNKNOWN)}) {{ rewrite ^ /_mle/unknown-deployment last; }}",
        'if ($mle_target = "") { rewrite ^ /_mle/no-traffic last; }',
        *(["mirror /_mle/mirror;", "mirror_request_body on;"] if mirrored else []),
        "proxy_pass http://mle_dep_$mle_target;",
        *_proxy_settings(config),
        "proxy_hide_header x-request-id;",
        "add_header x-request-id $mle_request_id always;",
        "add_header azureml-model-deployment $mle_served always;",
        "error_page 502 = @mle_unavailable;",
        "error_page 504 = @mle_timeout;",
        "error_page 413 = @mle_too_large;",
    ]
    return [f"location = {path} {{", *(f"    {line}" for line in body), "}"]


def _block(head: str, body: Sequence[str]) -> list[str]:
    return [f"{head} {{", *(f"    {line}" for line in body), "}"]


def _error_locations(config: RouterConfig) -> list[str]:
    known = ", ".join(sorted(config.deployments)) or "none yet"
    tag = ["add_header x-request-id $mle_request_id always;"]
    lines = _block(
        "location @mle_unknown_deployment",
        [
            *tag,
            "return 404 "
            + json_body(f"No deployment matches the azureml-model-deployment header; known: {known}")
            + ";",
        ],
    )
    lines += _block(
        "location @mle_no_traffic",
        [
            *tag,
            "return 503 "
            + json_body(
                f"Endpoint {config.endpoint} sends no traffic to any deployment: set its traffic, "
                f"or name a deployment in the azureml-model-deployment header (known: {known})"
            )
            + ";",
        ],
    )
    lines += _block(
        "location @mle_unavailable",
        [
            *tag,
            "add_header azureml-model-deployment $mle_target always;",
            "return 503 "
            + json_body("No healthy instance of deployment ${mle_target} could take the request; retry later")
            + ";",
        ],
    )
    lines += _block(
        "location @mle_timeout",
        [
            *tag,
            "add_header azureml-model-deployment $mle_target always;",
            "return 504 " + json_body("Deployment ${mle_target} did not answer in time") + ";",
        ],
    )
    lines += _block(
        "location @mle_too_large",
        [
            *tag,
            "return 413 "
            + json_body(
                f"Request body is larger than {config.max_body_mb} MiB ({config.max_body_mb * MIB} bytes)"
            )
            + ";",
        ],
    )
    lines += _block(
        f"location = {URI_TOO_LONG_PATH}",
        [
            "internal;",
            *tag,
            "return 414 "
            + json_body(
                "The request line (method, URL, HTTP version) is longer than the request head limit "
                f"({ROUTER_LARGE_HEADER_BUFFER_BYTES} bytes): send long inputs in the body"
            )
            + ";",
        ],
    )
    lines += _block(
        f"location = {HEADER_TOO_LARGE_PATH}",
        [
            "internal;",
            *tag,
            "return 431 "
            + json_body(
                "The request line and headers are larger than the request head limit: keep them "
                f"under {ROUTER_LARGE_HEADER_BUFFER_BYTES} bytes"
            )
            + ";",
        ],
    )
    if config.auth_mode != "key":
        lines += _block(
            "location @mle_unauthorized", [*tag, "return 401 " + json_body("${mle_auth_message}") + ";"]
        )
        lines += _block(
            "location @mle_auth_unavailable",
            [*tag, "return 500 " + json_body("The router could not check the token; retry later") + ";"],
        )
    return lines


def _internal_locations(config: RouterConfig, secrets: RouterSecrets) -> list[str]:
    lines: list[str] = []
    for path, named in (("unknown-deployment", "@mle_unknown_deployment"), ("no-traffic", "@mle_no_traffic")):
        # Internal redirects land here before token auth has run: authenticate, then answer.
        lines += _block(
            f"location = /_mle/{path}",
            ["internal;", *_auth_directives(config), f"try_files /.mle-none {named};"],
        )
    if config.auth_mode != "key":
        secret = secrets.token_secret.get_secret_value() if secrets.token_secret else ""
        # Cached verdicts are keyed by the secret's fingerprint: rotating it invalidates them.
        generation = hashlib.sha256(secret.encode()).hexdigest()[:16]
        lines += _block(
            "location = /_mle/auth",
            [
                "internal;",
                "proxy_pass http://mle_control/verify;",
                "proxy_method GET;",
                "proxy_pass_request_body off;",
                'proxy_set_header Content-Length "";',
                "proxy_set_header Authorization $http_authorization;",
                "proxy_http_version 1.1;",
                'proxy_set_header Connection "";',
                "proxy_cache mle_auth;",
                f'proxy_cache_key "{generation}$http_authorization";',
                "proxy_cache_methods GET HEAD POST;",
                "proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;",
                "proxy_connect_timeout 1s;",
                "proxy_read_timeout 5s;",
            ],
        )
    if config.mirror is not None:
        lines += _block(
            "location = /_mle/mirror",
            [
                "internal;",
                "if ($mle_mirror = 0) { return 204; }",
                # The sink answers at once and forwards on its own, so a slow mirror never holds
                # this request (nginx finishes a request only after its mirror subrequests).
                "proxy_pass http://mle_mirror_sink$request_uri;",
                "proxy_http_version 1.1;",
                "proxy_set_header Host $http_host;",
                'proxy_set_header Authorization "";',
                "proxy_set_header X-Request-Id $mle_request_id;",
                "proxy_connect_timeout 1s;",
                "proxy_send_timeout 5s;",
                "proxy_read_timeout 5s;",
            ],
        )
    return lines


def _front_server(
    config: RouterConfig, secrets: RouterSecrets, layout: Layout, source_digest: str
) -> list[str]:
    mirrored = config.mirror is not None
    health = ["access_log off;", "default_type text/plain;"]
    if source_digest:
        health.append(f'add_header {CONFIG_HEADER} "{source_digest}" always;')
    body = [
        f"listen {layout.host}:{layout.port} backlog=4096;",
        f"root {layout.empty_dir};",
        # nginx's own answers to an oversized head (494: its "header too large") become JSON. These
        # requests have no URI yet, so the pages are URIs: a named location would answer 500.
        f"error_page 414 = {URI_TOO_LONG_PATH};",
        f"error_page 494 = {HEADER_TOO_LARGE_PATH};",
        *_block(f"location = {HEALTH_PATH}", [*health, 'return 200 "Healthy";']),
        *_routed_location("/score", config, layout, mirrored),
        *_routed_location("/swagger.json", config, layout, False),
        *_block(
            "location = /metrics",
            [
                "access_log off;",
                *_auth_directives(config),
                "proxy_pass http://mle_control;",
                "proxy_http_version 1.1;",
                'proxy_set_header Connection "";',
            ],
        ),
        *_internal_locations(config, secrets),
        *_error_locations(config),
        *_block(
            "location /",
            [
                "access_log off;",
                "return 404 "
                + json_body("Not found: the endpoint serves POST /score, GET /swagger.json and GET /")
                + ";",
            ],
        ),
    ]
    return _block("server", body)


def _mirror_server(config: RouterConfig, layout: Layout) -> list[str]:
    mirror = config.mirror
    if mirror is None:
        return []
    name, _ = mirror
    forward = [
        "internal;",
        "log_subrequest on;",
        f"access_log {layout.access_log} mle_mirror buffer=64k flush=1s;",
        f"proxy_pass http://{upstream_name(name)}$request_uri;",
        *_proxy_settings(config),
        # The sink's caller hung up long ago; the mirror request still runs to its end.
        "proxy_ignore_client_abort on;",
    ]
    body = [
        f"listen unix:{layout.mirror_socket};",
        f"root {layout.empty_dir};",
        # Heads arrive here already accepted by the front server, plus what it adds to them.
        *_head_buffers(MAX_HEAD_BYTES),
        f"access_log {layout.access_log} mle_mirror_dropped if=$mle_mirror_dropped;",
        *_block(
            "location /",
            [
                # Bounds how many mirror requests may wait on a slow mirror; beyond it they are dropped.
                f"limit_conn mle_mirrors {config.max_pending_mirrors};",
                "limit_conn_status 503;",
                "limit_conn_log_level info;",
                "mirror /_mle/forward;",
                # The empty root answers 404 (GET) or 405 (POST) at once; both become a quiet 204.
                "log_not_found off;",
                "error_page 404 405 = @mle_done;",
            ],
        ),
        *_block("location @mle_done", ["return 204;"]),
        *_block("location = /_mle/forward", forward),
    ]
    return _block("server", body)


def _side_servers(layout: Layout, generation: str) -> list[str]:
    lines = _block(
        "server",
        [
            f"listen unix:{layout.admin_socket};",
            "access_log off;",
            *_block("location = /generation", ["default_type text/plain;", f'return 200 "{generation}";']),
            *_block("location = /stub_status", ["stub_status;"]),
        ],
    )
    if layout.metrics_port:
        lines += _block(
            "server",
            [
                f"listen {layout.host}:{layout.metrics_port};",
                "access_log off;",
                *_block(
                    "location = /metrics",
                    [
                        "proxy_pass http://mle_control;",
                        "proxy_http_version 1.1;",
                        'proxy_set_header Connection "";',
                    ],
                ),
                *_block(
                    "location /",
                    ["return 404 " + json_body("Not found: this port serves GET /metrics") + ";"],
                ),
            ],
        )
    return lines


def _head_buffers(large_bytes: int) -> list[str]:
    # A head that outgrows the small buffer moves, from its unfinished line on, into ONE large buffer:
    # nginx then accepts every head up to large_bytes and none above large_bytes + the small buffer
    # (serving/limits.py), whether the bytes are in a long URL, one long header or many headers.
    return [
        f"client_header_buffer_size {ROUTER_HEADER_BUFFER_BYTES // KIB}k;",
        f"large_client_header_buffers 1 {large_bytes // KIB}k;",
    ]


def _http_block(
    config: RouterConfig,
    secrets: RouterSecrets,
    layout: Layout,
    addresses: Mapping[str, Sequence[str]],
    generation: str,
    source_digest: str,
) -> list[str]:
    temp = [f"{kind}_temp_path {path};" for kind, path in layout.temp_dirs.items()]
    mirror = config.mirror
    body = [
        "server_tokens off;",
        "default_type application/json;",
        "access_log off;",
        "tcp_nodelay on;",
        "keepalive_timeout 75s;",
        # Long-lived client connections keep walking their exact schedule.
        "keepalive_requests 100000;",
        f"client_max_body_size {config.max_body_mb}m;",
        "client_body_buffer_size 1m;",
        *_head_buffers(ROUTER_LARGE_HEADER_BUFFER_BYTES),
        *temp,
        "map_hash_max_size 65536;",
        "map_hash_bucket_size 128;",
        *log_formats(mirror[0] if mirror else None),
        *common_maps(config),
        *auth_maps(config, secrets),
        *routing_maps(config),
        *_upstreams(config, addresses, layout),
        "limit_conn_zone $mle_endpoint zone=mle_mirrors:1m;",
    ]
    if config.auth_mode != "key":
        body.append(
            f"proxy_cache_path {layout.auth_cache} levels=1:2 keys_zone=mle_auth:1m max_size=64m "
            "inactive=2m use_temp_path=off;"
        )
    body += _front_server(config, secrets, layout, source_digest)
    body += _mirror_server(config, layout)
    body += _side_servers(layout, generation)
    return _block("http", body)


def render(
    config: RouterConfig,
    secrets: RouterSecrets,
    layout: Layout,
    addresses: Mapping[str, Sequence[str]],
    source_digest: str = "",
) -> str:
    """nginx.conf text. `addresses` maps each config instance (host:port) to the ip:port it resolved to.

    The text holds the keys: write it owner-only. It ends with a generation marker that the admin
    socket reports, so the supervisor can tell when a reload has taken effect.
    """
    read_s = -(-config.read_timeout_ms // 1000)
    head = [
        "# Generated by serving.router; edits are overwritten on the next config change.",
        "daemon off;",
        "master_process on;",
        f"worker_processes {layout.workers};",
        *([f"worker_rlimit_nofile {layout.max_open_files};"] if layout.max_open_files else []),
        # Old workers finish in-flight requests after a reload, but never hang on forever.
        f"worker_shutdown_timeout {read_s + 30}s;",
        f"pid {layout.pid};",
        "error_log stderr warn;",
        *([f"user {layout.worker_user};"] if layout.worker_user else []),
        *_block("events", [f"worker_connections {min(8192, (layout.max_open_files or 16384) // 2)};"]),
    ]
    draft = (
        "\n".join([*head, *_http_block(config, secrets, layout, addresses, "GENERATION", source_digest)])
        + "\n"
    )
    generation = hashlib.sha256(draft.encode()).hexdigest()[:16]
    return (
        "\n".join([*head, *_http_block(config, secrets, layout, addresses, generation, source_digest)]) + "\n"
    )


def generation_of(conf_text: str) -> str:
    """The generation marker a rendered config carries (what the admin socket answers)."""
    marker = "location = /generation {"
    tail = conf_text[conf_text.index(marker) :]
    return tail.split('return 200 "', 1)[1].split('"', 1)[0]
