"""Every integer the package takes in goes through `limits.integer_in` (issue 17)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from proxystore.data.kinds import check_params
from proxystore.errors import DataError, ProxystoreError
from proxystore.limits import integer_in
from proxystore.runner.pool import check_workers
from proxystore.space.jsonl import JsonlLineError, complexity_records

NOT_INTEGERS = [True, 1.5, 2.0, "2", None, float("nan")]


def test_integer_in_takes_python_and_numpy_integers_and_nothing_else():
    assert integer_in(3) and integer_in(np.int64(-3)) and integer_in(5, 5, 5)
    assert not integer_in(4, 5) and not integer_in(6, None, 5)
    assert not any(integer_in(value) for value in NOT_INTEGERS)


@pytest.mark.parametrize("value", [0, -1, *NOT_INTEGERS])
def test_worker_counts_must_be_positive_integers(value):
    with pytest.raises(ProxystoreError, match=r"^--workers must be a positive integer, got "):
        check_workers("cpu", None, workers=value)
    with pytest.raises(ProxystoreError, match=r"^--per-gpu must be a positive integer, got "):
        check_workers("cpu", None, per_gpu=value)


def test_numpy_worker_counts_are_integers():
    assert check_workers("cpu", None, workers=np.int64(2), per_gpu=np.int32(1)) == []


def _line(**changes):
    record = {"depths": [1], "widths": [8], "bottleneck_ratios": [1], "group_widths": [8],
              "strides": [1], "stem_width": 8, "image_size": 8, "num_classes": 10, **changes}
    return next(complexity_records([json.dumps(record)]))


def test_jsonl_sizes_are_positive_integers_and_integral_floats_are_read_as_ints():
    assert _line(image_size=8.0, num_classes=10.0)["flops"] == _line()["flops"] > 0
    for bad in (0, True, 8.5, "8"):
        with pytest.raises(JsonlLineError, match=r"image_size must be a positive integer"):
            _line(image_size=bad)


def test_one_class_label_may_be_a_numpy_integer_but_not_a_bool():
    assert check_params("classes", {"labels": np.int64(3)})["labels"] == [3]
    with pytest.raises(DataError, match="classes labels must be a list of class labels"):
        check_params("classes", {"labels": True})
