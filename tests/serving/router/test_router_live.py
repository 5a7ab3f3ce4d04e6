"""The real router (nginx data path + Python control plane) in front of little loopback backends."""

from __future__ import annotations

import threading
import time

import pytest

from serving.router.config import files_digest
from serving.router.tokens import issue_token
from tests.serving.router.client import Answer, call, count_answers
from tests.serving.router.conftest import (
    PRIMARY,
    SECONDARY,
    TOKEN_SECRET,
    endpoint,
    key,
    needs_nginx,
    wait_until,
)

pytestmark = needs_nginx


def reported_digest(port: int) -> str:
    """The config digest the router says is in force (GET / header)."""
    return call(port, "/", method="GET", body=None).headers.get("x-mlendpoints-config", "")


def test_liveness_needs_no_key(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")]}, {"blue": 100}))
    answer = call(router.port, "/", method="GET", body=None)
    assert (answer.status, answer.body) == (200, b"Healthy")


@pytest.mark.parametrize("secret", [PRIMARY, SECONDARY])
def test_primary_and_secondary_keys_are_accepted(backends, start_router, secret):
    blue = backends("blue")
    blue.keep_requests = True
    router = start_router(endpoint({"blue": [blue]}, {"blue": 100}))
    answer = call(router.port, headers=key(secret))
    assert answer.status == 200
    assert answer.json()["backend"] == "blue"
    assert answer.headers["azureml-model-deployment"] == "blue"
    # The caller's key is for the router only; the scorer gets a request id instead.
    assert "authorization" not in blue.stats.headers[-1]
    assert blue.stats.headers[-1]["x-request-id"] == answer.headers["x-request-id"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        key("wrong-key-0123456789abc"),
        key(PRIMARY.upper()),  # nginx's map ignores case; the router must not
        key(PRIMARY + "x"),
        {"Authorization": PRIMARY},
        {"Authorization": ""},
    ],
    ids=["missing", "wrong", "wrong-case", "longer", "no-scheme", "empty"],
)
def test_bad_or_missing_key_is_401_json(backends, start_router, headers):
    blue = backends("blue")
    router = start_router(endpoint({"blue": [blue]}, {"blue": 100}))
    answer = call(router.port, headers=headers)
    assert answer.status == 401
    assert "key" in answer.json()["message"]
    assert "azureml-model-deployment" not in answer.headers
    assert blue.stats.requests == 0


