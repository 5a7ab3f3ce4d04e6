"""The append_row rendering of what run() returns, the row count rule, and the part file write."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from serving.batch.node.logfiles import UserLogs
from serving.batch.node.rows import (
    PartWriter,
    ResultError,
    Rows,
    check_row_count,
    is_dataframe,
    name_files,
    remove_part,
    render_rows,
)
from tests.serving.batch.node.frames import FrameStandIn


def test_list_elements_are_one_line_each_as_str() -> None:
    rows = render_rows(["a.png: 3", 7, 0.25, ["b.csv", 1], ("c.csv", None), {"k": 1}])
    assert rows == Rows(
        text="a.png: 3\n7\n0.25\n['b.csv', 1]\n('c.csv', None)\n{'k': 1}\n",
        count=6,
    )


def test_a_tuple_or_an_empty_list_is_fine() -> None:
    assert render_rows(("x", "y")) == Rows(text="x\ny\n", count=2)
    assert render_rows([]) == Rows(text="", count=0)


def test_a_numpy_array_is_an_array_too() -> None:
    assert render_rows(np.array([1, 2, 3])) == Rows(text="1\n2\n3\n", count=3)


def test_dataframe_stand_in_is_rendered_with_its_own_to_csv() -> None:
    frame = FrameStandIn([["a b.png", 161, 0.99], ['c"d.png', 2, None]], ["file", "class", "p"])
    assert is_dataframe(frame)
    assert render_rows(frame) == Rows(text='"a b.png" 161 0.99\n"c""d.png" 2 \n', count=2)


def test_an_empty_dataframe_writes_nothing() -> None:
    assert render_rows(FrameStandIn([], ["file"])) == Rows(text="", count=0)


def test_a_real_dataframe_reads_back_with_azures_read_csv_line() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"file": ["a b.png", "c.png"], "class": [161, 2], "probability": [0.994745, float("nan")]},
        index=[10, 11],
    )
    rows = render_rows(frame)
    assert rows.count == 2
    assert rows.text == '"a b.png" 161 0.994745\nc.png 2 \n'
    # How the azureml-examples notebooks read predictions.csv back.
    back = pd.read_csv(io.StringIO(rows.text), header=None, names=["file", "class", "probability"], sep=" ")
    assert back["file"].tolist() == ["a b.png", "c.png"] and back["class"].tolist() == [161, 2]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, "run() returned None"),
        ({"a": 1}, "run() returned builtins.dict"),
        ("a string", "run() returned builtins.str"),
        (42, "run() returned builtins.int"),
    ],
)
def test_anything_else_is_a_clear_failure(result: object, expected: str) -> None:
    with pytest.raises(ResultError) as caught:
        render_rows(result)
    assert caught.value.kind == "exception"
    assert expected in caught.value.message and "pandas DataFrame" in caught.value.message


def test_fewer_rows_than_files_fails_naming_counts_and_files() -> None:
    with pytest.raises(ResultError) as caught:
        check_row_count(Rows(text="x\n", count=1), ["/d/a.csv", "/d/b.csv"])
    assert caught.value.kind == "too_few_rows"
    assert "1 row(s) for 2 input file(s)" in caught.value.message
    assert "/d/a.csv, /d/b.csv" in caught.value.message


def test_as_many_or_more_rows_than_files_is_fine() -> None:
    check_row_count(Rows(text="", count=2), ["a", "b"])
    check_row_count(Rows(text="", count=5), ["a", "b"])  # tabular input: a file gives many rows


def test_long_file_lists_are_cut_in_messages() -> None:
    named = name_files([f"f{i}" for i in range(25)])
    assert named.startswith("f0, f1,") and named.endswith("f19 ... and 5 more")


def test_a_bundle_s_rows_go_to_one_part_file_at_their_own_ranges(tmp_path: Path) -> None:
    path = tmp_path / "job" / "parts" / "mb000001-a0.part"
    path.parent.mkdir(parents=True)
    path.write_text("left by a killed worker\n")
    writer = PartWriter(str(path))
    assert path.read_text() == "left by a killed worker\n"  # untouched until the first rows come
    assert writer.append("a\nb\n") == (0, 4)
    assert writer.append("") == (4, 0)
    assert writer.append("é\n") == (4, 3)  # bytes, not characters
    writer.close()
    assert path.read_bytes() == "a\nb\né\n".encode()
    assert os.listdir(path.parent) == [path.name]
    again = PartWriter(str(path))  # the same attempt's file written again starts over
    assert again.append("c\n") == (0, 2)
    again.close()
    assert path.read_text() == "c\n"
    remove_part(str(path))
    remove_part(str(path))  # already gone: fine
    assert not path.exists()


def test_user_log_files_follow_azures_layout() -> None:
    logs = UserLogs.at("/ds/azureml/job-1", "node-7", 3)
    assert logs.stdout == "/ds/azureml/job-1/logs/user/stdout/node-7/process003.stdout.txt"
    assert logs.stderr == "/ds/azureml/job-1/logs/user/stderr/node-7/process003.stderr.txt"
    assert logs.error == "/ds/azureml/job-1/logs/user/error/node-7/process003.txt"
    assert logs.shown(logs.error) == "logs/user/error/node-7/process003.txt"
    # A user_log_dir that is already the logs folder lands in the same place.
    assert UserLogs.at("/ds/azureml/job-1/logs/", "node-7", 3) == logs
