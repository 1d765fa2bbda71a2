"""RegNetX models as AnyNetX genomes: pycls's RegNet parameters (d, w0, wa, wm, g, b) -> Genome."""

from __future__ import annotations

import functools

import numpy as np

from proxystore.errors import GenomeError
from proxystore.space.genome import Genome

# pycls's published RegNetX parameters (configs/dds_baselines/regnetx, also torchvision's
# regnet_x_* builders): depth, w0, wa, wm, group width; bottleneck ratio 1, stride 2.
REGNETX_PARAMS: dict[str, dict[str, float]] = {
    "RegNetX-200MF": {"depth": 13, "w0": 24, "wa": 36.44, "wm": 2.49, "group_width": 8},
    "RegNetX-400MF": {"depth": 22, "w0": 24, "wa": 24.48, "wm": 2.54, "group_width": 16},
    "RegNetX-600MF": {"depth": 16, "w0": 48, "wa": 36.97, "wm": 2.24, "group_width": 24},
    "RegNetX-800MF": {"depth": 16, "w0": 56, "wa": 35.73, "wm": 2.28, "group_width": 16},
    "RegNetX-1.6GF": {"depth": 18, "w0": 80, "wa": 34.01, "wm": 2.25, "group_width": 24},
}


def regnet_genome(
    depth: int,
    w0: int,
    wa: float,
    wm: float,
    group_width: int,
    bottleneck_ratio: int = 1,
    stride: int = 2,
    stem_width: int = 32,
    stem_type: str = "standard",
) -> Genome:
    """Return the AnyNetX genome of a RegNet, computed exactly as pycls's generate_regnet does.

    Per-block widths follow u_j = w0 + wa * j (j < depth), quantized in log space with step wm
    and rounded to multiples of 8; consecutive blocks of equal width form a stage. Widths and
    group widths are then made compatible as pycls's adjust_block_compatibility does.

    Args:
        depth: total number of blocks (d).
        w0: initial width (w_0), a multiple of 8.
        wa: width slope (w_a >= 0).
        wm: width multiplier between stages (w_m > 1).
        group_width: group width of every stage (g).
        bottleneck_ratio: b, the ratio of block width to bottleneck width (pycls's 1 / bot_mul).
        stride: stride of every stage.
        stem_width: width of the stem.
        stem_type: "standard" or "small".
    """
    if bottleneck_ratio < 1:
        raise GenomeError(f"RegNet bottleneck_ratio must be >= 1, got {bottleneck_ratio}")
    if wa < 0 or w0 <= 0 or wm <= 1 or w0 % 8:
        raise GenomeError(f"invalid RegNet parameters: w0={w0} (positive multiple of 8), "
                          f"wa={wa} (>= 0), wm={wm} (> 1)")
    widths_cont = np.arange(depth) * wa + w0
    steps = np.round(np.log(widths_cont / w0) / np.log(wm))
    block_widths = (np.round(w0 * np.power(wm, steps) / 8).astype(int) * 8).tolist()
    widths, depths = np.unique(block_widths, return_counts=True)
    bot_mul = 1.0 / bottleneck_ratio
    group_widths, adjusted = [], []
    for w in widths.tolist():
        inner = int(max(1, w * bot_mul))
        g = int(min(group_width, inner))
        inner = max(g, int(round(inner / g) * g))  # pycls: m = g when bot_mul <= 1
        adjusted.append(int(inner / bot_mul))
        group_widths.append(g)
    n = len(adjusted)
    return Genome(
        depths=tuple(int(d) for d in depths),
        widths=tuple(adjusted),
        bottleneck_ratios=(bottleneck_ratio,) * n,
        group_widths=tuple(group_widths),
        strides=(stride,) * n,
        stem_width=stem_width,
        stem_type=stem_type,
    ).validate()


@functools.lru_cache(maxsize=1)
def _named_fingerprints() -> dict[str, str]:
    return {regnet_genome(**p).fingerprint: name for name, p in REGNETX_PARAMS.items()}  # type: ignore[arg-type]


def name_of(genome: Genome) -> str | None:
    """Return the RegNetX name of `genome` if it is one of the named models, else None."""
    return _named_fingerprints().get(genome.fingerprint)


def named_genome(name: str) -> Genome:
    """Return the genome of a named RegNetX model, e.g. "RegNetX-400MF" (case-insensitive).

    Args:
        name: one of REGNETX_PARAMS's keys.
    """
    for known, params in REGNETX_PARAMS.items():
        if known.lower() == name.strip().lower():
            return regnet_genome(**params)  # type: ignore[arg-type]
    raise GenomeError(f"unknown named architecture {name!r}; known: {', '.join(REGNETX_PARAMS)}")