def test_header_routes_to_the_named_deployment(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")], "green": [backends("green")]}, {"blue": 100}))
    answer = call(router.port, headers={**key(), "azureml-model-deployment": "green"})
    assert answer.status == 200
    assert answer.json()["backend"] == "green"


def test_the_header_ignores_letter_case_like_azure_names_do(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")], "green": [backends("green")]}, {"blue": 100}))
    answer = call(router.port, headers={**key(), "azureml-model-deployment": "GREEN"})
    assert answer.json()["backend"] == "green"
    assert answer.headers["azureml-model-deployment"] == "green"


def test_unknown_deployment_header_is_404_naming_the_known_ones(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")], "green": [backends("green")]}, {"blue": 100}))
    answer = call(router.port, headers={**key(), "azureml-model-deployment": "purple"})
    assert answer.status == 404
    message = answer.json()["message"]
    assert "blue" in message and "green" in message


def test_unknown_deployment_without_key_is_401_and_lists_nothing(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")]}, {"blue": 100}))
    answer = call(router.port, headers={"azureml-model-deployment": "purple"})
    assert answer.status == 401
    assert b"blue" not in answer.body


def test_weighted_split_is_within_one_point_over_ten_thousand_requests(backends, start_router):
    blue, green = backends("blue"), backends("green")
    router = start_router(endpoint({"blue": [blue], "green": [green]}, {"blue": 70, "green": 30}))
    counts = count_answers(router.port, 10_000, connections=16, headers=key())
    assert sum(counts.values()) == 10_000
    assert abs(counts["blue"] / 10_000 - 0.70) <= 0.01
    assert abs(counts["green"] / 10_000 - 0.30) <= 0.01
    # What the backends saw agrees with what the client saw.
    assert (blue.stats.requests, green.stats.requests) == (counts["blue"], counts["green"])


def test_split_holds_for_clients_that_open_a_connection_per_request(backends, start_router):
    blue, green = backends("blue"), backends("green")
    router = start_router(endpoint({"blue": [blue], "green": [green]}, {"blue": 90, "green": 10}))
    counts = count_answers(router.port, 10_000, connections=8, headers=key(), keepalive=False)
    assert abs(counts["green"] / 10_000 - 0.10) <= 0.01


def test_no_traffic_is_503_but_the_header_still_routes(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")]}, {}))
    answer = call(router.port, headers=key())
    assert answer.status == 503
    assert "azureml-model-deployment" in answer.json()["message"]
    assert call(router.port, headers={**key(), "azureml-model-deployment": "blue"}).status == 200


def test_swagger_is_forwarded_to_the_routed_deployment(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")], "green": [backends("green")]}, {"blue": 100}))
    answer = call(
        router.port,
        "/swagger.json",
        method="GET",
        body=None,
        headers={**key(), "azureml-model-deployment": "green"},
    )
    assert answer.status == 200
    assert answer.json() == {"backend": "green", "path": "/swagger.json"}
    assert call(router.port, "/swagger.json", method="GET", body=None).status == 401


def test_other_paths_are_404_json(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")]}, {"blue": 100}))
    answer = call(router.port, "/nothing", method="GET", body=None, headers=key())
    assert answer.status == 404
    assert "/score" in answer.json()["message"]


def test_mirror_receives_its_share_and_live_answers_come_from_live(backends, start_router):
    blue, shadow = backends("blue"), backends("shadow")
    config = endpoint({"blue": [blue], "shadow": [shadow]}, {"blue": 100}, mirror_traffic={"shadow": 20})
    router = start_router(config)
    counts = count_answers(router.port, 5_000, connections=8, headers=key())
    assert counts == {"blue": 5_000}
    wait_until(lambda: shadow.stats.requests >= 1_000 - 50, what="mirror requests to arrive")
    assert abs(shadow.stats.requests - 1_000) <= 50  # the mirror share is exact per 100 slots as well


def test_header_routed_requests_are_not_mirrored(backends, start_router):
    blue, shadow = backends("blue"), backends("shadow")
    router = start_router(
        endpoint({"blue": [blue], "shadow": [shadow]}, {"blue": 100}, mirror_traffic={"shadow": 50})
    )
    counts = count_answers(
        router.port, 200, connections=2, headers={**key(), "azureml-model-deployment": "blue"}
    )
    assert counts == {"blue": 200}
    assert shadow.stats.requests == 0


def test_a_failing_mirror_never_changes_the_live_answer(backends, start_router):
    blue, shadow = backends("blue"), backends("shadow")
    shadow.behaviour.status = 500
    router = start_router(
        endpoint({"blue": [blue], "shadow": [shadow]}, {"blue": 100}, mirror_traffic={"shadow": 50})
    )
    assert count_answers(router.port, 400, connections=4, headers=key()) == {"blue": 400}
    shadow.stop()  # now it refuses connections
    assert count_answers(router.port, 400, connections=4, headers=key()) == {"blue": 400}


def test_a_slow_mirror_does_not_hold_the_live_answers(backends, start_router):
    blue, shadow = backends("blue"), backends("shadow")
    shadow.behaviour.delay_s = 5.0
    config = endpoint({"blue": [blue], "shadow": [shadow]}, {"blue": 100}, mirror_traffic={"shadow": 50})
    router = start_router(config)
    # One keep-alive connection, one request after another: had any live answer waited for its
    # mirror copy, some mirror request would have finished before the last live answer came.
    counts = count_answers(router.port, 100, connections=1, headers=key())
    mirror_done_by_then = shadow.stats.completed
    assert counts == {"blue": 100}
    assert mirror_done_by_then == 0
    wait_until(lambda: shadow.stats.requests == 50, what="the mirror copies (exactly half) to arrive")


def test_load_spreads_over_instances_and_fails_over(backends, start_router):
    first, second = backends("blue-0"), backends("blue-1")
    router = start_router(endpoint({"blue": [first, second]}, {"blue": 100}))
    counts = count_answers(router.port, 1_000, connections=8, headers=key())
    assert counts["blue-0"] > 200 and counts["blue-1"] > 200

    first.stop()
    counts = count_answers(router.port, 1_000, connections=8, headers=key())
    assert counts == {"blue-1": 1_000}  # connection refused moves on to the other instance

    first.start()  # back: after fail_timeout nginx tries it again and it takes traffic

    def back_in_rotation() -> bool:
        return count_answers(router.port, 200, connections=4, headers=key())["blue-0"] > 0

    wait_until(back_in_rotation, what="the restarted instance to receive traffic again")


def test_no_healthy_instance_is_503_naming_the_deployment(backends, start_router):
    blue, green = backends("blue"), backends("green")
    router = start_router(endpoint({"blue": [blue], "green": [green]}, {"blue": 100}))
    blue.stop()
    answer = call(router.port, headers=key())
    assert answer.status == 503
    assert "blue" in answer.json()["message"]
    assert answer.headers["azureml-model-deployment"] == "blue"
    assert call(router.port, headers={**key(), "azureml-model-deployment": "green"}).status == 200


def test_scorer_errors_pass_through_unchanged(backends, start_router):
    blue = backends("blue")
    blue.behaviour.status = 503  # e.g. a scorer whose init() has not returned yet
    router = start_router(endpoint({"blue": [blue]}, {"blue": 100}))
    answer = call(router.port, headers=key())
    assert answer.status == 503
    assert answer.json()["backend"] == "blue"


def test_unresolvable_instance_does_not_stop_the_router(backends, start_router):
    config = endpoint({"blue": [backends("blue")]}, {"blue": 100})
    config["deployments"]["green"] = {"instances": ["no-such-host.invalid:5001"]}
    router = start_router(config)
    assert call(router.port, headers=key()).status == 200
    answer = call(router.port, headers={**key(), "azureml-model-deployment": "green"})
    assert answer.status == 503
    assert "green" in answer.json()["message"]


def test_traffic_change_reloads_without_dropping_in_flight_requests(backends, start_router):
    blue, green = backends("blue"), backends("green")
    blue.behaviour.delay_s = 3.0
    config = endpoint({"blue": [blue], "green": [green]}, {"blue": 100})
    router = start_router(config)
    answers: list[Answer] = []

    def slow_call() -> None:
        answers.append(call(router.port, headers=key()))

    in_flight = [threading.Thread(target=slow_call) for _ in range(8)]
    for thread in in_flight:
        thread.start()
    wait_until(lambda: blue.stats.requests == 8, what="requests to reach blue")

    router.write_config({**config, "traffic": {"green": 100}})
    wait_until(lambda: "config applied (config file changed)" in router.messages(), what="the reload")
    assert blue.stats.completed == 0  # all eight were in flight across the reload
    assert call(router.port, headers=key()).json()["backend"] == "green"
    for thread in in_flight:
        thread.join(30)
    assert [a.status for a in answers] == [200] * 8
    assert {a.json()["backend"] for a in answers} == {"blue"}


def test_invalid_config_change_keeps_the_previous_config(backends, start_router):
    blue = backends("blue")
    config = endpoint({"blue": [blue]}, {"blue": 100})
    router = start_router(config)
    router.write_config({**config, "traffic": {"blue": 60}})  # does not sum to 100
    wait_until(lambda: "sum to 60" in router.messages(), what="the rejection to be logged")
    assert call(router.port, headers=key()).status == 200
    metrics = call(router.metrics_port, "/metrics", method="GET", body=None).body.decode()
    assert 'mlendpoints_router_config_reload_failures_total{endpoint="test-endpoint"} 1' in metrics


def test_keys_rotate_through_the_secrets_file(backends, start_router, tmp_path):
    secrets = tmp_path / "secrets.json"
    secrets.write_text('{"primary_key": "first-key-0123456789"}')
    env = {
        "MLE_ROUTER_SECRETS_FILE": str(secrets),
        "MLE_ROUTER_PRIMARY_KEY": "",
        "MLE_ROUTER_SECONDARY_KEY": "",
    }
    router = start_router(endpoint({"blue": [backends("blue")]}, {"blue": 100}), env)
    assert call(router.port, headers=key("first-key-0123456789")).status == 200
    staging = tmp_path / "secrets.tmp"
    staging.write_text('{"primary_key": "second-key-0123456789"}')
    staging.replace(secrets)
    rotated = files_digest(router.config_path.read_text(), secrets.read_text())

    # Until the digest shows, a worker with the old key may still take a request.
    wait_until(lambda: reported_digest(router.port) == rotated, what="the rotated secrets' digest on GET /")
    assert call(router.port, headers=key("second-key-0123456789")).status == 200
    assert call(router.port, headers=key("first-key-0123456789")).status == 401
    assert "second-key" not in router.messages() and "first-key" not in router.messages()


def test_metrics_count_requests_errors_and_latency_per_deployment(backends, start_router):
    blue, green = backends("blue"), backends("green")
    green.behaviour.status = 500
    router = start_router(endpoint({"blue": [blue], "green": [green]}, {"blue": 100}))
    count_answers(router.port, 30, connections=2, headers=key())
    count_answers(router.port, 5, connections=1, headers={**key(), "azureml-model-deployment": "green"})
    call(router.port, headers=key("wrong-key-0123456789abc"))
    labels = 'endpoint="test-endpoint",deployment="blue",kind="live"'

    def scrape() -> str:
        return call(router.metrics_port, "/metrics", method="GET", body=None).body.decode()

    green_labels = 'endpoint="test-endpoint",deployment="green",kind="live"'
    expected = [
        f'mlendpoints_router_requests_total{{{labels},code="200"}} 30',
        f'mlendpoints_router_requests_total{{{green_labels},code="500"}} 5',
        'deployment="none",kind="live",code="401"} 1',
    ]
    # Each nginx worker flushes its own log buffer: wait until every request has been counted.
    wait_until(lambda: all(line in scrape() for line in expected), what="metrics")
    text = scrape()
    assert f'mlendpoints_router_requests_total{{{green_labels},code="500"}} 5' in text
    assert f"mlendpoints_router_errors_total{{{green_labels}}} 5" in text
    assert f"mlendpoints_router_errors_total{{{labels}}} 0" in text
    assert f'mlendpoints_router_request_duration_seconds_bucket{{{labels},le="+Inf"}} 30' in text
    assert 'deployment="none",kind="live",code="401"} 1' in text
    # The main port serves the same page, behind the key.
    assert call(router.port, "/metrics", method="GET", body=None).status == 401
    assert (
        "mlendpoints_router_requests_total"
        in call(router.port, "/metrics", method="GET", body=None, headers=key()).body.decode()
    )


def test_request_logs_are_json_lines(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")]}, {"blue": 100}))
    call(router.port, headers={**key(), "x-ms-client-request-id": "client-1"})
    wait_until(lambda: len(router.request_log()) >= 1, what="the request log line")
    entry = router.request_log()[0]
    assert entry["deployment"] == "blue" and entry["status"] == 200 and entry["kind"] == "live"
    assert entry["client_request_id"] == "client-1"
    assert PRIMARY not in (router.dir / "stdout.log").read_text()


def test_request_lines_are_printed_only_for_deployments_that_log_requests(backends, start_router):
    config = endpoint({"blue": [backends("blue")], "green": [backends("green")]}, {"blue": 100})
    config["deployments"]["green"]["log_requests"] = False  # green's app_insights_enabled is off
    router = start_router(config)
    assert call(router.port, headers={**key(), "azureml-model-deployment": "green"}).status == 200
    assert call(router.port, headers={**key(), "x-ms-client-request-id": "last"}).status == 200
    assert call(router.port, headers=key("wrong")).status == 401
    counted = [
        'deployment="green",kind="live",code="200"} 1',
        'deployment="blue",kind="live",code="200"} 1',
        'deployment="none",kind="live",code="401"} 1',
    ]

    def scrape() -> str:
        return call(router.metrics_port, "/metrics", method="GET", body=None).body.decode()

    # Metrics and printing read the same log lines at once: once all three are counted (silenced
    # ones count too), every line has been printed or dropped.
    wait_until(lambda: all(line in scrape() for line in counted), what="all three requests counted")
    # The 401 was served by no deployment: the endpoint's own traffic log keeps it. (Workers flush
    # their buffered lines independently, so the order is not the order of the requests.)
    printed = sorted((e["deployment"], e["status"]) for e in router.request_log())
    assert printed == [("", 401), ("blue", 200)]


def test_token_auth_accepts_our_tokens_only(backends, start_router):
    config = endpoint({"blue": [backends("blue")]}, {"blue": 100}, auth_mode="aml_token")
    router = start_router(config, {"MLE_ROUTER_TOKEN_SECRET": TOKEN_SECRET})
    token = issue_token(TOKEN_SECRET, 600, audience="test-endpoint")
    assert call(router.port, headers=key(token)).status == 200
    assert call(router.port, headers=key(token)).status == 200  # served from the verdict cache

    expired = issue_token(TOKEN_SECRET, 10, audience="test-endpoint", now=time.time() - 60)
    answer = call(router.port, headers=key(expired))
    assert answer.status == 401 and "expired" in answer.json()["message"]
    forged = issue_token("another-secret-0123456789abcdef01234", 600, audience="test-endpoint")
    assert "signature" in call(router.port, headers=key(forged)).json()["message"]
    other = issue_token(TOKEN_SECRET, 600, audience="other-endpoint")
    assert call(router.port, headers=key(other)).status == 401
    assert call(router.port, headers=key(PRIMARY)).status == 401  # keys mean nothing in token mode
    missing = call(router.port)
    assert missing.status == 401 and "bearer" in missing.json()["message"]
    # Token checks come before routing: an unknown deployment does not leak the known ones.
    assert b"blue" not in call(router.port, headers={"azureml-model-deployment": "x"}).body


def test_invalid_config_at_start_exits_with_a_clear_message(backends, start_router):
    router = start_router({"endpoint": "x", "deployments": {}}, wait=False)
    assert router.proc.wait(30) == 2
    assert "endpoint name 'x' is invalid" in router.messages()


def test_sigterm_stops_gracefully(backends, start_router):
    router = start_router(endpoint({"blue": [backends("blue")]}, {"blue": 100}))
    assert router.stop() == 0
    assert "router stopped" in router.messages()


def test_health_reports_the_digest_of_the_config_in_force(backends, start_router):
    config = endpoint({"blue": [backends("blue")], "green": [backends("green")]}, {"blue": 100})
    router = start_router(config)

    first = reported_digest(router.port)
    assert first == files_digest(router.config_path.read_text())
    router.write_config({**config, "traffic": {"green": 100}})
    expected = files_digest(router.config_path.read_text())
    assert expected != first
    # Poll without pause so the check lands right at the reload, where a stale worker would show.
    deadline = time.monotonic() + 20
    while reported_digest(router.port) != expected:
        assert time.monotonic() < deadline, "timed out waiting for the new digest on GET /"
    # Once the digest shows, the new traffic is in force for every request: no worker still
    # running the old config accepts one (nginx keeps old workers accepting briefly on reload).
    backends_seen = {call(router.port, headers=key()).json()["backend"] for _ in range(40)}
    assert backends_seen == {"green"}


def test_a_not_ready_instance_is_skipped_for_a_ready_one(backends, start_router):
    # One instance restarting (its scorer answers 503 while init() runs), one ready.
    starting, ready = backends("blue"), backends("blue")
    starting.behaviour.status = 503
    router = start_router(endpoint({"blue": [starting, ready]}, {"blue": 100}))
    answers = [call(router.port, headers=key()) for _ in range(20)]
    assert [a.status for a in answers] == [200] * 20
    assert ready.stats.requests == 20
