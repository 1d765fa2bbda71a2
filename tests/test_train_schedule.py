"""Learning-rate schedules per iteration: cosine, one-cycle (as torch's OneCycleLR), warm-up."""

from __future__ import annotations

import math

import pytest
import torch

from proxystore.train.optim import build_optimizer, lr_at
from tests.test_train_fixtures import recipe, tiny_cnn


def _curve(total: int, steps_per_epoch: int, **changes) -> list[float]:
    r = recipe(**changes)
    return [lr_at(step, total, steps_per_epoch, r) for step in range(total)]


def test_cosine_starts_at_lr_and_ends_near_zero() -> None:
    curve = _curve(200, 20, lr=0.4, schedule="cosine")
    assert curve[0] == pytest.approx(0.4)
    assert curve[100] == pytest.approx(0.2)
    assert 0 < curve[-1] < 0.4 * 1e-3
    assert all(a >= b for a, b in zip(curve, curve[1:], strict=False))


def test_onecycle_matches_torch_and_peaks_at_lr() -> None:
    total = 137
    curve = _curve(total, 10, lr=0.3, schedule="onecycle")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.3, total_steps=total,
                                                    cycle_momentum=False)
    expected = []
    for _ in range(total):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert curve == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert max(curve) == pytest.approx(0.3, rel=1e-4)  # the peak falls between two steps
    assert curve[0] == pytest.approx(0.3 / 25)


def test_constant_is_constant_and_warmup_ramps_linearly() -> None:
    assert set(_curve(30, 10, schedule="constant")) == {0.1}
    warm = _curve(100, 10, schedule="constant", warmup_epochs=2)
    assert warm[:3] == pytest.approx([0.1 / 20, 0.2 / 20, 0.3 / 20])
    assert warm[19] == pytest.approx(0.1) and warm[20:] == [0.1] * 80
    cosine = _curve(100, 10, schedule="cosine", warmup_epochs=1)
    assert cosine[4] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 4 / 100)) * 5 / 10)


@pytest.mark.parametrize("name,cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                                      ("rmsprop", torch.optim.RMSprop)])
def test_optimizer_takes_the_recipe_fields(name: str, cls: type) -> None:
    r = recipe(optimizer=name, lr=0.05, weight_decay=1e-4, momentum=0.8, nesterov=True)
    optimizer = build_optimizer(list(tiny_cnn().parameters()), r, torch.device("cpu"))
    assert isinstance(optimizer, cls)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.05, 1e-4)
    if name == "sgd":
        assert (group["momentum"], group["nesterov"]) == (0.8, True)


def test_nesterov_is_dropped_without_momentum() -> None:
    r = recipe(momentum=0.0, nesterov=True)
    optimizer = build_optimizer(list(tiny_cnn().parameters()), r, torch.device("cpu"))
    assert optimizer.param_groups[0]["nesterov"] is False
