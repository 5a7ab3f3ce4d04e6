"""Following the request log: whole lines only, and no line lost across a rotation."""

from __future__ import annotations

import os

from serving.router.logtail import LogTail


def test_whole_lines_only_and_rotation(tmp_path):
    path = tmp_path / "access.log"
    tail = LogTail(path)
    assert tail.read() == ""  # not there yet
    with path.open("a") as log:
        log.write("one\ntw")
    assert tail.read() == "one\n"
    with path.open("a") as log:
        log.write("o\nthree\n")
    os.replace(path, tmp_path / "access.log.1")  # what the supervisor does before SIGUSR1
    path.write_text("four\n")  # nginx reopened and wrote on
    assert tail.read() == "two\nthree\nfour\n"
    assert tail.size() == len("four\n")
    tail.close()
