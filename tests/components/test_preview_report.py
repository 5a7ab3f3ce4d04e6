"""The preview report from engine events (streamed `pulumi preview --json`), and its markdown.

Events are built here the way the engine streams them; the real engine's are asserted on in
tests/integration/test_preview_cli.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.preview_events import PreviewOutputError, parse_events
from components.preview_markdown import render
from components.preview_report import SCHEMA, build_report

STACK = "urn:pulumi:local::mlendpoints::"
EP = f"{STACK}mlendpoints:online:OnlineEndpoint::demo"
DEP = f"{STACK}mlendpoints:online:OnlineEndpoint$mlendpoints:online:OnlineDeployment::demo-blue"
DYN = "pulumi-python:dynamic:Resource"
IN_DEP = f"{STACK}mlendpoints:online:OnlineEndpoint$mlendpoints:online:OnlineDeployment${DYN}"


def step(
    op: str, urn: str, parent: str | None, old: dict[str, Any] | None, new: dict[str, Any] | None
) -> str:
    kind = urn.rsplit("::", 2)[-2].rsplit("$", 1)[-1]
    meta: dict[str, Any] = {"op": op, "urn": urn, "type": kind}
    if old is not None:
        meta["old"] = {"urn": urn, "type": kind, "parent": parent, "inputs": old}
    if new is not None:
        meta["new"] = {"urn": urn, "type": kind, "parent": parent, "inputs": new}
    return json.dumps({"sequence": 1, "resourcePreEvent": {"metadata": meta}})


def components(op: str = "same") -> list[str]:
    return [step(op, EP, f"{STACK}pulumi:pulumi:Stack::s", {}, {}), step(op, DEP, EP, {}, {})]


def traffic(before: dict[str, int], after: dict[str, int]) -> str:
    urn = f"{STACK}mlendpoints:online:OnlineEndpoint${DYN}::demo-traffic"
    op = "same" if before == after else "update"
    return step(op, urn, EP, {"config": {"traffic": before}}, {"config": {"traffic": after}})


def container(op: str, old_content: str, new_content: str, index: int = 0) -> str:
    urn = f"{IN_DEP}::demo-blue-{index}"
    old = {"image": "img:1", "labels": {"io.mlendpoints.content": old_content}}
    new = {"image": "img:1", "labels": {"io.mlendpoints.content": new_content}}
    return step(op, urn, DEP, old, new)


def image(op: str, old: dict[str, Any], new: dict[str, Any]) -> str:
    urn = (
        f"{STACK}mlendpoints:online:OnlineEndpoint$mlendpoints:online:OnlineDeployment${DYN}::demo-blue-image"
    )
    return step(op, urn, DEP, old, new)


def policy(level: str, name: str = "min-instances", urn: str = DEP) -> str:
    event = {"policyName": name, "enforcementLevel": level, "resourceUrn": urn, "message": "why\nwhat\n"}
    return json.dumps({"policyEvent": event})


def diagnostic(severity: str, message: str) -> str:
    return json.dumps({"diagnosticEvent": {"severity": severity, "message": f"{severity}: {message}\n"}})


def report(lines: list[str], fail_on: str = "mandatory") -> Any:
    return build_report(parse_events(lines), "local", fail_on)


def test_a_traffic_change_applies_in_place_with_its_weights() -> None:
    r = report([*components(), traffic({"blue": 100, "green": 0}, {"blue": 80, "green": 20})])
    (endpoint,) = r.endpoints
    assert endpoint.status == "changed" and endpoint.traffic is not None
    assert (endpoint.traffic.before, endpoint.traffic.after) == (
        {"blue": 100, "green": 0},
        {"blue": 80, "green": 20},
    )
    assert [c.resource for c in endpoint.in_place] == ["demo-traffic"] and endpoint.replaced == []
    assert r.exit_code == 0 and not r.no_changes
    text = render(r)
    assert "| demo | changed (online) | blue 100 → 80, green 0 → 20 |" in text
    assert "none: changes apply in place" in text


def test_a_code_change_replaces_the_instances_and_says_why() -> None:
    r = report([*components(), container("replace", "aaa", "bbb")])
    (endpoint,) = r.endpoints
    (replaced,) = endpoint.replaced
    assert replaced.deployment == "blue" and replaced.why == "code or model content changed"
    assert endpoint.deployments_updated == ["blue"] and endpoint.images == []
    assert (
        "1 replaced: instance 0 of deployment blue (`demo-blue-0`) (code or model content changed)"
        in render(r)
    )


def test_an_image_built_anew_says_what_changed() -> None:
    old = {"tag": "s:1", "requirements": ["numpy==1.26"], "base_image": "b"}
    new = {"tag": "s:2", "requirements": ["numpy==2.0"], "base_image": "b"}
    r = report([*components(), image("replace", old, new)])
    (built,) = r.endpoints[0].images
    assert (built.deployment, built.why) == ("blue", "environment packages changed")
    same = report([*components(), image("same", old, old)])
    assert same.endpoints[0].images == [] and same.no_changes


@pytest.mark.parametrize(
    ("levels", "fail_on", "code"),
    [
        ((), "mandatory", 0),
        (("advisory",), "mandatory", 2),
        (("advisory",), "advisory", 1),
        (("mandatory", "advisory"), "mandatory", 1),
    ],
)
def test_exit_codes_follow_the_policy_levels(levels: tuple[str, ...], fail_on: str, code: int) -> None:
    r = report([*components(), *(policy(level) for level in levels)], fail_on)
    assert r.exit_code == code
    assert [(p.level, p.endpoint, p.resource) for p in r.policy] == [
        (level, "demo", "demo-blue") for level in levels
    ]


def test_a_program_error_fails_with_its_own_message_not_the_engine_s() -> None:
    quota = "quota: needs 40 cores in total: 10 × 4; available 8"  # noqa: RUF001 (the quota's own sign)
    r = report(
        [
            diagnostic("error", quota),
            diagnostic("error", "preview failed"),
            json.dumps({"summaryEvent": {"result": "failed"}}),
        ]
    )
    assert (r.result, r.exit_code, r.errors) == ("failed", 1, [quota])
    assert f"**Error**: {quota}" in render(r)


def test_nothing_to_do_says_no_changes_and_warnings_appear_once() -> None:
    r = report(
        [
            *components(),
            traffic({"blue": 100}, {"blue": 100}),
            diagnostic("warning", "w"),
            diagnostic("warning", "w"),
        ]
    )
    assert r.no_changes and r.exit_code == 0 and r.warnings == ["w"]
    assert r.endpoints[0].status == "unchanged"
    assert "**no changes**" in render(r)
    assert json.loads(r.model_dump_json(by_alias=True))["schema"] == SCHEMA


def test_output_that_is_not_the_event_stream_is_refused() -> None:
    with pytest.raises(PreviewOutputError, match="line 1"):
        parse_events(["error: no stack named 'x' found"])
    with pytest.raises(PreviewOutputError, match="no engine events"):
        parse_events(["", "  "])


def test_the_kubernetes_router_s_config_map_gives_the_weights_too() -> None:
    urn = f"{STACK}mlendpoints:online:OnlineEndpoint$kubernetes:core/v1:ConfigMap::demo-traffic"
    old = {"data": {"config.json": json.dumps({"traffic": {"blue": 100}, "mirror_traffic": {}})}}
    new = {"data": {"config.json": json.dumps({"traffic": {"blue": 50, "green": 50}, "mirror_traffic": {}})}}
    (endpoint,) = report([*components(), step("update", urn, EP, old, new)]).endpoints
    assert endpoint.traffic is not None and endpoint.traffic.after == {"blue": 50, "green": 50}
    assert endpoint.mirror is None
