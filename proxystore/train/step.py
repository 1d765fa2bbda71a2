"""One training step, run eagerly or replayed from a CUDA graph.

A small network at 32 px does so little work per kernel that the GPU waits on Python and on
kernel launches: a step of a 400 MF AnyNetX at batch 128 is hundreds of launches
(`benchmarks/train_throughput.py --cases ops` counts them). `GraphedStep` captures the whole step
(forward, loss, backward, optimizer update and the epoch's running sums) once and replays it with
one launch per step, the way PyTorch documents whole-network capture:

- the first `warmup` steps run eagerly on a side stream (cuDNN picks its algorithms, the
  optimizer creates its momentum buffers), and they are real training steps;
- the next step is captured into static input buffers and then replayed, so it is trained too;
- from then on each step copies its batch into the static buffers, writes the learning rate into
  a device tensor the optimizer reads (no host sync, no re-capture), and replays.

Augmentation stays outside the graph (it draws from the loop's generator and is a few kernels).
A capture that fails (an operation that syncs the host, an optimizer that cannot be captured)
logs one warning and the run goes on eagerly from the same state: nothing is executed while a
graph is being captured, so the failed attempt changed nothing.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from proxystore.errors import TrainingError
from proxystore.train import precision as prec

log = logging.getLogger(__name__)

# Optimizers whose fused CUDA kernels read a tensor learning rate and need no host sync.
GRAPHABLE_OPTIMIZERS = ("sgd", "adam")


class Step:
    """Forward, loss, backward and update of one batch; adds [loss * n, wrong] to `sums`.

    Args:
        net: the (possibly compiled) network, in training mode.
        optimizer: the optimizer over the network's parameters.
        scaler: fp16's GradScaler, or None.
        dtype: autocast dtype (None: fp32).
        label_smoothing: the recipe's label smoothing.
        sums: float64 (2,) tensor on the device, zeroed by the loop at each epoch's start.
        num_classes: the task's classes; the first call checks the model's head against it.
    """

    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler | None, dtype: torch.dtype | None,
                 label_smoothing: float, sums: torch.Tensor, num_classes: int) -> None:
        self.net, self.optimizer, self.scaler = net, optimizer, scaler
        self.dtype, self.label_smoothing, self.sums = dtype, label_smoothing, sums
        self.num_classes = num_classes
        self.checked = False

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor, *,
                 cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Train on one batch; returns (loss, logits), still on the device."""
        with prec.autocast(inputs.device, self.dtype, cache=cache):
            logits = self.net(inputs)
        if not self.checked:
            _check_logits(logits, self.num_classes)
            self.checked = True
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            wrong = (logits.argmax(dim=1) != labels).sum()
            self.sums += torch.stack([loss.detach() * len(labels), wrong]).double()
        return loss, logits


class GraphedStep:
    """Runs a `Step` eagerly for `warmup` steps, then captures it and replays the graph.

    `capture=False` keeps the static buffers and the tensor learning rate but runs the step
    eagerly on them: the same bookkeeping without a GPU, which is how it is tested on the CPU.

    Args:
        step: the eager step.
        lr: the learning rate the optimizer starts with.
        warmup: eager steps before the capture (PyTorch's guide uses 3).
        capture: capture a CUDA graph (requires a CUDA device).
    """

    def __init__(self, step: Step, lr: float, *, warmup: int = 3, capture: bool = True) -> None:
        self.step, self.warmup, self.capture = step, warmup, capture
        params = step.optimizer.param_groups[0]["params"]
        device = params[0].device
        # The optimizer reads the learning rate from this tensor, which every step overwrites.
        self.lr = torch.tensor(float(lr), dtype=torch.float32, device=device)
        for group in step.optimizer.param_groups:
            group["lr"] = self.lr
            if capture and "capturable" in group:
                # Adam refuses capture without it (its fused kernel keeps the step count on
                # the device either way) and would warn that the warm-up is not captured.
                group["capturable"] = True
                step.optimizer._warned_capturable_if_run_uncaptured = True
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.static: tuple[torch.Tensor, torch.Tensor] | None = None
        self.outputs: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor,
                 lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Train on one batch at learning rate `lr`; returns (loss, logits) on the device."""
        self.lr.fill_(lr)
        self.calls += 1
        if self.failed:
            return self.step(inputs, labels)
        if self.calls <= self.warmup:
            return self._eager_warmup(inputs, labels)
        if self.static is None:
            self.static = (inputs.clone(), labels.clone())  # clone keeps the memory format
            if not self.capture:
                self.outputs = self.step(*self.static)
                return self.outputs
            if not self._capture():
                return self.step(inputs, labels)
        else:
            self.static[0].copy_(inputs)
            self.static[1].copy_(labels)
            if not self.capture:
                self.outputs = self.step(*self.static)
                return self.outputs
        assert self.graph is not None and self.outputs is not None
        self.graph.replay()
        return self.outputs

    def _eager_warmup(self, inputs: torch.Tensor,
                      labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """An eager step; on CUDA on a side stream, as capture's warm-up must be."""
        if not (self.capture and inputs.device.type == "cuda"):
            return self.step(inputs, labels)
        main = torch.cuda.current_stream(inputs.device)
        side = torch.cuda.Stream(inputs.device)
        side.wait_stream(main)
        with torch.cuda.stream(side):
            out = self.step(inputs, labels)
        main.wait_stream(side)
        return out

    def _capture(self) -> bool:
        """Capture the step on the static buffers and replay it once; False if capture failed."""
        assert self.static is not None
        self.step.optimizer.zero_grad(set_to_none=True)  # grads come from the graph's pool
        try:
            graph = torch.cuda.CUDAGraph()
            # thread_local: the streaming loader's thread may touch CUDA while we capture.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.outputs = self.step(*self.static, cache=False)
        except RuntimeError as error:
            log.warning("CUDA graph capture failed, training eagerly: %s",
                        str(error).splitlines()[0])
            self.failed = True
            self.outputs = None
            self.step.optimizer.zero_grad(set_to_none=True)
            return False
        self.graph = graph
        return True


def _check_logits(logits: torch.Tensor, num_classes: int) -> None:
    """The model's head must match the task's classes (a shape check, no sync)."""
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise TrainingError(f"model outputs {tuple(logits.shape)}, expected (batch, "
                            f"{num_classes}) for {num_classes} classes")
