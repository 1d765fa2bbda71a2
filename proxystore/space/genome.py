"""AnyNetX genomes: per-stage depth, width, bottleneck ratio, group width and stride, plus a stem.

An AnyNetX network (Radosavovic et al., 2020) is a stem, a body of stages of X blocks (residual
bottleneck blocks with group convolution) and a head (average pool + fully connected layer).
A `Genome` holds everything that varies between two such networks; `complexity.py` counts its
cost and `build.py` turns it into a torchvision module.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from proxystore import fingerprint as fp
from proxystore.errors import GenomeError
from proxystore.limits import integer_in

STEM_TYPES = ("standard", "small")
STAGE_FIELDS = ("depths", "widths", "bottleneck_ratios", "group_widths", "strides")
FIELDS = (*STAGE_FIELDS, "stem_width", "stem_type")
WIDTH_QUANTUM = 8
# Bounds far beyond any AnyNetX or RegNet network (seed 2's prior: 4 stages, d <= 16, w <= 1024,
# g <= 32; pycls's published RegNets stay under 20 blocks a stage and 4,000 channels), there so
# that a typo such as depth 1e30 is refused at once instead of hanging the complexity count.
MAX_STAGES = 16
MAX_DEPTH = 1000
MAX_WIDTH = 65536
MAX_STRIDE = 32


def _number(value: Any) -> int | float:
    """Return `value` as an int when integral, else as a float (2.0 and 2 are one genome)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(value)
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, int):
        return value
    return int(value) if value.is_integer() and abs(value) <= 2**53 else float(value)


def _shown(value: int | float) -> str:
    """Write a value for a message; huge ones as 1e+30, not as thirty-one digits."""
    if abs(value) < 10**15:
        return f"{value}"
    try:
        return f"{float(value):.6g}"
    except OverflowError:
        return "a number above 1e+308"


@dataclass(frozen=True)
class Genome:
    """An AnyNetX network: one entry per stage in each tuple, plus the stem's width and type.

    `bottleneck_ratios[i]` is b_i: the block's inner width is `widths[i] / b_i`. `stem_type`
    "standard" is pycls's 3x3 stride-2 stem; "small" is the 3x3 stride-1 stem for small images
    (seed 2, appendix 6.1.1), which downsamples nothing before the first stage.
    """

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    bottleneck_ratios: tuple[int | float, ...]
    group_widths: tuple[int, ...]
    strides: tuple[int, ...]
    stem_width: int = 32
    stem_type: str = "standard"

    def __post_init__(self) -> None:
        for name in STAGE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise GenomeError(f"genome field {name} must be a list with one entry per stage")
            try:
                object.__setattr__(self, name, tuple(_number(v) for v in value))
            except TypeError:
                raise GenomeError(f"genome field {name} must hold numbers, got {value!r}") from None
        try:
            object.__setattr__(self, "stem_width", _number(self.stem_width))
        except TypeError:
            raise GenomeError(f"genome field stem_width must be a number, got "
                              f"{self.stem_width!r}") from None

    space = "anynetx"

    @property
    def num_stages(self) -> int:
        """Number of stages of the body."""
        return len(self.depths)

    @property
    def bottleneck_widths(self) -> tuple[int, ...]:
        """Inner width of each stage's blocks, w_i / b_i (valid genomes only)."""
        pairs = zip(self.widths, self.bottleneck_ratios, strict=True)
        return tuple(int(round(w / b)) for w, b in pairs)

    @property
    def cumulative_depth(self) -> int:
        """Total number of blocks, sum of d_i (one of seed 2's two drivers of error)."""
        return int(sum(self.depths))

    @property
    def cumulative_width(self) -> int:
        """Sum of the stage widths, sum of w_i (the other driver)."""
        return int(sum(self.widths))

    @property
    def name(self) -> str:
        """The RegNetX name when it is one (RegNetX-400MF), else anynetx-<fingerprint prefix>."""
        from proxystore.space.regnet import name_of

        return name_of(self) or f"anynetx-{fp.short(self.fingerprint)}"

    def validate(self) -> Genome:
        """Check every rule of the design space; return self, or raise GenomeError at the first."""
        n = len(self.depths)
        if n == 0:
            raise GenomeError("genome has no stages: depths is empty")
        if n > MAX_STAGES:
            raise GenomeError(f"genome has {n} stages; at most {MAX_STAGES} are allowed")
        for name in STAGE_FIELDS[1:]:
            if len(getattr(self, name)) != n:
                raise GenomeError(f"genome field {name} has {len(getattr(self, name))} entries, "
                                  f"depths has {n}: every stage needs one of each")
        for i in range(n):
            _check_stage(f"stage {i + 1}", self.depths[i], self.widths[i],
                         self.bottleneck_ratios[i], self.group_widths[i], self.strides[i])
        if not integer_in(self.stem_width, 1, MAX_WIDTH):
            raise GenomeError(f"stem: stem_width must be a positive integer up to {MAX_WIDTH}, "
                              f"got {_shown(self.stem_width)}")
        if self.stem_type not in STEM_TYPES:
            raise GenomeError(f"stem: stem_type must be one of {', '.join(STEM_TYPES)}, "
                              f"got {self.stem_type!r}")
        return self

    def canonical(self) -> dict[str, Any]:
        """Return the genome as plain JSON types, every field filled in (what is fingerprinted)."""
        return fp.canonical({name: getattr(self, name) for name in FIELDS})

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON; the stem type is part of it."""
        return fp.fingerprint(self.canonical())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Genome:
        """Build and validate a genome from its JSON keys; unknown or missing keys are errors.

        Args:
            data: a mapping with depths, widths, bottleneck_ratios, group_widths, strides and
                optionally stem_width and stem_type.
        """
        if not isinstance(data, Mapping):
            raise GenomeError(f"a genome must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise GenomeError(f"unknown genome field(s) {', '.join(unknown)}; "
                              f"expected {', '.join(FIELDS)}")
        missing = [name for name in STAGE_FIELDS if name not in data]
        if missing:
            raise GenomeError(f"genome is missing field(s) {', '.join(missing)}")
        return cls(**dict(data)).validate()

    def replace(self, **changes: Any) -> Genome:
        """Return a validated copy with some fields changed (unknown names raise TypeError)."""
        return dataclasses.replace(self, **changes).validate()

    def build(self, num_classes: int, in_channels: int = 3, **kwargs: Any) -> Any:
        """Build the torch module (see `proxystore.space.build.build_anynetx`)."""
        from proxystore.space.build import build_anynetx

        return build_anynetx(self, num_classes=num_classes, in_channels=in_channels, **kwargs)

    def complexity(self, image_size: int, num_classes: int, in_channels: int = 3) -> Any:
        """Return pycls's flops, params and acts of this genome (see `complexity.py`)."""
        from proxystore.space.complexity import anynetx_complexity

        return anynetx_complexity(self, image_size, num_classes, in_channels)


