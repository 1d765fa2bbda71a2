"""Optimizers and learning-rate schedules from a recipe; the schedule is a pure function of step.

Every schedule is stepped per iteration. Warm-up multiplies the schedule by (step + 1) / W for
the first W = round(warmup_epochs * steps_per_epoch) steps. Weight decay applies to every
parameter (BN and biases included), as pycls does by default.
"""

from __future__ import annotations

import math

import torch

from proxystore.train.recipe import Recipe

# torch.optim.lr_scheduler.OneCycleLR's defaults (pct_start, div_factor, final_div_factor).
ONECYCLE_PCT_START = 0.3
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4


def build_optimizer(params: list[torch.nn.Parameter], recipe: Recipe,
                    device: torch.device) -> torch.optim.Optimizer:
    """The recipe's optimizer over `params` at the recipe's lr.

    SGD takes momentum and nesterov (nesterov only when momentum > 0); Adam and RMSProp keep
    torch's defaults (betas (0.9, 0.999); alpha 0.99, no momentum) apart from lr and weight
    decay (coupled L2, as torch.optim.Adam applies it).

    Args:
        params: the parameters to optimise.
        recipe: supplies optimizer, lr, momentum, nesterov, weight_decay.
        device: the training device (CUDA uses the fused implementations).
    """
    fused = True if device.type == "cuda" else None  # one kernel for all parameters
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.nesterov and recipe.momentum > 0,
                               weight_decay=recipe.weight_decay, fused=fused)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay,
                                fused=fused)
    if recipe.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=recipe.lr, weight_decay=recipe.weight_decay,
                                   foreach=device.type == "cuda")
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def lr_at(step: int, total_steps: int, steps_per_epoch: int, recipe: Recipe) -> float:
    """Learning rate for iteration `step` (0-based) of `total_steps`.

    cosine: lr * (1 + cos(pi * step / total_steps)) / 2, ending just above 0. onecycle: torch's
    OneCycleLR (cosine annealing, two phases) with max_lr = lr; momentum is not cycled.
    constant: lr.

    Args:
        step: iteration index, 0 <= step < total_steps.
        total_steps: iterations in the whole run.
        steps_per_epoch: iterations per epoch (for warm-up in epochs).
        recipe: supplies lr, schedule and warmup_epochs.
    """
    if recipe.schedule == "cosine":
        lr = recipe.lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    elif recipe.schedule == "onecycle":
        lr = _onecycle(step, total_steps, recipe.lr)
    else:
        lr = recipe.lr
    warmup = round(recipe.warmup_epochs * steps_per_epoch)
    if step < warmup:
        lr *= (step + 1) / warmup
    return lr


def _onecycle(step: int, total_steps: int, max_lr: float) -> float:
    """OneCycleLR's two-phase cosine annealing, as torch computes it."""
    initial = max_lr / ONECYCLE_DIV
    final = initial / ONECYCLE_FINAL_DIV
    peak = float(ONECYCLE_PCT_START * total_steps) - 1
    end = float(total_steps - 1)
    if step <= peak or peak >= end:
        start_lr, end_lr, pct = initial, max_lr, step / peak if peak > 0 else 1.0
    else:
        start_lr, end_lr, pct = max_lr, final, (step - peak) / (end - peak)
    return end_lr + (start_lr - end_lr) / 2.0 * (math.cos(math.pi * pct) + 1)
