"""The cost of a mini-batch fitted against its input bytes."""

from __future__ import annotations

import pytest

from serving.batch.controller.pace import CostFit, CostModel


def _fit(samples: list[tuple[int, float]]) -> CostModel | None:
    fit = CostFit()
    for nbytes, seconds in samples:
        fit.add(nbytes, seconds)
    return fit.model()


def test_no_sample_no_model() -> None:
    assert CostFit().model() is None


def test_a_line_through_bytes_and_seconds_is_found() -> None:
    # 1 ms per mini-batch plus 1 ms per KB, with a 200-byte file beside 4 KB ones.
    samples = [(nbytes, 0.001 + nbytes / 1_000_000) for nbytes in (4200, 4200, 410, 4210, 410, 8400)]
    model = _fit(samples)
    assert model is not None
    assert model.per_batch_s == pytest.approx(0.001)
    assert model.per_byte_s == pytest.approx(1e-6)
    assert model.cost(4200) == pytest.approx(0.0052)
    assert model.total(3, 1000) == pytest.approx(0.004)


def test_equal_sizes_cost_the_mean() -> None:
    model = _fit([(1000, 0.010), (1000, 0.020), (1010, 0.030)])
    assert model == CostModel(pytest.approx(0.020))  # type: ignore[arg-type]


def test_no_bytes_known_costs_the_mean() -> None:
    # A store written by an older controller has no sizes: every mini-batch weighs 0 bytes.
    assert _fit([(0, 0.004), (0, 0.006)]) == CostModel(pytest.approx(0.005))  # type: ignore[arg-type]


def test_bigger_inputs_that_run_quicker_are_noise() -> None:
    model = _fit([(100, 0.03), (10_000, 0.01), (200, 0.02)])
    assert model is not None and model.per_byte_s == 0.0
    assert model.per_batch_s == pytest.approx(0.02)


def test_a_line_below_zero_at_no_bytes_puts_all_of_the_time_on_the_bytes() -> None:
    model = _fit([(100, 0.0001), (1000, 0.0040), (2000, 0.0080)])
    assert model is not None and model.per_batch_s == 0.0
    assert model.per_byte_s == pytest.approx(0.0121 / 3 / (3100 / 3))


def test_large_byte_counts_do_not_cancel_out() -> None:
    # Gigabyte-sized inputs that differ by a few percent of a percent: a fit through sums of squares
    # would lose the spread to rounding; this one keeps it and sees it is too small to fit.
    base = 10**12
    model = _fit([(base, 1.0), (base + 1000, 1.1), (base + 2000, 0.9)])
    assert model == CostModel(pytest.approx(1.0))  # type: ignore[arg-type]
