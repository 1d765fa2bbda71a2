"""The training loop: one cell from device-resident uint8 data to per-epoch metrics.

No host synchronisation inside an epoch: losses, errors and the finiteness of the loss are summed
on the device and read with one `.tolist()` after each epoch's evaluation (unless
`TrainOptions.log_every` asks for per-step logging). docs/training.md describes the semantics.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch

from proxystore.errors import DataError, TrainingError
from proxystore.train import precision as prec
from proxystore.train.augment import crop_flip, normalize
from proxystore.train.data import TrainData
from proxystore.train.evaluate import evaluate
from proxystore.train.optim import build_optimizer, lr_at
from proxystore.train.options import COMPILE_MODES as COMPILE_MODES
from proxystore.train.options import TrainOptions as TrainOptions
from proxystore.train.recipe import Recipe
from proxystore.train.step import GRAPHABLE_OPTIMIZERS, GraphedStep, Step
from proxystore.train.stream import batches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch: training loss/error on its augmented batches, then validation metrics."""

    epoch: int
    train_loss: float
    train_error: float
    val_loss: float
    top1_error: float
    top5_error: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """A finished run; `final_*` are the last epoch's validation metrics, `best_*` the minima."""

    epochs: list[EpochMetrics] = field(repr=False)
    final_loss: float
    final_top1_error: float
    final_top5_error: float
    best_top1_error: float
    best_top5_error: float
    best_epoch: int
    wall_seconds: float
    device_seconds: float
    device: str


class DivergedError(TrainingError):
    """The loss became NaN or infinite during `epoch` (1-based)."""

    def __init__(self, epoch: int, message: str) -> None:
        super().__init__(message)
        self.epoch = epoch


class OutOfMemoryError(TrainingError):
    """The device ran out of memory during `epoch` (1-based)."""

    def __init__(self, epoch: int, message: str) -> None:
        super().__init__(message)
        self.epoch = epoch


class Interrupted(KeyboardInterrupt):
    """`should_stop` asked the run to stop; nothing of the unfinished epoch is reported."""


def build_seeded(factory: Callable[[], torch.nn.Module], seed: int) -> torch.nn.Module:
    """Build a model with torch seeded from `seed`, so its initial weights follow the cell's seed.

    Args:
        factory: builds the network (e.g. a torchvision RegNet).
        seed: the cell's seed.
    """
    torch.manual_seed(seed)
    return factory()


@dataclass
class _Run:
    """One cell's training state, built once by `_prepare` and advanced an epoch at a time."""

    model: torch.nn.Module
    net: torch.nn.Module
    data: TrainData
    recipe: Recipe
    options: TrainOptions
    device: torch.device
    channels_last: bool
    memory_format: torch.memory_format
    dtype: torch.dtype | None  # None: fp32 (no autocast)
    optimizer: torch.optim.Optimizer
    step_fn: Step
    graphed: GraphedStep | None
    sums: torch.Tensor
    shuffler: np.random.Generator
    generator: torch.Generator
    batch_size: int
    steps: int
    total: int
    lr_scale: float

    def lr(self, epoch: int, step: int) -> float:
        """The learning rate of `step` (0-based) in `epoch` (1-based)."""
        return self.lr_scale * lr_at((epoch - 1) * self.steps + step, self.total, self.steps,
                                     self.recipe)


