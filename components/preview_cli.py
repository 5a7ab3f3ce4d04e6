"""`mle preview`: the real `pulumi preview` with the policy pack, reported per endpoint for review.

Exit codes for CI: 0 clean, 1 a mandatory policy violation or an error (program, quota, engine), 2
advisory violations only; `--fail-on advisory` makes those 1 too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path
from typing import Any

from components.preview_events import PreviewOutputError, parse_events
from components.preview_markdown import render
from components.preview_report import PreviewReport, build_report

REPO = Path(__file__).resolve().parent.parent


class PreviewRunError(RuntimeError):
    """pulumi could not be run, or printed no events; the message says what it printed."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("preview", help="preview a stack's change with policy and quota, per endpoint (CI)")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p.add_argument("--output", help="write the report to this file (default: standard output)")
    p.add_argument(
        "--json-output", help="also write the JSON report to this file (CI keeps it beside the markdown)"
    )
    p.add_argument(
        "--fail-on",
        choices=("mandatory", "advisory"),
        default="mandatory",
        help="advisory: advisory policy violations exit 1 too (default: they exit 2)",
    )
    p.add_argument("--refresh", action="store_true", help="read what really runs before the diff")
    p.add_argument("--policy-pack-config", help="JSON config of the policy pack (pulumi's flag)")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    report = preview(
        args.stack, refresh=args.refresh, pack_config=args.policy_pack_config, fail_on=args.fail_on
    )
    text = report.model_dump_json(indent=2, by_alias=True) + "\n" if args.format == "json" else render(report)
    if args.json_output:
        Path(args.json_output).write_text(
            report.model_dump_json(indent=2, by_alias=True) + "\n", encoding="utf-8"
        )
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return report.exit_code


def preview(
    stack: str, *, refresh: bool = False, pack_config: str | None = None, fail_on: str = "mandatory"
) -> PreviewReport:
    """Run the preview (creating the stack from stacks/Pulumi.<stack>.yaml if new) and build the report."""
    env = {**os.environ, "PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"}
    try:
        _select(stack, env)
    except OSError as exc:
        raise PreviewRunError(
            f"cannot run pulumi ({exc}); run `make bootstrap`, then use scripts/mle"
        ) from exc
    command = ["pulumi", "preview", "--stack", stack, "--json", "--policy-pack", str(REPO / "policies")]
    if refresh:
        command.append("--refresh")
    if pack_config:
        command += ["--policy-pack-config", pack_config]
    try:
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PreviewRunError(
            f"cannot run pulumi ({exc}); run `make bootstrap` or source scripts/env"
        ) from exc
    try:
        events = parse_events(proc.stdout.splitlines())
    except PreviewOutputError as exc:
        said = (proc.stderr.strip() or proc.stdout.strip())[-800:]
        raise PreviewRunError(f"pulumi preview exited {proc.returncode}: {exc}; it said: {said}") from None
    return build_report(events, stack, fail_on)


def _select(stack: str, env: dict[str, str]) -> None:
    if not (REPO / "stacks" / f"Pulumi.{stack}.yaml").is_file() and not _exists(stack, env):
        names = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml")
        )
        raise PreviewRunError(f"no stack {stack!r}: stacks here are {', '.join(names)}")
    if not _exists(stack, env):
        subprocess.run(
            ["pulumi", "stack", "init", stack, "--secrets-provider", "passphrase"],
            cwd=REPO, env=env, capture_output=True, check=False,
        )  # fmt: skip


def _exists(stack: str, env: dict[str, str]) -> bool:
    proc = subprocess.run(
        ["pulumi", "stack", "select", stack], cwd=REPO, env=env, capture_output=True, check=False
    )
    return proc.returncode == 0
