"""Datastores of a stack: name -> host folder, as Azure ML workspaces name their storage."""

from __future__ import annotations

import re
from pathlib import Path

from components.errors import Problem, SpecError
from serving.batch.protocol import DEFAULT_DATASTORE

# Azure ML datastore names: letters, digits and underscores.
DATASTORE_NAME = re.compile(r"[A-Za-z0-9_]{3,255}")
STACK_CONFIG = "stack config"


def resolve_datastores(configured: object, cache: Path, project_root: Path) -> dict[str, str]:
    """`workspaceblobstore` (under the cache, like a workspace's default store) plus the stack's own
    `mlendpoints:datastores` entries (folders relative to the project root); every problem at once."""
    stores = {DEFAULT_DATASTORE: str(cache / "datastores" / DEFAULT_DATASTORE)}
    if configured is None:
        return stores
    if not isinstance(configured, dict):
        raise SpecError.single(
            "must be a mapping of datastore name to a folder", field="datastores", file=STACK_CONFIG
        )
    problems = []
    for store, folder in configured.items():
        where = f"datastores.{store}"
        if not isinstance(store, str) or not DATASTORE_NAME.fullmatch(store):
            problems.append(
                Problem("datastore names are 3-255 letters, digits and underscores", where, STACK_CONFIG)
            )
        elif not isinstance(folder, str) or not folder.strip():
            problems.append(Problem("must be a folder path", where, STACK_CONFIG))
        elif "\0" in folder:
            problems.append(Problem("a folder path cannot hold NUL characters", where, STACK_CONFIG))
        else:
            stores[store] = str((project_root / folder).resolve())
    if problems:
        raise SpecError(problems)
    return stores
