"""append_row's merge: order, newline between parts, idempotence, a missing part."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.batch.controller.errors import MergeError
from serving.batch.controller.merge import merge_parts, remove_parts
from serving.batch.controller.store_rows import AcceptedPart


def _parts(tmp_path: Path, contents: dict[int, str]) -> list[AcceptedPart]:
    parts = []
    for idx, text in contents.items():
        path = tmp_path / "parts" / f"mb{idx}.part"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        parts.append(AcceptedPart(idx, str(path)))
    return parts


def test_parts_are_merged_in_the_given_order_with_rows_kept_apart(tmp_path: Path) -> None:
    parts = _parts(tmp_path, {0: "a\nb\n", 1: "c", 2: "", 3: "d\n"})
    target = tmp_path / "out" / "predictions.csv"
    merge_parts(parts, target)
    assert target.read_text() == "a\nb\nc\nd\n"
    assert not list(target.parent.glob(".*"))  # no temporary file left


def test_merging_again_gives_the_same_file(tmp_path: Path) -> None:
    parts = _parts(tmp_path, {0: "a\n", 1: "b\n"})
    target = tmp_path / "predictions.csv"
    merge_parts(parts, target)
    merge_parts(parts, target)  # a controller killed after the rename redoes the merge
    assert target.read_text() == "a\nb\n"


def test_an_interrupted_merge_leaves_no_partial_output(tmp_path: Path) -> None:
    parts = [*_parts(tmp_path, {0: "a\n"}), AcceptedPart(1, str(tmp_path / "missing.part"))]
    target = tmp_path / "predictions.csv"
    with pytest.raises(MergeError, match=r"mini-batch 1 \(.*missing.part\) cannot be read"):
        merge_parts(parts, target)
    assert not target.exists()
    merge_parts(parts[:1], target)  # the next run replaces the leftover temporary file
    assert target.read_text() == "a\n"


def test_ranges_of_bundle_files_are_merged_in_mini_batch_order(tmp_path: Path) -> None:
    first, second = tmp_path / "mb000000-a0.part", tmp_path / "mb000003-a1.part"
    first.write_bytes(b"a\nREFUSED\nb\nc")  # mini-batch 1's rows were refused; 2's lack a newline
    second.write_bytes(b"d\ne\n")
    parts = [
        AcceptedPart(0, str(first), 0, 2),
        AcceptedPart(1, str(first), 10, 2),
        AcceptedPart(2, str(first), 12, 1),
        AcceptedPart(3, str(second), 0, 4),
    ]
    target = tmp_path / "predictions.csv"
    merge_parts(parts, target)
    assert target.read_text() == "a\nb\nc\nd\ne\n"


def test_a_range_past_the_end_of_its_file_fails_the_merge(tmp_path: Path) -> None:
    part = tmp_path / "mb000000-a0.part"
    part.write_bytes(b"a\n")
    with pytest.raises(MergeError, match=r"mini-batch 0 .* cut short"):
        merge_parts([AcceptedPart(0, str(part), 1, 5)], tmp_path / "predictions.csv")
    assert not (tmp_path / "predictions.csv").exists()


def test_remove_parts_deletes_the_folder(tmp_path: Path) -> None:
    _parts(tmp_path, {0: "a"})
    remove_parts(tmp_path / "parts")
    remove_parts(tmp_path / "parts")
    assert not (tmp_path / "parts").exists()
