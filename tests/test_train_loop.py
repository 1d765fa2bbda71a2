"""The training loop on real data (sklearn digits): learning, seeds, failures, interruption."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from proxystore.errors import TrainingError
from proxystore.train.loop import (
    DivergedError,
    EpochMetrics,
    Interrupted,
    OutOfMemoryError,
    TrainResult,
    _result,
    build_seeded,
    train,
)
from tests.test_train_fixtures import Digits, load_digits_splits, recipe, tiny_cnn


@pytest.fixture
def digits() -> Digits:
    """The digits splits (loaded once per process)."""
    return load_digits_splits()

LEARNS = {"epochs": 5, "lr": 0.2, "batch_size": 32}


def _without_seconds(result: TrainResult) -> list[tuple]:
    """Every metric of every epoch except the timings."""
    return [dataclasses.astuple(dataclasses.replace(m, seconds=0.0)) for m in result.epochs]


def test_error_falls_far_below_chance_on_digits(digits) -> None:
    seen: list[EpochMetrics] = []
    result = train(build_seeded(tiny_cnn, 0), digits.data(), recipe(**LEARNS), 0, "cpu",
                   on_epoch=seen.append)
    assert [m.epoch for m in seen] == [1, 2, 3, 4, 5]
    assert seen == result.epochs
    assert result.final_top1_error < 0.3  # chance is 0.9
    assert result.final_top5_error < 0.05
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss
    assert result.best_top1_error == min(m.top1_error for m in result.epochs)
    assert result.final_loss == result.epochs[-1].val_loss
    assert result.device == "cpu" and result.device_seconds == result.wall_seconds > 0
    assert result.epochs[-1].lr < 0.2 * 0.01  # cosine, stepped per iteration, ends near 0


def test_same_seed_reproduces_metrics_and_weights(digits) -> None:
    runs = []
    for _ in range(2):
        model = build_seeded(tiny_cnn, 3)
        result = train(model, digits.data(), recipe(epochs=2), 3, "cpu")
        runs.append((result, model.state_dict()))
    (first, weights_a), (second, weights_b) = runs
    assert _without_seconds(first) == _without_seconds(second)
    for name, tensor in weights_a.items():
        assert torch.equal(tensor, weights_b[name]), name


def test_different_seeds_differ(digits) -> None:
    a = train(build_seeded(tiny_cnn, 1), digits.data(), recipe(epochs=1), 1, "cpu")
    b = train(build_seeded(tiny_cnn, 2), digits.data(), recipe(epochs=1), 2, "cpu")
    assert _without_seconds(a) != _without_seconds(b)


def test_same_initial_weights_different_seed_still_differ(digits) -> None:
    # Shuffling and augmentation follow train()'s seed, not only the initial weights.
    a = train(build_seeded(tiny_cnn, 1), digits.data(), recipe(epochs=1), 1, "cpu")
    b = train(build_seeded(tiny_cnn, 1), digits.data(), recipe(epochs=1), 2, "cpu")
    assert a.epochs[0].train_loss != b.epochs[0].train_loss


def test_absurd_learning_rate_raises_diverged_with_epoch(digits) -> None:
    seen: list[EpochMetrics] = []
    with pytest.raises(DivergedError) as caught:
        train(build_seeded(tiny_cnn, 0), digits.data(), recipe(lr=1e6), 0, "cpu",
              on_epoch=seen.append)
    assert caught.value.epoch == 1
    assert isinstance(caught.value, TrainingError)
    assert seen == []  # no metrics of a diverged epoch are reported


def test_should_stop_interrupts_within_the_epoch(digits) -> None:
    polls = {"n": 0}
    steps_per_epoch = 1400 // 64

    def should_stop() -> bool:
        polls["n"] += 1
        return polls["n"] > steps_per_epoch + 3  # three steps into epoch 2

    seen: list[EpochMetrics] = []
    with pytest.raises(Interrupted) as caught:
        train(build_seeded(tiny_cnn, 0), digits.data(), recipe(), 0, "cpu",
              on_epoch=seen.append, should_stop=should_stop)
    assert isinstance(caught.value, KeyboardInterrupt)
    assert "epoch 2" in str(caught.value)
    assert [m.epoch for m in seen] == [1]


def test_class_subset_trains_k_way_with_validation_restricted(digits) -> None:
    label_map = {3: 0, 7: 1}
    train_idx = np.flatnonzero(np.isin(digits.train_labels, [3, 7]))
    data = digits.data(label_map=label_map, train_indices=train_idx)
    assert data.num_classes == 2
    assert len(data.val_y) == int(np.isin(digits.val_labels, [3, 7]).sum())
    assert set(data.val_y.tolist()) == {0, 1}
    result = train(build_seeded(lambda: tiny_cnn(2), 0), data, recipe(**LEARNS), 0, "cpu")
    assert result.final_top1_error < 0.15  # chance is 0.5
    assert all(m.top5_error == 0.0 for m in result.epochs)  # top-5 of 2 classes is all of them


@pytest.mark.parametrize("optimizer,lr", [("adam", 0.01), ("rmsprop", 0.003)])
def test_adam_and_rmsprop_learn(digits, optimizer: str, lr: float) -> None:
    result = train(build_seeded(tiny_cnn, 0), digits.data(),
                   recipe(optimizer=optimizer, lr=lr, epochs=3), 0, "cpu")
    assert result.final_top1_error < 0.6


def test_batch_larger_than_subset_takes_one_full_batch_per_epoch(digits) -> None:
    data = digits.data(train_indices=np.arange(50))
    result = train(build_seeded(tiny_cnn, 0), data, recipe(batch_size=128, epochs=2,
                                                           schedule="constant"), 0, "cpu")
    for m in result.epochs:
        assert m.train_error * 50 == pytest.approx(round(m.train_error * 50))
    assert result.epochs[0].lr == pytest.approx(0.1 * 50 / 128)  # lr given at batch 128


def test_best_epoch_follows_the_eval_metric() -> None:
    history = [EpochMetrics(1, 1.0, 0.5, 1.0, 0.30, 0.20, 0.1, 1.0),
               EpochMetrics(2, 0.9, 0.4, 0.9, 0.25, 0.22, 0.1, 1.0),
               EpochMetrics(3, 0.8, 0.3, 1.1, 0.28, 0.21, 0.1, 1.0)]
    by_top1 = _result(history, recipe(eval_metric="top1"), 3.0, 3.0, "cpu")
    by_top5 = _result(history, recipe(eval_metric="top5"), 3.0, 3.0, "cpu")
    assert (by_top1.best_epoch, by_top5.best_epoch) == (2, 1)
    assert (by_top1.best_top1_error, by_top1.best_top5_error) == (0.25, 0.20)
    assert (by_top1.final_top1_error, by_top1.final_loss) == (0.28, 1.1)


class _RunsOutOfMemory(torch.nn.Module):
    """A network whose forward pass raises out-of-memory once `limit` passes have run."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.net, self.limit, self.calls = tiny_cnn(), limit, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


