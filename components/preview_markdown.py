"""A PreviewReport as markdown for a pull-request comment: a summary table first, details collapsed.

Rendered from the report alone (`render(report)`), so the JSON a CI job keeps and the comment it posts
never disagree. Written for reviewers who do not read Pulumi output: resources are named by their role.
"""

from __future__ import annotations

import re

from components.preview_report import EndpointReport, PolicyReport, PreviewReport, ResourceChange, Split

_VERDICT = {0: "passes", 1: "FAILS", 2: "passes with advisory policy violations"}


def render(report: PreviewReport) -> str:
    lines = [
        f"## mlendpoints preview of stack `{report.stack}`: {_VERDICT.get(report.exit_code, 'FAILS')}",
        "",
    ]
    mandatory = sum(1 for p in report.policy if p.level == "mandatory")
    advisory = sum(1 for p in report.policy if p.level == "advisory")
    facts = [f"exit code {report.exit_code}"]
    if report.result == "failed":
        facts.append(
            "the preview failed "
            + ("(see Errors)" if report.errors else "on its mandatory policy violations")
        )
    facts.append(f"policy: {mandatory} mandatory, {advisory} advisory violation(s)")
    if report.no_changes:
        facts.append("**no changes**: `pulumi up` would do nothing")
    lines += ["; ".join(facts) + ".", ""]
    changed = [e for e in report.endpoints if e.status != "unchanged"]
    if changed:
        lines += [
            "| endpoint | change | traffic | deployments | instances | images built | restarts |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [_row(e) for e in changed]
        lines.append("")
    elif report.endpoints and not report.no_changes:
        lines += ["No endpoint changes.", ""]
    if report.quota is not None:
        lines += [_quota_line(report), ""]
    for message in report.errors:
        lines += [f"**Error**: {_one_line(message)}", ""]
    if report.policy:
        lines += _details(
            f"Policy violations ({len(report.policy)})",
            ["| level | policy | endpoint | resource | message |", "|---|---|---|---|---|"]
            + [
                _policy_row(p)
                for p in sorted(report.policy, key=lambda p: (p.level != "mandatory", p.policy))
            ],
        )
    for endpoint in changed:
        lines += _details(f"{endpoint.name}: what changes", _endpoint_details(endpoint))
    if report.quota is not None and report.quota.violations:
        lines += _details("Quota arithmetic", [f"- {v}" for v in report.quota.violations])
    if report.warnings:
        lines += _details(
            f"Warnings ({len(report.warnings)})", [f"- {_one_line(w)}" for w in report.warnings]
        )
    return "\n".join(lines).rstrip() + "\n"


def _policy_row(p: PolicyReport) -> str:
    return f"| {p.level} | `{p.policy}` | {p.endpoint or '-'} | {p.resource or '-'} | {_cell(p.message)} |"


def _row(e: EndpointReport) -> str:
    deployments = [f"+{d}" for d in e.deployments_added] + [f"-{d}" for d in e.deployments_removed]
    deployments += [f"~{d}" for d in e.deployments_updated]
    instances = ", ".join(f"{i.deployment} {i.before} → {i.after}" for i in e.instances) or "-"
    images = ", ".join(f"{_image_owner(i.resource, i.deployment)} ({_short(i.why)})" for i in e.images) or "-"
    restarts = _restarts(e)
    traffic = _split(e.traffic) if e.traffic else "unchanged"
    if e.mirror and (e.mirror.before or e.mirror.after):
        traffic += f"; mirror {_split(e.mirror)}"
    cells = [
        e.name,
        f"{e.status} ({e.kind})",
        traffic,
        " ".join(deployments) or "-",
        instances,
        images,
        restarts,
    ]
    return "| " + " | ".join(cells) + " |"


def _image_owner(resource: str, deployment: str | None) -> str:
    if deployment:
        return deployment
    return next((role for role in ("router", "agent", "controller") if role in resource), "endpoint")


def _short(why: str) -> str:
    return "new" if why.startswith("new image") else why


def _restarts(e: EndpointReport) -> str:
    replaced = e.replaced
    if not replaced:
        return "none: changes apply in place" if (e.in_place or e.traffic) and e.status == "changed" else "-"
    return f"{len(replaced)} replaced: " + ", ".join(
        _role(r.resource, e.name) + (f" ({r.why})" if r.why else "") for r in replaced
    )


def _split(split: Split | None) -> str:
    if split is None:
        return "-"
    names = sorted(set(split.before) | set(split.after))
    return ", ".join(f"{n} {split.before.get(n, 0)} → {split.after.get(n, 0)}" for n in names) or "none"


def _quota_line(report: PreviewReport) -> str:
    quota = report.quota
    assert quota is not None
    limit = quota.limits.get("total_cores")
    of = f" of {limit:g}" if isinstance(limit, (int, float)) else ""
    same = quota.before is not None and quota.before == quota.after
    before = f"{quota.before.total_cores:g} → " if quota.before is not None and not same else ""
    memory_before = f"{quota.before.total_memory_gb:g} → " if quota.before is not None and not same else ""
    memory_limit = quota.limits.get("total_memory_gb")
    memory_of = f" of {memory_limit:g}" if isinstance(memory_limit, (int, float)) else ""
    verdict = "**over quota**" if quota.violations else "fits, unchanged" if same else "fits"
    return (
        f"**Quota** ({verdict}): cores {before}{quota.after.total_cores:g}{of} "
        f"({quota.after.arithmetic}); memory {memory_before}{quota.after.total_memory_gb:g} GB{memory_of}."
    )


def _endpoint_details(e: EndpointReport) -> list[str]:
    lines = []
    for title, items in (
        ("Replaced (the container or pod is recreated: a restart, or a surge while both run)", e.replaced),
        ("Updated in place (nothing restarts)", e.in_place),
        ("Created", e.created),
        ("Deleted", e.deleted),
    ):
        if items:
            lines.append(f"**{title}**")
            lines += [f"- {_role(r.resource, e.name)}{_keys(r)}" for r in items]
            lines.append("")
    if e.images:
        lines.append("**Images built**")
        lines += [f"- {_role(i.resource, e.name)}: {i.why}" for i in e.images]
        lines.append("")
    return lines


def _keys(change: ResourceChange) -> str:
    said = f": {change.why}" if change.why else ""
    return f"{said} (inputs: {', '.join(change.keys)})" if change.keys else said


_ROLES = (
    (r"-traffic-applied$", "traffic applied to the running router"),
    (r"-traffic$", "router traffic configuration"),
    (r"-router$", "router container"),
    (r"-router-image$", "router image"),
    (r"-agent$", "agent container"),
    (r"-agent-image$", "agent image"),
    (r"-keys$", "endpoint keys"),
    (r"-net-network$", "endpoint network"),
    (r"-controller$", "batch controller"),
)


def _role(resource: str, endpoint: str) -> str:
    for pattern, role in _ROLES:
        if re.search(pattern, resource):
            return f"{role} (`{resource}`)"
    rest = resource.removeprefix(f"{endpoint}-")
    instance = re.fullmatch(r"(.+)-(\d+)", rest)
    if instance:
        return f"instance {instance.group(2)} of deployment {instance.group(1)} (`{resource}`)"
    if rest.endswith("-image"):
        return f"image of deployment {rest.removesuffix('-image')} (`{resource}`)"
    return f"`{resource}`"


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def _one_line(text: str) -> str:
    return " ".join(text.split())
