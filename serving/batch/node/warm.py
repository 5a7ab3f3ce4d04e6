"""A batch driver's libraries, imported by an idle worker before its job comes.

Each job gets fresh worker processes, as on Azure ML (init() once per process and job). A driver that
imports mlflow and pandas pays ~1.5 s of CPU for them in every worker of every job, before its first
run(): four workers on two cores, three seconds of a warm job. An idle worker (forked when the node
starts, and again after each job) imports those libraries while it waits for its first lease, so the
job finds them in sys.modules.

Only libraries are imported ahead: the standard library and installed packages, never a module of the
driver's code folder (its code may read the job's environment at import) and never the driver itself,
which is imported when the job comes, as before. The names come from the driver's source, read
statically: what it imports at module level (also inside top-level if/try/with blocks) and at the top
of init(), i.e. what it imports every time a job starts. Anything that fails is left alone: the
driver's own import fails the same way in the job and reports it in the job's logs.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.machinery
import importlib.util
import os
from dataclasses import dataclass, field

_BLOCKS = (ast.If, ast.Try, ast.With)


@dataclass
class Warmed:
    """What warm_imports did, for one log line."""

    imported: list[str] = field(default_factory=list)
    user_code: list[str] = field(default_factory=list)  # the code folder's own modules: left for the job
    failed: dict[str, str] = field(default_factory=dict)  # name -> the error


def driver_imports(source: str) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names imported from it) for each absolute import the driver runs at every job start,
    in source order; () for `import x`. Relative and __future__ imports are left out."""
    tree = ast.parse(source)
    found: list[tuple[str, tuple[str, ...]]] = []

    def visit(statements: list[ast.stmt], in_init: bool) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.extend((alias.name, ()) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module and node.module != "__future__":
                    names = tuple(alias.name for alias in node.names if alias.name != "*")
                    found.append((node.module, names))
            elif isinstance(node, _BLOCKS):
                for block in _blocks_of(node):
                    visit(block, in_init)
            elif isinstance(node, ast.FunctionDef) and node.name == "init" and not in_init:
                visit(node.body, True)

    visit(tree.body, False)
    return list(dict.fromkeys(found))  # in order, without repeats


def _blocks_of(node: ast.stmt) -> list[list[ast.stmt]]:
    if isinstance(node, ast.Try):
        return [node.body, *(handler.body for handler in node.handlers), node.orelse, node.finalbody]
    if isinstance(node, ast.If):
        return [node.body, node.orelse]
    assert isinstance(node, ast.With)
    return [node.body]


def warm_imports(driver_path: str, user_folders: list[str]) -> Warmed:
    """Import the libraries the driver at `driver_path` imports (sys.path already extended as the
    driver's import will find it); modules found in `user_folders` are the user's code and left alone."""
    warmed = Warmed()
    try:
        with open(driver_path, encoding="utf-8") as handle:
            imports = driver_imports(handle.read())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return warmed  # the job's own import of the driver says what is wrong with it
    roots = tuple(os.path.join(os.path.abspath(folder), "") for folder in user_folders)
    for module, names in imports:
        top = module.partition(".")[0]
        try:
            # A top-level name is looked up on sys.path without importing anything.
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue  # not installed: the driver's import fails in the job, with its message
        if _is_user_code(spec, roots):
            warmed.user_code.append(top)
            continue
        try:
            loaded = importlib.import_module(module)
            for name in names:
                if not hasattr(loaded, name):  # `from package import submodule`
                    # ImportError: a name the package defines later, or a typo the job reports.
                    with contextlib.suppress(ImportError):
                        importlib.import_module(f"{module}.{name}")
        except (Exception, SystemExit) as error:  # a library's import is its own business
            warmed.failed[module] = f"{type(error).__name__}: {error}"
            continue
        warmed.imported.append(module)
    return warmed


def _is_user_code(spec: importlib.machinery.ModuleSpec, roots: tuple[str, ...]) -> bool:
    places = [spec.origin or "", *(spec.submodule_search_locations or [])]
    return any(os.path.abspath(place).startswith(roots) for place in places if place)
