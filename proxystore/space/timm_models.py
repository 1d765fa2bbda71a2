"""The second architecture family: a named timm model with keyword arguments (`timm:<name>`).

Seed 1 compares XResNets, which timm provides as `resnet18d`, `resnet50d`, ... with a
`stem_width` keyword. Complexity is measured rather than derived: the model is built on the meta
device (no memory, no init cost) and run once under `torch.utils.flop_counter.FlopCounterMode`.
Conventions, as close to pycls's as a measurement allows:
- flops = FlopCounterMode's count / 2 (it counts a multiply-add as 2): convolutions and matrix
  products only, so batch norm and biases cost nothing (pycls would add num_classes for the
  head's bias; for an AnyNetX network the two differ by exactly that);
- params = the exact number of learned parameters;
- acts = output elements of every Conv2d, Linear and max-pool layer (pycls counts conv, FC and
  pooling outputs), measured with forward hooks.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxystore import fingerprint as fp
from proxystore.errors import GenomeError
from proxystore.space.complexity import Complexity


def _freeze(value: Any) -> Any:
    """Make a keyword value hashable: lists become tuples; nested mappings are refused."""
    if isinstance(value, Mapping):
        raise ValueError("nested mappings are not supported as timm keyword values")
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class TimmModel:
    """A timm model by name plus the keyword arguments passed to `timm.create_model`."""

    name: str
    # A mapping is accepted and normalized to sorted (key, value) pairs, so the model hashes.
    kwargs: tuple[tuple[str, Any], ...] | Mapping[str, Any] = field(default=())

    space = "timm"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise GenomeError(f"timm: the model name must be a non-empty string, got {self.name!r}")
        items = self.kwargs.items() if isinstance(self.kwargs, Mapping) else self.kwargs
        try:
            pairs = tuple(sorted((str(k), _freeze(v)) for k, v in items))
        except (TypeError, ValueError):
            raise GenomeError(f"timm:{self.name}: kwargs must be a mapping of keyword arguments, "
                              f"got {self.kwargs!r}") from None
        # checkpoint_path would torch.load weights from a file the fingerprint knows nothing of.
        blocked = {k for k, _ in pairs if k in ("num_classes", "in_chans", "checkpoint_path",
                                                  "cache_dir") or k.startswith("pretrained")}
        if blocked:
            raise GenomeError(f"timm:{self.name}: kwargs may not set {', '.join(sorted(blocked))} "
                              "(never pretrained or loaded from a checkpoint; classes and "
                              "channels come from the task)")
        object.__setattr__(self, "name", self.name.strip())
        object.__setattr__(self, "kwargs", pairs)

    @property
    def kwargs_dict(self) -> dict[str, Any]:
        """The keyword arguments as a plain dict of JSON values."""
        return fp.canonical(dict(self.kwargs.items() if isinstance(self.kwargs, Mapping)
                                 else self.kwargs))

    def validate(self) -> TimmModel:
        """Check that timm knows the model name; return self."""
        import timm

        if not timm.is_model(self.name):
            raise GenomeError(f"timm: unknown model {self.name!r} (see timm.list_models())")
        return self

    def canonical(self) -> dict[str, Any]:
        """Return {"timm": name, "kwargs": {...}}, the form `parse_architecture` reads back."""
        return {"timm": self.name, "kwargs": self.kwargs_dict}

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON."""
        return fp.fingerprint(self.canonical())

    def build(self, num_classes: int, in_channels: int = 3) -> Any:
        """Build the model with timm, randomly initialised (never pretrained).

        Args:
            num_classes: outputs of the classifier.
            in_channels: input channels.
        """
        import timm

        self.validate()
        try:
            return timm.create_model(self.name, pretrained=False, num_classes=int(num_classes),
                                     in_chans=int(in_channels), **self.kwargs_dict)
        except (TypeError, ValueError, AssertionError, RuntimeError) as error:
            # timm checks its keyword arguments with asserts (resnet18 base_width != 64) and
            # lets torch raise on impossible sizes: each is the spec's fault, one line.
            raise GenomeError(f"timm:{self.name}: bad keyword arguments "
                              f"{self.kwargs_dict}: {error or type(error).__name__}") from None

    def complexity(self, image_size: int, num_classes: int, in_channels: int = 3) -> Complexity:
        """Measure flops, params and acts on the meta device (see the module docstring).

        Args:
            image_size: input height and width in pixels.
            num_classes: outputs of the classifier.
            in_channels: input channels.
        """
        return _measure(self, int(image_size), int(num_classes), int(in_channels))


@functools.lru_cache(maxsize=256)
def _measure(model: TimmModel, image_size: int, num_classes: int, in_channels: int) -> Complexity:
    """Build `model` on the meta device, run one image through it and count."""
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        module = model.build(num_classes, in_channels)
    module.eval()
    acts = [0]

    def count(_module: nn.Module, _inputs: Any, output: Any) -> None:
        acts[0] += output.numel()

    hooks = [m.register_forward_hook(count) for m in module.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear, nn.MaxPool2d))]
    x = torch.empty(1, in_channels, image_size, image_size, device="meta")
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(x)
    finally:
        for hook in hooks:
            hook.remove()
    params = sum(p.numel() for p in module.parameters())
    return Complexity(flops=int(counter.get_total_flops()) // 2, params=int(params),
                      acts=int(acts[0]))
