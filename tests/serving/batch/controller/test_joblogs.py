"""Job log texts: failures name the mini-batch, its files and the error; the report has Azure's columns."""

from __future__ import annotations

import csv
import io

from serving.batch.controller.joblogs import error_text, failure_summary, report_csv
from serving.batch.controller.store_rows import AttemptRow, MiniBatchRow


def _failed(idx: int, files: list[str]) -> MiniBatchRow:
    return MiniBatchRow(
        idx, files, "failed", 2, 2, "too_few_rows", "run() returned 1 row for 2 files", None, None
    )


def test_the_job_error_names_mini_batches_files_and_errors() -> None:
    failed = [_failed(3, ["/d/a.csv", "/d/b.csv"]), _failed(7, ["/d/c.csv"])]
    summary = failure_summary("error_threshold 0 exceeded: 3 input files failed.", failed)
    assert "mini-batch 3 (a.csv, b.csv) failed after 2 tries" in summary
    assert (
        "run() returned fewer rows than the mini-batch has files: run() returned 1 row for 2 files" in summary
    )
    assert "mini-batch 7 (c.csv)" in summary and "logs/job_error.txt" in summary
    text = error_text(failed)
    assert "Mini-batch 3: failed after 2 tries" in text and "  file: /d/b.csv\n" in text


def test_a_long_failure_list_is_cut_short() -> None:
    failed = [_failed(i, [f"/d/{j}.csv" for j in range(10)]) for i in range(8)]
    summary = failure_summary("x.", failed)
    assert "and 7 more)" in summary and "; and 3 more." in summary


def test_processed_mini_batches_report() -> None:
    attempts = [
        AttemptRow(0, 0, "n1", 2, 1.0, 2.5, "failed", True, "timeout", "took too long", 30.0, None),
        AttemptRow(0, 1, "n2", 0, 3.0, 4.0, "succeeded", True, None, None, 1.0, 2),
        AttemptRow(1, 0, "n1", 0, 3.0, None, None, False, None, None, None, None),
    ]
    batches = [MiniBatchRow(0, ["/a", "/b"], "succeeded", 2, 1, "timeout", "", 2, "/p"),
               MiniBatchRow(1, ["/c"], "leased", 1, 0, None, None, None, None)]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(report_csv(attempts, batches))))
    assert [(r["Mini-batch Id"], r["Picked Count"], r["Status"]) for r in rows] == [
        ("0", "1", "failed"),
        ("0", "2", "succeeded"),
        ("1", "1", "running"),
    ]
    assert (rows[0]["Failed"], rows[0]["Error Category"], rows[0]["Error Message"]) == (
        "2",
        "timeout",
        "took too long",
    )
    assert (rows[1]["Succeeded"], rows[1]["Node"], rows[1]["Rows"], rows[1]["Files"]) == (
        "2",
        "n2",
        "2",
        '["/a", "/b"]',
    )
    assert rows[1]["Start Time"].startswith("1970-01-01T00:00:03")
