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
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxystore import fingerprint as fp
from proxystore.errors import GenomeError
from proxystore.space.complexity import Complexity

# Keyword arguments of timm.create_model and its builder that load, download or read weights or
# configurations, or turn the classifier into a feature extractor: proxystore trains from
# scratch, and a cell key hashes a path, never the file behind it.
WEIGHT_KWARGS = frozenset({
    "pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "pretrained_strict",
    "pretrained_filter_fn", "pretrained_model_args", "checkpoint_path", "cache_dir", "pruned",
    "features_only", "feature_cfg", "feature_cls", "out_indices", "model_cfg", "file", "path",
    "filename", "weights", "url",
})
WEIGHT_WORDS = ("pretrained", "checkpoint", "download", "hf_hub", "cache", "url", "file")
WEIGHT_VALUES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt", ".npz", ".h5", ".pkl")
URL_PREFIXES = ("hf-hub:", "hf_hub:", "http://", "https://", "file:", "timm/")
# Integer keyword values beyond 32 bits are a typo (widths, depths, ...), and overflow in torch.
MAX_KWARG_INT = 2**31 - 1


def _freeze(value: Any) -> Any:
    """Make a keyword value hashable: lists become tuples; nested mappings are refused."""
    if isinstance(value, Mapping):
        raise ValueError("nested mappings are not supported as timm keyword values")
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _flat(value: Any) -> list[Any]:
    """Every scalar inside a (frozen) keyword value."""
    return [v for item in value for v in _flat(item)] if isinstance(value, tuple) else [value]


def _weight_loading(key: str, value: Any) -> str | None:
    """Why keyword `key` with `value` would load weights or read a file, or None."""
    if key in WEIGHT_KWARGS or any(word in key for word in WEIGHT_WORDS):
        return f"kwargs may not set {key}"
    for item in _flat(value):
        text = item.strip().lower() if isinstance(item, str) else ""
        if text.endswith(WEIGHT_VALUES) or text.startswith(URL_PREFIXES) or "/" in text:
            return f"kwargs {key}={item!r} names a file or a download"
    return None


def _bad_number(key: str, value: Any) -> str | None:
    """Why a keyword value's number is out of bounds (not finite, beyond 32 bits), or None."""
    for item in _flat(value):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return f"kwargs {key} must be finite, got {item!r}"
        if abs(item) > MAX_KWARG_INT:
            return f"kwargs {key} must be at most {MAX_KWARG_INT:,} in size, got {item:.6g}"
    return None


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
        blocked = {"num_classes", "in_chans"} & {k for k, _ in pairs}
        if blocked:
            raise GenomeError(f"timm:{self.name}: kwargs may not set {', '.join(sorted(blocked))} "
                              "(classes and channels come from the task)")
        for key, value in pairs:
            problem = _weight_loading(key, value)
            if problem is not None:
                raise GenomeError(f"timm:{self.name}: {problem} (proxystore trains from scratch: "
                                  "no weights are loaded, downloaded or read from a file)")
            problem = _bad_number(key, value)
            if problem is not None:
                raise GenomeError(f"timm:{self.name}: {problem}")
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
        except (TypeError, ValueError, AssertionError, RuntimeError, OverflowError) as error:
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