def _check_stage(where: str, d: Any, w: Any, b: Any, g: Any, s: Any) -> None:
    """Check one stage's depth d, width w, bottleneck ratio b, group width g and stride s."""
    if not integer_in(d, 1, MAX_DEPTH):
        raise GenomeError(f"{where}: depths must be a positive integer up to {MAX_DEPTH}, "
                          f"got {_shown(d)}")
    if not integer_in(w, 1, MAX_WIDTH) or w % WIDTH_QUANTUM:
        raise GenomeError(f"{where}: widths must be a positive multiple of "
                          f"{WIDTH_QUANTUM} up to {MAX_WIDTH}, got {_shown(w)}")
    if (isinstance(b, float) and not math.isfinite(b)) or b <= 0:
        raise GenomeError(f"{where}: bottleneck_ratios must be positive, got {_shown(b)}")
    inner = w / b
    if not inner <= MAX_WIDTH:
        raise GenomeError(f"{where}: bottleneck width {inner:g} (widths {w} / "
                          f"bottleneck_ratios {_shown(b)}) is above {MAX_WIDTH}")
    if not math.isclose(inner, round(inner), rel_tol=0, abs_tol=1e-9) or round(inner) < 1:
        raise GenomeError(f"{where}: bottleneck_ratios {_shown(b)} does not divide widths "
                          f"{w} (bottleneck width {inner:g} is not a positive integer)")
    if not integer_in(g, 1):
        raise GenomeError(f"{where}: group_widths must be a positive integer, "
                          f"got {_shown(g)}")
    if round(inner) % g:
        raise GenomeError(f"{where}: group_widths {_shown(g)} does not divide the "
                          f"bottleneck width {round(inner)} (widths {w} / "
                          f"bottleneck_ratios {b})")
    if not integer_in(s, 1, MAX_STRIDE):
        raise GenomeError(f"{where}: strides must be a positive integer up to "
                          f"{MAX_STRIDE}, got {_shown(s)}")
