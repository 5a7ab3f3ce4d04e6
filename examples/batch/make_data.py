"""Regenerate data/part-NN.csv: eight CSV files of 25 rows of ten features (deterministic)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES, ROWS, FEATURES = 8, 25, 10


def main() -> None:
    rng = random.Random(20261201)
    for index in range(FILES):
        with (HERE / "data" / f"part-{index:02d}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([f"x{i}" for i in range(FEATURES)])
            for _ in range(ROWS):
                writer.writerow([round(rng.uniform(0, 10), 3) for _ in range(FEATURES)])


if __name__ == "__main__":
    main()
