"""The training step and its CUDA-graph runner's bookkeeping, and the execution options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proxystore.errors import TrainingError
from proxystore.train.loop import TrainOptions, build_seeded, train
from proxystore.train.optim import build_optimizer
from proxystore.train.step import GraphedStep, Step
from tests.test_train_fixtures import load_digits_splits, recipe, tiny_cnn


def _setup(seed: int, optimizer: str = "sgd") -> tuple[torch.nn.Module, Step]:
    model = build_seeded(tiny_cnn, seed)
    model.train()
    optimizer = build_optimizer(list(model.parameters()),
                                recipe(lr=0.1, momentum=0.9, nesterov=True, optimizer=optimizer),
                                torch.device("cpu"))
    sums = torch.zeros(2, dtype=torch.float64)
    return model, Step(model, optimizer, None, None, 0.0, sums, 10)


def _batches(count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    digits = load_digits_splits()
    x = torch.from_numpy(digits.train_images[:count * 32].astype(np.float32) / 255.0)
    y = torch.from_numpy(digits.train_labels[:count * 32])
    return [(x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32]) for i in range(count)]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_graphed_step_bookkeeping_trains_exactly_like_eager_steps(optimizer: str) -> None:
    """Warm-up, static buffers and the tensor learning rate change nothing about training."""
    eager_model, eager = _setup(5, optimizer)
    graph_model, graphed_step = _setup(5, optimizer)
    lrs = [(0.1 if optimizer == "sgd" else 0.003) * (1 - i / 10) for i in range(8)]
    graphed = GraphedStep(graphed_step, lrs[0], warmup=2, capture=False)
    batches = _batches(len(lrs))
    for (x, y), lr in zip(batches, lrs, strict=True):
        for group in eager.optimizer.param_groups:
            group["lr"] = lr
        eager_loss, _ = eager(x, y)
        graph_loss, _ = graphed(x, y, lr)
        torch.testing.assert_close(graph_loss, eager_loss)
    for a, b in zip(eager_model.state_dict().values(), graph_model.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b)  # BN running statistics included
    torch.testing.assert_close(graphed_step.sums, eager.sums)
    assert graphed.static is not None and graphed.calls == len(lrs)
    torch.testing.assert_close(graphed.static[0], batches[-1][0])  # the last batch was copied in
    assert graphed.lr.item() == pytest.approx(lrs[-1])
    assert graphed.step.optimizer.param_groups[0]["lr"] is graphed.lr  # read from the tensor


def test_train_options_name_compile_modes_and_refuse_contradictions() -> None:
    assert TrainOptions().compile_mode is None
    assert TrainOptions(compile=True).compile_mode == "default"
    assert TrainOptions(compile="off").compile_mode is None
    assert TrainOptions(compile="reduce-overhead").compile_mode == "reduce-overhead"
    with pytest.raises(ValueError, match="unknown mode 'fastest'"):
        TrainOptions(compile="fastest")
    with pytest.raises(ValueError, match="exclusive"):
        TrainOptions(compile="default", cuda_graphs=True)
    with pytest.raises(ValueError, match="at least 1"):
        TrainOptions(graph_warmup=0)


def test_cuda_graphs_on_the_cpu_are_refused_before_training() -> None:
    digits = load_digits_splits()
    with pytest.raises(TrainingError, match="cuda_graphs needs a CUDA device"):
        train(build_seeded(tiny_cnn, 0), digits.data(), recipe(epochs=1), 0, "cpu",
              options=TrainOptions(cuda_graphs=True))


def test_a_capture_that_fails_falls_back_to_eager_steps_from_the_same_state(caplog) -> None:
    """Without a GPU the capture itself fails (no CUDA driver): the runner must log it once
    and go on training exactly as eager steps would, the failed attempt having changed
    nothing."""
    eager_model, eager = _setup(7)
    graph_model, graphed_step = _setup(7)
    graphed = GraphedStep(graphed_step, 0.1, warmup=2, capture=True)
    with caplog.at_level("WARNING", logger="proxystore.train.step"):
        for x, y in _batches(6):
            for group in eager.optimizer.param_groups:
                group["lr"] = 0.05
            eager(x, y)
            graphed(x, y, 0.05)
    assert graphed.failed and graphed.graph is None
    warnings = [r for r in caplog.records if "CUDA graph capture failed" in r.getMessage()]
    assert len(warnings) == 1
    for a, b in zip(eager_model.state_dict().values(), graph_model.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(graphed_step.sums, eager.sums)
