"""Numeric precision: the recipe's choice resolved for a device, and the autocast context."""

from __future__ import annotations

import contextlib

import torch

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for `precision` on `device`: "auto" is bf16 on CUDA (fp16 where bf16 is
    unsupported) and fp32 (None) elsewhere; explicit choices are honoured on every device.

    Args:
        precision: the recipe's precision (auto, fp32, bf16, fp16).
        device: the training device.
    """
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DTYPES[precision]


def autocast(device: torch.device, dtype: torch.dtype | None, *,
             cache: bool = True) -> contextlib.AbstractContextManager:
    """A fresh autocast context for `dtype` (a no-op context for fp32).

    Args:
        device: the device the forward pass runs on.
        dtype: bf16, fp16 or None.
        cache: autocast's weight-cast cache; must be off while a CUDA graph is captured.
    """
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype, cache_enabled=cache)