def test_out_of_memory_is_reported_with_its_epoch(digits) -> None:
    # Epoch 1 is 21 training steps and 1 evaluation batch; epoch 2 fails on its 3rd step.
    model = _RunsOutOfMemory(limit=21 + 1 + 2)
    with pytest.raises(OutOfMemoryError) as caught:
        train(model, digits.data(), recipe(), 0, "cpu")
    assert caught.value.epoch == 2
    assert "out of memory" in str(caught.value)


def test_model_head_that_does_not_match_the_classes_fails_clearly(digits) -> None:
    with pytest.raises(TrainingError, match="expected \\(batch, 10\\)"):
        train(tiny_cnn(7), digits.data(), recipe(epochs=1), 0, "cpu")


# Tensor methods that copy a value to the host: on CUDA each is a sync that stalls the launch
# queue. (Syncs inside C++ operators, e.g. boolean-mask indexing, are invisible here; the GPU
# benchmark's `--cases ops` checks those under torch.cuda.set_sync_debug_mode("error").)
HOST_READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


@pytest.mark.parametrize("resident", [True, False])
def test_host_reads_per_epoch_do_not_grow_with_steps(digits, monkeypatch, resident) -> None:
    """The loop reads the device once per epoch, however many steps the epoch has."""
    def reads(batch_size: int) -> dict[str, int]:
        calls: dict[str, int] = {}
        with monkeypatch.context() as patch:
            for name in HOST_READS:
                original = getattr(torch.Tensor, name)

                def counted(self, *args, __name=name, __original=original, **kwargs):
                    calls[__name] = calls.get(__name, 0) + 1
                    return __original(self, *args, **kwargs)
                patch.setattr(torch.Tensor, name, counted)
            train(build_seeded(tiny_cnn, 0), digits.data(resident=resident),
                  recipe(epochs=2, batch_size=batch_size, crop_padding=2, flip_prob=0.5), 0,
                  "cpu")
        return calls

    few, many = reads(128), reads(16)  # 10 and 87 steps an epoch
    assert many == few  # nothing per step
    assert sum(many.values()) <= 2 * 2  # and at most two reads an epoch
