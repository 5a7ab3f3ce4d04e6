"""Environments resolved in the world of their pins: wheels for the image's Python, nearest pins, dates."""

from __future__ import annotations

import datetime as dt

import pytest

from components.env_resolution import (
    ResolutionError,
    exact_pins,
    has_wheel,
    hold_pins,
    nearest_with_wheel,
    release_date,
    target_tags,
)

# What PyPI's simple API lists for a project (names and upload times as scikit-learn's look).
SKLEARN = [
    {"filename": "scikit-learn-1.1.2.tar.gz", "upload-time": "2022-08-05T18:40:00Z"},
    {"filename": "scikit_learn-1.1.2-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
     "upload-time": "2022-08-05T18:41:00Z"},
    {"filename": "scikit_learn-1.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
     "upload-time": "2022-10-25T19:00:00Z"},
    {"filename": "scikit_learn-1.2.0rc1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
     "upload-time": "2022-11-20T00:00:00Z"},
    {"filename": "scikit_learn-1.2.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
     "upload-time": "2023-03-09T00:00:00Z"},
]  # fmt: skip
XGBOOST = [
    {"filename": "xgboost-1.3.3-py3-none-manylinux2010_x86_64.whl", "upload-time": "2021-01-20T00:00:00Z"}
]
PURE = [{"filename": "cloudpickle-1.6.0-py3-none-any.whl", "upload-time": "2020-09-09T00:00:00Z"}]


def test_wheels_for_the_images_python() -> None:
    tags = target_tags("3.11")
    assert has_wheel(SKLEARN, "1.1.3", tags) and not has_wheel(SKLEARN, "1.1.2", tags)
    assert has_wheel(XGBOOST, "1.3.3", tags) and has_wheel(PURE, "1.6.0", tags)
    assert has_wheel(SKLEARN, "1.1.2", target_tags("3.10"))


def test_the_nearest_release_with_a_wheel() -> None:
    tags = target_tags("3.11")
    assert nearest_with_wheel(SKLEARN, "1.1.2", tags) == "1.1.3"  # same minor first
    assert nearest_with_wheel(SKLEARN, "1.1.4", tags) == "1.2.2"  # then the next release (no rc)
    assert nearest_with_wheel(SKLEARN, "9.0", tags) is None


def test_release_dates_and_pins() -> None:
    assert release_date(SKLEARN, "1.1.2") == dt.datetime(2022, 8, 5, 18, 40, tzinfo=dt.UTC)
    assert exact_pins(["numpy", "scikit-learn==1.1.2", "mlflow-skinny[extras]==2.9.1", "pandas>=1.5"]) == [
        ("scikit-learn==1.1.2", "scikit-learn", "1.1.2"),
        ("mlflow-skinny[extras]==2.9.1", "mlflow-skinny", "2.9.1"),
    ]


def test_pins_move_to_the_nearest_wheel_and_give_the_worlds_date() -> None:
    files = {"scikit-learn": SKLEARN, "xgboost": XGBOOST, "cloudpickle": PURE}
    lines, warnings, newest = hold_pins(
        ["mlflow-skinny", "cloudpickle==1.6.0", "scikit-learn==1.1.2", "xgboost==1.3.3"],
        "3.11",
        fetch=files.__getitem__,
        origin=lambda project: (
            "model/conda.yaml:9: - scikit-learn==1.1.2" if project == "scikit-learn" else None
        ),
    )
    assert lines == ["mlflow-skinny", "cloudpickle==1.6.0", "scikit-learn==1.1.3", "xgboost==1.3.3"]
    assert warnings == [
        "model/conda.yaml:9: - scikit-learn==1.1.2: scikit-learn==1.1.2 has no wheel for Python 3.11; using "
        "1.1.3, the nearest release that has one"
    ]
    assert newest == dt.datetime(2022, 10, 25, 19, 0, tzinfo=dt.UTC)  # 1.1.3's, the newest pin


def test_a_pin_with_no_usable_release_names_its_line() -> None:
    with pytest.raises(ResolutionError, match=r"conda.yaml:3: .*no release of scikit-learn at or above 9.0"):
        hold_pins(["scikit-learn==9.0"], "3.11", fetch=lambda _: SKLEARN, origin=lambda _: "conda.yaml:3: x")
