"""Per-deployment request counters and latency histograms, fed from nginx's JSON request log."""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, field

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
NO_DEPLOYMENT = "none"  # label for requests that reached no deployment (401, unknown header, no traffic)
_PREFIX = "mlendpoints_router"


@dataclass(frozen=True)
class RequestRecord:
    """The fields of one request log line that metrics need."""

    deployment: str
    kind: str  # live | mirror | mirror_dropped
    status: int
    seconds: float


# Field order is fixed by the log_format in nginx_conf; values never hold quotes (escape=json).
# A regex over the whole batch costs a third of json.loads per line, and runs beside the data path.
_FIELDS = re.compile(r'"kind":"([^"]*)".*?"deployment":"([^"]*)".*?"status":(\d+),"request_time":([0-9.]+)')


def _record(kind: str, deployment: str, status: str, seconds: str) -> RequestRecord:
    name = deployment if deployment and deployment != "-" else NO_DEPLOYMENT
    return RequestRecord(deployment=name, kind=kind, status=int(status), seconds=float(seconds))


def parse_line(line: str) -> RequestRecord | None:
    """A log line as a record; None for lines that are not router request logs."""
    match = _FIELDS.search(line)
    return _record(*match.groups()) if match else None


@dataclass
class _Series:
    codes: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS_S))
    seconds_sum: float = 0.0
    count: int = 0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class RouterMetrics:
    """Counters for one router process; rendered in the Prometheus text format."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._series: dict[tuple[str, str], _Series] = {}
        self.reloads = 0
        self.reload_failures = 0
        self.unparsed_lines = 0

    def observe(self, record: RequestRecord) -> None:
        series = self._series.setdefault((record.deployment, record.kind), _Series())
        series.codes[record.status] += 1
        # 5xx are ours or the scorer's; mirror_dropped are shed mirror requests, counted as errors too.
        if record.status >= 500:
            series.errors += 1
        if record.kind == "mirror_dropped":
            return
        series.count += 1
        series.seconds_sum += record.seconds
        index = bisect.bisect_left(LATENCY_BUCKETS_S, record.seconds)
        if index < len(series.buckets):
            series.buckets[index] += 1

    def observe_log(self, text: str) -> None:
        """Count every request line in a chunk of the request log (whole lines)."""
        matches = _FIELDS.findall(text)
        for groups in matches:
            self.observe(_record(*groups))
        self.unparsed_lines += text.count("\n") - len(matches)

    def requests(self, deployment: str, kind: str = "live") -> int:
        """Requests seen for one deployment (for tests and the CLI)."""
        series = self._series.get((deployment, kind))
        return sum(series.codes.values()) if series else 0

    def render(self) -> str:
        endpoint = _escape(self.endpoint)
        lines = [
            f"# HELP {_PREFIX}_requests_total Requests answered, by deployment, kind and status code.",
            f"# TYPE {_PREFIX}_requests_total counter",
        ]
        for (deployment, kind), series in sorted(self._series.items()):
            labels = f'endpoint="{endpoint}",deployment="{_escape(deployment)}",kind="{kind}"'
            lines += [
                f'{_PREFIX}_requests_total{{{labels},code="{code}"}} {n}'
                for code, n in sorted(series.codes.items())
            ]
        lines += [
            f"# HELP {_PREFIX}_errors_total Requests answered with a 5xx status (mirror: also shed ones).",
            f"# TYPE {_PREFIX}_errors_total counter",
        ]
        for (deployment, kind), series in sorted(self._series.items()):
            labels = f'endpoint="{endpoint}",deployment="{_escape(deployment)}",kind="{kind}"'
            lines.append(f"{_PREFIX}_errors_total{{{labels}}} {series.errors}")
        lines += [
            f"# HELP {_PREFIX}_request_duration_seconds Time from first byte in to last byte out.",
            f"# TYPE {_PREFIX}_request_duration_seconds histogram",
        ]
        for (deployment, kind), series in sorted(self._series.items()):
            if kind == "mirror_dropped":
                continue
            labels = f'endpoint="{endpoint}",deployment="{_escape(deployment)}",kind="{kind}"'
            cumulative = 0
            for bound, n in zip(LATENCY_BUCKETS_S, series.buckets, strict=True):
                cumulative += n
                lines.append(
                    f'{_PREFIX}_request_duration_seconds_bucket{{{labels},le="{bound:g}"}} {cumulative}'
                )
            lines += [
                f'{_PREFIX}_request_duration_seconds_bucket{{{labels},le="+Inf"}} {series.count}',
                f"{_PREFIX}_request_duration_seconds_sum{{{labels}}} {series.seconds_sum:.6f}",
                f"{_PREFIX}_request_duration_seconds_count{{{labels}}} {series.count}",
            ]
        lines += [
            f"# HELP {_PREFIX}_config_reloads_total Config changes applied to nginx.",
            f"# TYPE {_PREFIX}_config_reloads_total counter",
            f'{_PREFIX}_config_reloads_total{{endpoint="{endpoint}"}} {self.reloads}',
            f"# HELP {_PREFIX}_config_reload_failures_total Config changes rejected (the old config stays).",
            f"# TYPE {_PREFIX}_config_reload_failures_total counter",
            f'{_PREFIX}_config_reload_failures_total{{endpoint="{endpoint}"}} {self.reload_failures}',
        ]
        return "\n".join(lines) + "\n"
