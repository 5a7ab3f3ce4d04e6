"""Drive the real Pulumi CLI on a throwaway stack of this project (integration tests only)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


class PulumiCommandError(AssertionError):
    """A pulumi command failed; carries its output so the test report shows why."""


def require_toolchain() -> None:
    """Fail (not skip) without the toolchain: `make test` always provides it, so missing means broken."""
    if shutil.which("pulumi") is None or not os.environ.get("PULUMI_BACKEND_URL"):
        raise AssertionError(
            "pulumi is not set up: run the tests with `make test` (it bootstraps the toolchain)"
        )


@dataclass
class TempStack:
    """A stack named it-<random> with its own config file under stacks/, removed by destroy_and_remove()."""

    name: str
    # Extra environment of every pulumi command (e.g. a private MLENDPOINTS_CACHE).
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls, config: dict[str, Any], prefix: str = "it", env: dict[str, str] | None = None
    ) -> TempStack:
        require_toolchain()
        stack = cls(f"{prefix}-{uuid.uuid4().hex[:8]}", dict(env or {}))
        # JSON is YAML: nested config (the `serving` object) is written as it is.
        stack.config_file.write_text(json.dumps({"config": config}, indent=2))
        stack.run("stack", "init", stack.name, "--secrets-provider", "passphrase")
        return stack

    @property
    def config_file(self) -> Path:
        return REPO / "stacks" / f"Pulumi.{self.name}.yaml"

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Rewrite the stack's config, keeping the secrets salt `stack init` added."""
        current = yaml.safe_load(self.config_file.read_text()) or {}
        salt = {k: v for k, v in current.items() if k == "encryptionsalt"}
        self.config_file.write_text(json.dumps({"config": config, **salt}, indent=2))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env, "PULUMI_STACK": self.name},
        )
        if check and proc.returncode != 0:
            raise PulumiCommandError(
                f"pulumi {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def preview(self, *extra: str) -> dict[str, Any]:
        """`pulumi preview --json`: the engine's planned steps and diagnostics."""
        proc = self.run("preview", "--stack", self.name, "--json", *extra, check=False)
        try:
            parsed: dict[str, Any] = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise PulumiCommandError(f"preview printed no JSON:\n{proc.stdout}\n{proc.stderr}") from exc
        parsed["_returncode"] = proc.returncode
        parsed["_stderr"] = proc.stderr
        return parsed

    def up(self) -> subprocess.CompletedProcess[str]:
        # --refresh as `make up` does: what really runs is read before the diff.
        return self.run("up", "--stack", self.name, "--yes", "--skip-preview", "--refresh")

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--stack", self.name, "--json"]
        if show_secrets:
            args.append("--show-secrets")
        parsed: dict[str, Any] = json.loads(self.run(*args).stdout)
        return parsed

    def set_config(self, key: str, value: str) -> None:
        self.run("config", "set", "--stack", self.name, "--path", key, value)

    def destroy_and_remove(self) -> None:
        try:
            self.run("destroy", "--stack", self.name, "--yes", "--skip-preview")
        finally:
            self.run("stack", "rm", self.name, "--yes", "--force", check=False)
            self.config_file.unlink(missing_ok=True)
            # What the stack's endpoints kept on the host (batch job stores): a test's own.
            cache = Path(self.env.get("MLENDPOINTS_CACHE") or os.environ.get("MLENDPOINTS_CACHE", ""))
            if cache.is_dir():
                shutil.rmtree(cache / "endpoints" / f"mlendpoints-{self.name}", ignore_errors=True)


def step_ops(preview: dict[str, Any]) -> list[tuple[str, str]]:
    """(op, urn) of every planned step in a `preview --json` result."""
    return [(s["op"], s["urn"]) for s in preview.get("steps", [])]