def train(model: torch.nn.Module, data: TrainData, recipe: Recipe, seed: int,
          device: str | torch.device, *, on_epoch: Callable[[EpochMetrics], None] | None = None,
          should_stop: Callable[[], bool] | None = None,
          options: TrainOptions | None = None) -> TrainResult:
    """Train `model` in place on `data` with `recipe`, evaluating after every epoch.

    Args:
        model: the network, initialised (see `build_seeded`), with data.num_classes outputs.
        data: the cell's data, on `device`.
        recipe: everything that changes the result.
        seed: seeds torch (dropout etc.), the shuffling and the augmentation generator.
        device: where to train ("cpu", "cuda", "cuda:1").
        on_epoch: called with each epoch's metrics as soon as they are known.
        should_stop: polled before every step; True raises `Interrupted`.
        options: execution choices that don't change the result.

    Raises:
        DivergedError: the loss became NaN/inf (checked once per epoch).
        OutOfMemoryError: the device ran out of memory.
        Interrupted: should_stop returned True.
    """
    started = time.perf_counter()
    run = _prepare(model, data, recipe, seed, _resolve_device(device), options or TrainOptions())
    clock = _DeviceClock(run.device)
    history: list[EpochMetrics] = []
    epoch = 0
    try:
        for epoch in range(1, recipe.epochs + 1):
            epoch_start = time.perf_counter()
            lr = _train_epoch(run, epoch, should_stop)
            if should_stop is not None and should_stop():
                raise Interrupted(f"stopped after the training steps of epoch {epoch}")
            metrics = _evaluate_epoch(run, epoch, lr, epoch_start)
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(metrics)
    except torch.OutOfMemoryError as error:
        _release(run.device)
        raise OutOfMemoryError(epoch, f"out of memory in epoch {epoch}: "
                               f"{str(error).splitlines()[0]}") from None
    wall = time.perf_counter() - started
    return _result(history, recipe, wall, clock.seconds(wall), _device_name(run.device))


def _prepare(model: torch.nn.Module, data: TrainData, recipe: Recipe, seed: int,
             device: torch.device, options: TrainOptions) -> _Run:
    """Check the data, seed torch, place and (optionally) compile the model, build the step."""
    _check_data(data, recipe, device)
    torch.manual_seed(seed)
    channels_last = device.type == "cuda" if options.channels_last is None \
        else options.channels_last
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = options.cudnn_benchmark
    model = model.to(device).to(memory_format=memory_format)
    mode = options.compile_mode
    net = cast(torch.nn.Module, torch.compile(model, mode=mode)) if mode else model
    dtype = prec.resolve(recipe.precision, device)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None

    n = len(data.train_x)
    batch_size = min(recipe.batch_size, n)  # a subset smaller than a batch: one batch per epoch
    steps = n // batch_size  # drop_last: every step sees a full batch
    # lr is given at recipe.batch_size; a smaller effective batch scales it linearly.
    lr_scale = batch_size / recipe.batch_size
    optimizer = build_optimizer(list(model.parameters()), recipe, device)
    shuffler = np.random.default_rng(seed)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    step_fn = Step(net, optimizer, scaler, dtype, recipe.label_smoothing, sums,
                   data.num_classes)
    total = steps * recipe.epochs
    graphed = _graphed_step(step_fn, options, recipe, device, scaler,
                            lr_scale * lr_at(0, total, steps, recipe))
    return _Run(model=model, net=net, data=data, recipe=recipe, options=options, device=device,
                channels_last=channels_last, memory_format=memory_format, dtype=dtype,
                optimizer=optimizer, step_fn=step_fn, graphed=graphed, sums=sums,
                shuffler=shuffler, generator=generator, batch_size=batch_size, steps=steps,
                total=total, lr_scale=lr_scale)


def _train_epoch(run: _Run, epoch: int, should_stop: Callable[[], bool] | None) -> float:
    """The training steps of one epoch; returns the last step's learning rate."""
    data, recipe = run.data, run.recipe
    run.model.train()
    run.sums.zero_()
    order = run.shuffler.permutation(len(data.train_x))
    lr = 0.0
    for step, (images, labels) in enumerate(
            batches(data.train_x, data.train_y, order, run.batch_size, run.steps)):
        if should_stop is not None and should_stop():
            raise Interrupted(f"stopped in epoch {epoch} at step {step}")
        lr = run.lr(epoch, step)
        inputs = crop_flip(normalize(images, data.mean, data.std), recipe.crop_padding or 0,
                           recipe.flip_prob, run.generator)
        inputs = inputs.contiguous(memory_format=run.memory_format)
        if run.graphed is not None:
            loss, _ = run.graphed(inputs, labels, lr)
        else:
            for group in run.optimizer.param_groups:
                group["lr"] = lr
            loss, _ = run.step_fn(inputs, labels)
        if run.options.log_every and (step + 1) % run.options.log_every == 0:
            log.info("epoch %d step %d/%d loss %.4f lr %.4g", epoch, step + 1, run.steps,
                     loss.item(), lr)
    return lr


