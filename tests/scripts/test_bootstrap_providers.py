"""The bootstrap's provider-plugin step, end to end with a provider wrapper of the test's own.

No real provider module is on this machine's Go proxy, so the step is proven with a tiny
stdlib-only wrapper module and a fake `pulumi_<name>` SDK package that records the version: the
same path a real provider folder in toolchain/providers takes (build at the SDK's version,
`pulumi plugin install resource`, cached by the wrapper's content).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
NAME, VERSION = "mlefake", "0.3.1"

MAIN_GO = """package main

import "fmt"

// Version is set by the bootstrap's build (-X main.Version=...), as for a real provider wrapper.
var Version = "unset"

func main() { fmt.Println("%s", Version, "%s") }
"""


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, str]:
    wrapper = tmp_path / "providers" / NAME
    wrapper.mkdir(parents=True)
    (wrapper / "go.mod").write_text(f"module example.com/{NAME}\n\ngo 1.22\n")
    (wrapper / "main.go").write_text(MAIN_GO % (NAME, "first"))
    sdk = tmp_path / "sdk" / f"pulumi_{NAME}"
    sdk.mkdir(parents=True)
    (sdk / "__init__.py").write_text("")
    plugin = {"resource": True, "name": NAME, "version": VERSION}
    (sdk / "pulumi-plugin.json").write_text(json.dumps(plugin))
    env = {
        **os.environ,
        "MLENDPOINTS_PROVIDERS_DIR": str(tmp_path / "providers"),
        "PYTHONPATH": str(tmp_path / "sdk"),
        # The plugin lands in a Pulumi home of the test's own, not in the project's.
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
    }
    return env


def _bootstrap(env: dict[str, str]) -> str:
    proc = subprocess.run(
        [str(REPO / "scripts" / "bootstrap")], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _installed(env: dict[str, str]) -> list[tuple[str, str, str]]:
    # make test runs with scripts/env sourced: the project's pulumi is first on PATH.
    listed = subprocess.run(
        ["pulumi", "plugin", "ls", "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [(p["kind"], p["name"], p["version"]) for p in json.loads(listed.stdout or "[]")]


def test_a_provider_folder_is_built_at_the_sdk_version_and_installed(setup: dict[str, str]) -> None:
    out = _bootstrap(setup)
    assert f"provider {NAME}: built and installed v{VERSION}" in out
    assert ("resource", NAME, VERSION) in _installed(setup)
    binary = (
        Path(setup["PULUMI_HOME"]) / "plugins" / f"resource-{NAME}-v{VERSION}" / f"pulumi-resource-{NAME}"
    )
    ran = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split()
    assert ran == [NAME, VERSION, "first"]  # the SDK's version went into the build

    # A second run builds nothing; a changed wrapper is rebuilt.
    assert f"provider {NAME}: v{VERSION} up to date" in _bootstrap(setup)
    wrapper = Path(setup["MLENDPOINTS_PROVIDERS_DIR"]) / NAME
    (wrapper / "main.go").write_text(MAIN_GO % (NAME, "second"))
    assert f"provider {NAME}: built and installed v{VERSION}" in _bootstrap(setup)
    assert (
        subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split()[-1]
        == "second"
    )


def test_a_provider_without_its_sdk_stops_the_bootstrap_naming_it(setup: dict[str, str]) -> None:
    env = {**setup, "PYTHONPATH": ""}
    proc = subprocess.run(
        [str(REPO / "scripts" / "bootstrap")], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert f"FAILED step 'provider {NAME}': no pulumi_{NAME} SDK" in proc.stdout


def test_a_cluster_only_provider_is_not_built_without_the_cluster(setup: dict[str, str]) -> None:
    # Local stacks never load the Kubernetes provider: its build waits for `--cluster`.
    (Path(setup["MLENDPOINTS_PROVIDERS_DIR"]) / NAME / "with-cluster").write_text("kubernetes stacks only\n")
    out = _bootstrap(setup)
    assert f"provider {NAME}: not needed here (built with --cluster" in out
    assert ("resource", NAME, VERSION) not in _installed(setup)
