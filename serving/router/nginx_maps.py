"""nginx.conf pieces that decide a request's fate: key check, target deployment, mirror sample, log lines."""

from __future__ import annotations

import json
from collections.abc import Mapping

from serving.router.config import RouterConfig, RouterSecrets
from serving.router.weights import ROTATIONS, exact_schedule, most_weighted, rotation_table

UNKNOWN = "-"  # $mle_target when the header names no deployment; never a valid deployment name


def quote(text: str) -> str:
    """An nginx double-quoted string; callers pass only validated names, keys and our own messages."""
    if any(c in text for c in '"\\$\n'):
        raise ValueError(f"refusing to quote {text!r} into nginx.conf")
    return f'"{text}"'


def json_body(message: str) -> str:
    """A single-quoted nginx string holding {"message": ...}; `${var}` inside is expanded by nginx."""
    body = json.dumps({"message": message})
    if "'" in body or "\\" in body:
        raise ValueError(f"message {message!r} cannot be embedded in nginx.conf")
    return f"'{body}'"


def upstream_name(deployment: str) -> str:
    return f"mle_dep_{deployment}"


def _map(source: str, target: str, entries: Mapping[str, str], default: str) -> list[str]:
    # `source` is our own text (variables allowed); keys come from validated names and keys.
    lines = [f"map {source} ${target} {{", f"    default {default};"]
    lines += [f"    {quote(key)} {value};" for key, value in entries.items()]
    return [*lines, "}"]


def routing_maps(config: RouterConfig) -> list[str]:
    names = sorted(config.deployments)
    lines = _map(
        "$http_azureml_model_deployment",
        "mle_header_target",
        {"": '""', **{name: name for name in names}},
        quote(UNKNOWN),
    )
    # Every connection picks one of ROTATIONS offsets at random; its request counter walks the slots.
    share = f"{100 / ROTATIONS:g}%"
    lines += ['split_clients "${connection}" $mle_rotation {']
    lines += [f"    {share} {r};" for r in range(ROTATIONS - 1)] + [f"    * {ROTATIONS - 1};", "}"]
    lines += [
        "map $connection_requests $mle_slot {",
        '    "~(?<mle_last2>[0-9][0-9])$" $mle_last2;',
        "    default 0$connection_requests;",
        "}",
    ]
    live = config.live_traffic
    if live:
        default = most_weighted(live)
        table = rotation_table(exact_schedule(live), default)
        lines += _map('"${mle_rotation}:${mle_slot}"', "mle_weighted_target", table, default)
    else:
        lines += ["map $mle_header_target $mle_weighted_target {", '    default "";', "}"]
    lines += [
        "map $mle_header_target $mle_target {",
        "    default $mle_header_target;",
        '    "" $mle_weighted_target;',
        "}",
        "map $mle_header_target $mle_routed_by {",
        "    default header;",
        '    "" weights;',
        "}",
    ]
    mirror = config.mirror
    if mirror is not None:
        _, percent = mirror
        table = rotation_table(exact_schedule({"1": percent, "0": 100 - percent}), "0")
        # Its own schedule (different seed) keeps mirror sampling independent of the live split.
        lines += _map('"${mle_rotation}:${mle_slot}"', "mle_mirror_sampled", table, "0")
        # Requests that name a deployment in the header are deliberate; only weighted traffic is mirrored.
        lines += [
            "map $mle_header_target $mle_mirror {",
            "    default 0;",
            '    "" $mle_mirror_sampled;',
            "}",
        ]
    return lines


def auth_maps(config: RouterConfig, secrets: RouterSecrets) -> list[str]:
    if config.auth_mode != "key":
        return []
    # map matches ignoring case, so it only picks the candidate; the `if` in each location then
    # compares case-sensitively. The hash lookup means a wrong key is never compared byte by byte
    # against a real one unless it already equals it up to case.
    keys = {f"Bearer {key}": quote(f"Bearer {key}") for key in secrets.accepted_keys()}
    lines = _map("$http_authorization", "mle_expected_authorization", keys, '""')
    return [*lines, *_map("$mle_expected_authorization", "mle_key_candidate", {"": "0"}, "1")]


def common_maps(config: RouterConfig) -> list[str]:
    return [
        "map $http_x_request_id $mle_request_id {",
        "    default $http_x_request_id;",
        '    "" $request_id;',
        "}",
        # 401s name no deployment (in the log or the answer): nothing was routed.
        'map "${status}:${mle_target}" $mle_served {',
        "    default $mle_target;",
        '    "~^401:" "";',
        "}",
        "map $status $mle_mirror_dropped {",
        "    default 0;",
        "    503 1;",
        "}",
        # A constant as a variable: limit_conn_zone and the log formats take only variables.
        f"map $pid $mle_endpoint {{ default {quote(config.endpoint)}; }}",
    ]


def log_formats(mirror: str | None) -> list[str]:
    live = (
        '{"ts":"$time_iso8601","kind":"live","endpoint":"$mle_endpoint",'
        '"deployment":"$mle_served","routed_by":"$mle_routed_by","method":"$request_method",'
        '"path":"$uri","status":$status,"request_time":$request_time,"upstream":"$upstream_addr",'
        '"upstream_status":"$upstream_status","upstream_time":"$upstream_response_time",'
        '"bytes_in":$request_length,"bytes_out":$bytes_sent,"request_id":"$mle_request_id",'
        '"client_request_id":"$http_x_ms_client_request_id"}'
    )
    lines = [f"log_format mle_live escape=json '{live}';"]
    if mirror is not None:
        for kind, deployment in (("mirror", mirror), ("mirror_dropped", mirror)):
            entry = (
                f'{{"ts":"$time_iso8601","kind":"{kind}","endpoint":"$mle_endpoint",'
                f'"deployment":"{deployment}","method":"$request_method","path":"$request_uri",'
                '"status":$status,"request_time":$request_time,"upstream":"$upstream_addr",'
                '"upstream_status":"$upstream_status","upstream_time":"$upstream_response_time",'
                '"request_id":"$mle_request_id"}'
            )
            lines.append(f"log_format mle_{kind} escape=json '{entry}';")
    return lines
