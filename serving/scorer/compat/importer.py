"""Import hooks that make Azure ML's module paths resolve to the scorer's shims inside the container."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from types import MappingProxyType, ModuleType

_REQUEST = "serving.scorer.compat.aml_request"
_RESPONSE = "serving.scorer.compat.aml_response"

ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "azureml.contrib.services.aml_request": _REQUEST,
        "azureml.contrib.services.aml_response": _RESPONSE,
        "azureml_inference_server_http.api.aml_request": _REQUEST,
        "azureml_inference_server_http.api.aml_response": _RESPONSE,
    }
)
# Parents are only synthesized when nothing else provides them (e.g. azureml-core owns `azureml`).
PARENTS = frozenset(
    {
        "azureml",
        "azureml.contrib",
        "azureml.contrib.services",
        "azureml_inference_server_http",
        "azureml_inference_server_http.api",
    }
)


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self._target)

    def exec_module(self, module: ModuleType) -> None:
        return None


class _PackageLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        return None


class AliasFinder(importlib.abc.MetaPathFinder):
    """First on sys.meta_path: Azure ML's aml_request/aml_response always mean our shims."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        aliased = ALIASES.get(fullname)
        if aliased is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(aliased))


class ParentFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: empty parent packages when no installed distribution provides them."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in PARENTS:
            return None
        return importlib.util.spec_from_loader(fullname, _PackageLoader(), is_package=True)


def install_compat_imports() -> None:
    """Install both finders once per process; later calls are no-ops."""
    if not any(isinstance(finder, AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())
    if not any(isinstance(finder, ParentFinder) for finder in sys.meta_path):
        sys.meta_path.append(ParentFinder())
    # A real azureml_inference_server_http imported earlier would shadow the aliases.
    for name in ALIASES:
        module = sys.modules.get(name)
        if module is not None and not module.__name__.startswith("serving.scorer.compat"):
            del sys.modules[name]