def _evaluate_epoch(run: _Run, epoch: int, lr: float, epoch_start: float) -> EpochMetrics:
    """Validate after an epoch and read the epoch's sums in one host sync; NaN/inf diverges."""
    data = run.data
    val = evaluate(run.net, data.val_x, data.val_y, data.mean, data.std, data.num_classes,
                   batch_size=run.options.eval_batch_size, channels_last=run.channels_last,
                   precision=run.dtype)
    train_loss, train_wrong, val_loss, top1_wrong, topk_wrong = \
        torch.cat([run.sums, val]).tolist()  # the epoch's one host sync
    seen, n_val = run.steps * run.batch_size, len(data.val_x)
    if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
        bad = train_loss if not math.isfinite(train_loss) else val_loss
        raise DivergedError(epoch, f"loss became {bad} in epoch {epoch} (lr {lr:.4g})")
    return EpochMetrics(
        epoch=epoch, train_loss=train_loss / seen, train_error=train_wrong / seen,
        val_loss=val_loss / n_val, top1_error=top1_wrong / n_val,
        top5_error=topk_wrong / n_val, lr=lr, seconds=time.perf_counter() - epoch_start)


class _DeviceClock:
    """Device seconds from the first step to the end: CUDA events on a GPU, else wall time."""

    def __init__(self, device: torch.device) -> None:
        self.first: torch.cuda.Event | None = None
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            self.first = torch.cuda.Event(enable_timing=True)
            self.first.record()

    def seconds(self, wall: float) -> float:
        """Seconds since construction on the device (`wall` when not on CUDA)."""
        if self.first is None:
            return wall
        last = torch.cuda.Event(enable_timing=True)
        last.record()
        last.synchronize()
        return self.first.elapsed_time(last) / 1000.0


def _graphed_step(step: Step, options: TrainOptions, recipe: Recipe, device: torch.device,
                  scaler: torch.amp.GradScaler | None, lr: float) -> GraphedStep | None:
    """The CUDA-graph runner when `options.cuda_graphs` asks for one and the run allows it."""
    if not options.cuda_graphs:
        return None
    if device.type != "cuda":
        raise TrainingError(f"cuda_graphs needs a CUDA device, not {device}")
    if scaler is not None:
        # GradScaler reads the host every step (to skip steps with inf gradients).
        log.warning("cuda_graphs: fp16 with a GradScaler cannot be captured; training eagerly")
        return None
    if recipe.optimizer not in GRAPHABLE_OPTIMIZERS:
        log.warning("cuda_graphs: %s cannot be captured; training eagerly", recipe.optimizer)
        return None
    return GraphedStep(step, lr, warmup=options.graph_warmup)


def _result(history: list[EpochMetrics], recipe: Recipe, wall: float, device_seconds: float,
            device_name: str) -> TrainResult:
    """Summarise the epochs: final metrics, minima, and the best epoch by the eval metric."""
    final = history[-1]
    key = (lambda m: m.top1_error) if recipe.eval_metric == "top1" else (lambda m: m.top5_error)
    best = min(history, key=key)  # min keeps the earliest epoch among ties
    return TrainResult(
        epochs=history, final_loss=final.val_loss, final_top1_error=final.top1_error,
        final_top5_error=final.top5_error,
        best_top1_error=min(m.top1_error for m in history),
        best_top5_error=min(m.top5_error for m in history),
        best_epoch=best.epoch, wall_seconds=wall, device_seconds=device_seconds,
        device=device_name)


def _resolve_device(device: str | torch.device) -> torch.device:
    """A torch.device with an explicit CUDA index."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _device_name(device: torch.device) -> str:
    """A readable device name: "cpu" or the CUDA device's product name."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def _check_data(data: TrainData, recipe: Recipe, device: torch.device) -> None:
    """Fail early on data that doesn't fit the recipe or sits on another device."""
    _, h, w = data.image_shape
    if (h, w) != (recipe.image_size, recipe.image_size):
        raise DataError(f"images are {h}x{w} but the recipe trains at {recipe.image_size} px")
    if data.train_y.device != device:
        raise DataError(f"data is on {data.train_y.device}, training on {device}")


def _release(device: torch.device) -> None:
    """Return cached blocks after an out-of-memory error, so the next cell starts clean."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
