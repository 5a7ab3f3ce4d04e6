"""A provider wrapper's `prepare` script: run in the bootstrap's build copy, before `go build`.

toolchain/providers/kubernetes uses it to copy files from the Go module cache next to its main.go
(downloaded files are never committed). Proven here with a stdlib-only wrapper of the test's own
and a fake SDK recording the version, as in test_bootstrap_providers.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
NAME, VERSION = "mleprep", "0.2.0"

MAIN_GO = """package main

import (
\t_ "embed"
\t"fmt"
)

var Version = "unset"

//go:embed generated.txt
var generated string

func main() { fmt.Print(Version, " ", generated) }
"""

# Writes what main.go embeds, from what the bootstrap passes; fails when not in a build copy.
PREPARE = """set -eu
test "$PWD" != "$WRAPPER" || { echo "prepare ran in the wrapper folder" >&2; exit 3; }
command -v go >/dev/null
printf '%s@%s' "$PROVIDER_NAME" "$PROVIDER_VERSION" > generated.txt
"""


def _bootstrap(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / "bootstrap")], env=env, capture_output=True, text=True, check=False
    )


def test_prepare_runs_in_the_build_copy_and_leaves_the_wrapper_as_committed(tmp_path: Path) -> None:
    wrapper = tmp_path / "providers" / NAME
    wrapper.mkdir(parents=True)
    (wrapper / "go.mod").write_text(f"module example.com/{NAME}\n\ngo 1.22\n")
    (wrapper / "main.go").write_text(MAIN_GO)
    (wrapper / "prepare").write_text(PREPARE)
    sdk = tmp_path / "sdk" / f"pulumi_{NAME}"
    sdk.mkdir(parents=True)
    (sdk / "__init__.py").write_text("")
    (sdk / "pulumi-plugin.json").write_text(json.dumps({"resource": True, "name": NAME, "version": VERSION}))
    env = {
        **os.environ,
        "MLENDPOINTS_PROVIDERS_DIR": str(tmp_path / "providers"),
        "PYTHONPATH": str(tmp_path / "sdk"),
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "WRAPPER": str(wrapper),
    }
    proc = _bootstrap(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"provider {NAME}: built and installed v{VERSION}" in proc.stdout
    binary = tmp_path / "pulumi-home" / "plugins" / f"resource-{NAME}-v{VERSION}" / f"pulumi-resource-{NAME}"
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    assert out == f"{VERSION} {NAME}@{VERSION}"
    assert sorted(p.name for p in wrapper.iterdir()) == ["go.mod", "main.go", "prepare"]
    assert f"provider {NAME}: v{VERSION} up to date" in _bootstrap(env).stdout

    # A failing prepare stops the step, naming it, and installs nothing new.
    (wrapper / "prepare").write_text("echo 'no module here' >&2; exit 4\n")
    failed = _bootstrap(env)
    assert failed.returncode == 1
    assert f"FAILED step 'provider-{NAME}': command: env PROVIDER_NAME={NAME}" in failed.stdout
    assert "no module here" in failed.stderr
    assert subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout == out
