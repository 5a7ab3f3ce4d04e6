"""A stand-in for a pandas DataFrame (pandas is not installed): what the node calls, pandas' text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any


class FrameStandIn:
    """len(), columns, itertuples() and to_csv(sep=" ", header=False, index=False) like pandas'."""

    def __init__(self, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        self.rows = [list(row) for row in rows]
        self.columns = list(columns)

    def __len__(self) -> int:
        return len(self.rows)

    def itertuples(self, index: bool = True, name: str | None = "Pandas") -> Iterator[tuple[Any, ...]]:
        return iter(tuple(row) for row in self.rows)

    def to_csv(
        self, path_or_buf: None = None, *, sep: str = ",", header: bool = True, index: bool = True
    ) -> str:
        # pandas writes with csv's minimal quoting and an empty field for None/NaN.
        assert path_or_buf is None and header is False and index is False
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=sep, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        for row in self.rows:
            writer.writerow("" if value is None else value for value in row)
        return buffer.getvalue()
