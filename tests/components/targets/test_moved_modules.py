"""Stacks created before a module moved keep working: their state pickles providers by module path."""

from __future__ import annotations

import importlib

import pytest
from pulumi.dynamic.dynamic import serialize_provider

# Module paths providers were pickled under in earlier versions -> the provider classes named there.
PICKLED_UNDER = {
    "components.targets.docker_resources": ("_ContainerProvider", "_NetworkProvider"),
    "components.targets.docker_image": ("_ImageProvider",),
    "components.targets.router_files": ("_AppliedProvider", "_RouterFilesProvider"),
    "components.targets.host_files": ("_HostFilesProvider",),
    "components.targets.local.router_files": ("_AppliedProvider", "_RouterFilesProvider"),
}


@pytest.mark.parametrize(("module", "names"), sorted(PICKLED_UNDER.items()))
def test_old_module_paths_still_name_the_providers(module: str, names: tuple[str, ...]) -> None:
    found = importlib.import_module(module)
    for name in names:
        provider = getattr(found, name)
        # What Pulumi would store for it today must load back, and name a module that exists.
        assert provider.__module__ in {m for m in PICKLED_UNDER} | {
            "components.targets.local.docker_resources",
            "components.targets.local.docker_image",
            "components.targets.local.host_files",
            "components.targets.router_applied",
        }
        assert serialize_provider(provider())
