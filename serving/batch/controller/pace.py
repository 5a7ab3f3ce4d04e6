"""What a job's mini-batches cost: run() seconds fitted against each mini-batch's input bytes.

Bundles are sized by estimated work, not by count. A job's mini-batches can differ a hundredfold (the
heart-classifier data puts a 200-byte CSV beside 4 KB ones, 25 cheap mini-batches in a row every 100),
so a worker's fair share counted in mini-batches could be all expensive ones while the others ran out
(bench/README.md, "Work, not count"). The input bytes are known when the job is created; a running
least-squares line through (bytes, seconds) says how much of the time goes with them. When bytes say
nothing (equal-sized files, images resized to one shape) the line is flat and every mini-batch costs
the job's mean, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

# Below this spread of bytes (coefficient of variation) the inputs count as equal-sized: a slope fitted
# through near-equal points is noise.
_MIN_SPREAD = 0.05


@dataclass(frozen=True)
class CostModel:
    """Estimated run() seconds of a mini-batch: per_batch_s + per_byte_s x its input bytes."""

    per_batch_s: float
    per_byte_s: float = 0.0

    def cost(self, nbytes: int) -> float:
        return self.per_batch_s + self.per_byte_s * nbytes

    def total(self, count: int, nbytes: int) -> float:
        """The estimate for `count` mini-batches holding `nbytes` together."""
        return self.per_batch_s * count + self.per_byte_s * nbytes


@dataclass
class CostFit:
    """Running means and co-moments of (bytes, seconds) over a job's successful run() calls
    (Welford's update: no sums of squares of large byte counts to cancel out)."""

    count: int = 0
    mean_bytes: float = 0.0
    mean_s: float = 0.0
    m2_bytes: float = 0.0  # sum of squared deviations of bytes from their mean
    co_moment: float = 0.0  # sum of (bytes - mean) x (seconds - mean)

    def add(self, nbytes: int, seconds: float) -> None:
        self.count += 1
        before = nbytes - self.mean_bytes
        self.mean_bytes += before / self.count
        self.mean_s += (seconds - self.mean_s) / self.count
        self.m2_bytes += before * (nbytes - self.mean_bytes)
        self.co_moment += before * (seconds - self.mean_s)

    def model(self) -> CostModel | None:
        """The fitted line, or the mean when bytes do not explain the time; None before any sample."""
        if self.count == 0:
            return None
        flat = CostModel(max(self.mean_s, 0.0))
        spread = _MIN_SPREAD * self.mean_bytes
        if self.count < 2 or self.m2_bytes <= spread * spread * self.count:
            return flat
        slope = self.co_moment / self.m2_bytes
        if slope <= 0:
            return flat  # more bytes never made a mini-batch quicker: the spread is noise
        intercept = self.mean_s - slope * self.mean_bytes
        if intercept < 0:  # all of the time goes with the bytes
            return CostModel(0.0, self.mean_s / self.mean_bytes)
        return CostModel(intercept, slope)
