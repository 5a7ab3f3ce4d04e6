"""Metrics from the request log: per-deployment counters and a cumulative latency histogram."""

from __future__ import annotations

from serving.router.metrics import RouterMetrics, parse_line


def line(kind: str = "live", deployment: str = "blue", status: int = 200, seconds: float = 0.003) -> str:
    return (
        f'{{"ts":"2026-01-01T00:00:00+00:00","kind":"{kind}","endpoint":"ep","deployment":"{deployment}",'
        f'"routed_by":"weights","method":"POST","path":"/score","status":{status},"request_time":{seconds:.3f},'
        '"upstream":"10.0.0.1:5001","upstream_status":"200"}'
    )


def test_parse_line_reads_the_fields_metrics_need():
    record = parse_line(line(status=503, seconds=0.25))
    assert record is not None
    assert (record.deployment, record.kind, record.status, record.seconds) == ("blue", "live", 503, 0.25)
    assert parse_line("nginx: [warn] something") is None
    unrouted = parse_line(line(deployment=""))
    assert unrouted is not None and unrouted.deployment == "none"


def test_counters_and_histogram_render_as_prometheus_text():
    metrics = RouterMetrics("ep")
    log = [
        line(seconds=0.003),
        line(seconds=0.003),
        line(status=500, seconds=0.2),
        line(deployment="", status=401),
    ]
    log += [
        line(kind="mirror", deployment="green", seconds=1.5),
        line(kind="mirror_dropped", deployment="green", status=503),
    ]
    metrics.observe_log("\n".join(log) + "\ngarbage\n")
    text = metrics.render()
    blue = 'endpoint="ep",deployment="blue",kind="live"'
    assert f'mlendpoints_router_requests_total{{{blue},code="200"}} 2' in text
    assert f'mlendpoints_router_requests_total{{{blue},code="500"}} 1' in text
    assert f"mlendpoints_router_errors_total{{{blue}}} 1" in text
    assert f'mlendpoints_router_request_duration_seconds_bucket{{{blue},le="0.0025"}} 0' in text
    assert f'mlendpoints_router_request_duration_seconds_bucket{{{blue},le="0.005"}} 2' in text
    assert f'mlendpoints_router_request_duration_seconds_bucket{{{blue},le="0.25"}} 3' in text
    assert f'mlendpoints_router_request_duration_seconds_bucket{{{blue},le="+Inf"}} 3' in text
    assert f"mlendpoints_router_request_duration_seconds_count{{{blue}}} 3" in text
    assert 'deployment="none",kind="live",code="401"} 1' in text
    assert 'deployment="green",kind="mirror",code="200"} 1' in text
    assert 'mlendpoints_router_errors_total{endpoint="ep",deployment="green",kind="mirror_dropped"} 1' in text
    assert metrics.requests("blue") == 3 and metrics.requests("green", "mirror") == 1
    assert metrics.unparsed_lines == 1
    assert text.endswith("\n") and "# TYPE mlendpoints_router_request_duration_seconds histogram" in text


def test_reload_counters_are_exported():
    metrics = RouterMetrics("ep")
    metrics.reloads, metrics.reload_failures = 2, 1
    text = metrics.render()
    assert 'mlendpoints_router_config_reloads_total{endpoint="ep"} 2' in text
    assert 'mlendpoints_router_config_reload_failures_total{endpoint="ep"} 1' in text
