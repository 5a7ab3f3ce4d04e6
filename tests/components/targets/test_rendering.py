"""Content digests every target names its images and instances by."""

from __future__ import annotations

import re
from pathlib import Path

from components.targets.rendering import digest, tree_digest


def test_digest_ignores_key_order_and_sees_values() -> None:
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
    assert re.fullmatch(r"[0-9a-f]{12}", digest({"a": 1}))


def test_tree_digest_follows_bytes_and_names_but_not_caches(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.json").write_text('{"w": 1}')
    before = tree_digest([model])
    # Python caches are rewritten by merely importing the score script: they must not replace instances.
    (model / "__pycache__").mkdir()
    (model / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"\0")
    (model / "stale.pyc").write_bytes(b"\1")
    assert tree_digest([model]) == before
    (model / "weights.json").write_text('{"w": 2}')
    changed = tree_digest([model])
    assert changed != before
    (model / "weights.json").rename(model / "other.json")
    assert tree_digest([model]) != changed


def test_tree_digest_takes_files_and_any_order(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text("def run(x): return x")
    (tmp_path / "model.pkl").write_bytes(b"model")
    paths = [tmp_path / "code", tmp_path / "model.pkl"]
    assert tree_digest(paths) == tree_digest(reversed(paths))
    assert tree_digest(paths) != tree_digest(paths[:1])
