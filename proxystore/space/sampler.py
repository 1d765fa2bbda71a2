"""Sampling AnyNetX genomes from seed 2's prior, conditioned on validity and a complexity band.

The prior (seed 2, section 4.1; pycls's sweep samplers): for every stage independently, depth
d_i, width w_i and group width g_i are log-uniform and quantized the way pycls's
`rand.log_uniform(low, high, q)` does it (a value log-uniform on (low - min(q, low / 2), high],
rounded up to a multiple of q: d in 1..16, w in 8..1024 by 8, g in 1..32), the bottleneck ratio
b_i uniform over its choices, strides fixed. A draw is kept only if it is valid (w_i / b_i an
integer divisible by g_i) and its complexity lies in the band; nothing is ever adjusted.

Speed comes from two exact shortcuts. (1) Stages are i.i.d. under the prior and validity is a
per-stage rule, so the prior conditioned on validity is the product of the per-stage conditionals:
rejecting invalid *stages* and grouping consecutive valid stages into genomes gives exactly the
distribution of rejecting invalid *genomes*, with ~ (1/0.43)^4 fewer draws. (2) Complexity is
computed in closed form over numpy arrays (`anynetx_complexity_arrays`). `sample_genomes_loop`
is the straightforward one-genome-at-a-time rejection sampler, kept as the reference that the
benchmark and the statistical test compare against.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

import numpy as np

from proxystore.errors import GenomeError
from proxystore.limits import (
    IMAGE_SIZE_RULE,
    MAX_CLASSES,
    MAX_IN_CHANNELS,
    MAX_SAMPLER_DRAWS,
    SAMPLED_COUNT_RULE,
    integer_in,
    valid_image_size,
    valid_sampled_count,
)
from proxystore.space.complexity import (
    Complexity,
    anynetx_complexity,
    anynetx_complexity_arrays,
)
from proxystore.space.genome import MAX_DEPTH, MAX_STAGES, MAX_STRIDE, MAX_WIDTH, STEM_TYPES, Genome

METRICS = ("flops", "params", "acts")


@dataclass(frozen=True)
class SamplerConfig:
    """The prior, the band and the bounds of a sampling run (defaults: seed 2's settings).

    `max_draws` bounds the number of valid genomes scored against the band before giving up;
    `stage_batch` is the number of stage draws per vectorized step (part of what a seed means:
    change it and the same seed gives another, equally valid, sample).
    """

    num_stages: int = 4
    max_depth: int = 16
    max_width: int = 1024
    width_quantum: int = 8
    bottleneck_ratios: tuple[int, ...] = (1, 2, 4)
    max_group_width: int = 32
    strides: tuple[int, ...] = (1, 2, 2, 2)
    stem_width: int = 32
    stem_type: str = "standard"
    image_size: int = 224
    num_classes: int = 1000
    in_channels: int = 3
    metric: str = "flops"
    band: tuple[float, float] = (360e6, 400e6)
    max_draws: int = 20_000_000
    stage_batch: int = 1 << 18

    def __post_init__(self) -> None:
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        object.__setattr__(self, "bottleneck_ratios", tuple(int(b) for b in self.bottleneck_ratios))
        object.__setattr__(self, "band", (float(self.band[0]), float(self.band[1])))
        # The genome's own bounds: sampled genomes are not validated one by one.
        # And the sizes complexity is counted at, so a count never overflows a column.
        for name, high in (("num_stages", MAX_STAGES), ("max_depth", MAX_DEPTH),
                           ("max_width", MAX_WIDTH), ("max_group_width", MAX_WIDTH),
                           ("stem_width", MAX_WIDTH), ("num_classes", MAX_CLASSES),
                           ("in_channels", MAX_IN_CHANNELS), ("max_draws", MAX_SAMPLER_DRAWS)):
            value = getattr(self, name)
            if not integer_in(value, 1, high):
                raise GenomeError(f"sampler: {name} must be a positive integer up to {high}, "
                                  f"got {value!r}")
        if not valid_image_size(self.image_size):
            raise GenomeError(f"sampler: image_size must be {IMAGE_SIZE_RULE}, "
                              f"got {self.image_size!r}")
        if not all(1 <= s <= MAX_STRIDE for s in self.strides):
            raise GenomeError(f"sampler: strides must be positive integers up to {MAX_STRIDE}, "
                              f"got {list(self.strides)}")
        if self.stem_type not in STEM_TYPES:
            raise GenomeError(f"sampler: stem_type must be one of {', '.join(STEM_TYPES)}, "
                              f"got {self.stem_type!r}")
        if len(self.strides) != self.num_stages:
            raise GenomeError(f"sampler: strides has {len(self.strides)} entries for "
                              f"{self.num_stages} stages")
        if self.metric not in METRICS:
            raise GenomeError(f"sampler: metric must be one of {', '.join(METRICS)}, "
                              f"got {self.metric!r}")
        if not self.band[0] <= self.band[1]:
            raise GenomeError(f"sampler: band {self.band} has its low end above its high end")
        if self.max_width % self.width_quantum or self.max_width < self.width_quantum:
            raise GenomeError(f"sampler: max_width {self.max_width} must be a positive multiple "
                              f"of {self.width_quantum}")
        if min(self.max_depth, self.max_group_width, *self.bottleneck_ratios) < 1:
            raise GenomeError("sampler: max_depth, max_group_width and bottleneck_ratios must "
                              "be positive")


@dataclass(frozen=True)
class SamplerStats:
    """What a sampling run drew: stage draws, valid genomes scored, hits in the band."""

    num_stages: int
    stage_draws: int
    valid_stages: int
    scored: int
    in_band: int
    duplicates: int
    seconds: float

    @property
    def band_acceptance(self) -> float:
        """Fraction of valid genomes that fell in the band."""
        return self.in_band / self.scored if self.scored else 0.0

    @property
    def raw_acceptance(self) -> float:
        """Estimated fraction of raw whole-genome draws that are valid and in the band."""
        if not self.stage_draws:
            return 0.0
        return self.band_acceptance * (self.valid_stages / self.stage_draws) ** self.num_stages

    def describe(self) -> str:
        """One line: draws, valid genomes, in-band hits and acceptance rates."""
        return (f"{self.in_band:,} in band of {self.scored:,} valid genomes scored "
                f"(acceptance {self.band_acceptance:.3g} per valid genome, "
                f"~{self.raw_acceptance:.3g} per raw draw), {self.duplicates:,} duplicates, "
                f"{self.seconds:.2f} s")


@dataclass(frozen=True)
class Sample:
    """Distinct in-band genomes in draw order, their complexity, and the run's statistics."""

    genomes: tuple[Genome, ...]
    complexities: tuple[Complexity, ...]
    stats: SamplerStats
    config: SamplerConfig = field(repr=False)

    def records(self) -> list[dict]:
        """One JSON-ready dict per genome: its fields plus flops, params, acts and the setting."""
        setting = {"image_size": self.config.image_size, "num_classes": self.config.num_classes,
                   "in_channels": self.config.in_channels}
        return [{**g.canonical(), **c.as_dict(), **setting, "fingerprint": g.fingerprint}
                for g, c in zip(self.genomes, self.complexities, strict=True)]


def _log_uniform(u: np.ndarray, low: int, high: int, q: int) -> np.ndarray:
    """pycls's rand.log_uniform on u in [0, 1): log-uniform on (low - min(q, low/2), high], ceil."""
    floor = low - min(q, low / 2)
    value = high * np.exp(u * math.log(floor / high))
    return np.clip(np.ceil(value / q) * q, low, high).astype(np.int64)


def _draw_valid_stages(rng: np.random.Generator, n: int, config: SamplerConfig) -> np.ndarray:
    """Draw n stages from the prior and return the valid ones as rows (depth, width, b, g)."""
    u = rng.random((3, n))
    depths = _log_uniform(u[0], 1, config.max_depth, 1)
    widths = _log_uniform(u[1], config.width_quantum, config.max_width, config.width_quantum)
    group_widths = _log_uniform(u[2], 1, config.max_group_width, 1)
    choices = np.asarray(config.bottleneck_ratios, dtype=np.int64)
    ratios = choices[rng.integers(0, len(choices), n)]
    inner, remainder = np.divmod(widths, ratios)
    valid = (remainder == 0) & (inner % group_widths == 0)
    return np.stack([depths[valid], widths[valid], ratios[valid], group_widths[valid]], axis=1)


def _band_error(config: SamplerConfig, count: int, found: int, stats: SamplerStats) -> GenomeError:
    lo, hi = config.band
    return GenomeError(
        f"sampler: gave up after {config.max_draws:,} valid genomes (max_draws) with {found} of "
        f"{count} in the {config.metric} band [{lo:.4g}, {hi:.4g}] at {config.image_size} px, "
        f"{config.num_classes} classes: {stats.describe()}")


def _check_count(count: int) -> None:
    """Refuse a count a sampler would chase until max_draws (or memory) runs out."""
    if not valid_sampled_count(count):
        raise GenomeError(f"sampler: count must be {SAMPLED_COUNT_RULE}, got {count!r}")


def _keep_in_band(block: np.ndarray, cx: tuple[np.ndarray, ...], metric: int,
                  config: SamplerConfig, seen: set[bytes], genomes: list[Genome],
                  complexities: list[Complexity], count: int) -> tuple[int, int, int | None]:
    """Append the block's new in-band genomes (in draw order) until `count` are kept.

    Returns:
        (in-band genomes looked at, duplicates among them, the index in `block` of the genome
        that completed `count`, or None when the block ran out first).
    """
    lo, hi = config.band
    in_band = duplicates = 0
    for j in np.flatnonzero((cx[metric] >= lo) & (cx[metric] <= hi)).tolist():
        in_band += 1
        key = block[j].tobytes()
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        d, w, b, g = (tuple(row) for row in block[j].T.tolist())
        genomes.append(Genome(depths=d, widths=w, bottleneck_ratios=b, group_widths=g,
                              strides=config.strides, stem_width=config.stem_width,
                              stem_type=config.stem_type))
        complexities.append(Complexity(int(cx[0][j]), int(cx[1][j]), int(cx[2][j])))
        if len(genomes) == count:
            return in_band, duplicates, j
    return in_band, duplicates, None


def sample_genomes(count: int, config: SamplerConfig | None = None, seed: int = 0) -> Sample:
    """Draw `count` distinct genomes from the prior restricted to validity and the band.

    Reproducible: the same (config, seed) gives the same list, and a larger count extends it.

    Args:
        count: number of distinct in-band genomes wanted.
        config: the prior, band and bounds (default: seed 2's settings, 360-400 MF at 224 px).
        seed: seed of the numpy Generator.

    Raises:
        GenomeError: when `count` is not from 1 to MAX_SAMPLED_COUNT, or max_draws valid
            genomes were scored without finding `count`; the message reports the acceptance
            rate seen.
    """
    _check_count(count)
    config = config or SamplerConfig()
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    num_stages = config.num_stages
    metric = METRICS.index(config.metric)
    buffer = np.empty((0, 4), dtype=np.int64)
    seen: set[bytes] = set()
    genomes: list[Genome] = []
    complexities: list[Complexity] = []
    stage_draws = valid_stages = scored = in_band = duplicates = 0

    def stats() -> SamplerStats:
        return SamplerStats(num_stages, stage_draws, valid_stages, scored, in_band, duplicates,
                            time.perf_counter() - start)

    while len(genomes) < count:
        if scored >= config.max_draws:
            raise _band_error(config, count, len(genomes), stats())
        stages = _draw_valid_stages(rng, config.stage_batch, config)
        stage_draws += config.stage_batch
        valid_stages += len(stages)
        if not valid_stages and stage_draws >= 64 * config.stage_batch:
            raise GenomeError(f"sampler: no valid stage in {stage_draws:,} stage draws: the prior "
                              "admits no width / bottleneck ratio / group width combination")
        buffer = np.concatenate([buffer, stages])
        n = min(len(buffer) // num_stages, config.max_draws - scored)
        block, buffer = buffer[: n * num_stages].reshape(n, num_stages, 4), buffer[n * num_stages:]
        scored += n
        cx = anynetx_complexity_arrays(
            block[..., 0], block[..., 1], block[..., 2], block[..., 3], config.strides,
            stem_width=config.stem_width, stem_type=config.stem_type,
            image_size=config.image_size, num_classes=config.num_classes,
            in_channels=config.in_channels)
        added, dups, last = _keep_in_band(block, cx, metric, config, seen, genomes,
                                          complexities, count)
        in_band, duplicates = in_band + added, duplicates + dups
        if last is not None:
            scored -= n - (last + 1)  # the rest of this block was never looked at
    return Sample(tuple(genomes), tuple(complexities), stats(), config)


def sample_genomes_loop(count: int, config: SamplerConfig | None = None, seed: int = 0) -> Sample:
    """The straightforward sampler: one whole genome per draw, validated and scored one by one.

    Same prior and band as `sample_genomes` (another random stream, so other genomes); the
    benchmark's baseline and the statistical test's independent reference.

    Args:
        count: number of distinct in-band genomes wanted.
        config: the prior, band and bounds.
        seed: seed of Python's random.Random.
    """
    _check_count(count)
    config = config or SamplerConfig()
    start = time.perf_counter()
    rnd = random.Random(seed)
    lo, hi = config.band
    q = config.width_quantum

    def log_uniform(low: int, high: int, quantum: int) -> int:
        floor = low - min(quantum, low / 2)
        value = high * math.exp(rnd.random() * math.log(floor / high))
        return int(min(max(math.ceil(value / quantum) * quantum, low), high))

    seen: set[str] = set()
    genomes: list[Genome] = []
    complexities: list[Complexity] = []
    draws = valid_stages = scored = in_band = duplicates = 0
    while len(genomes) < count and scored < config.max_draws:
        draws += 1
        stages = [(log_uniform(1, config.max_depth, 1), log_uniform(q, config.max_width, q),
                   rnd.choice(config.bottleneck_ratios), log_uniform(1, config.max_group_width, 1))
                  for _ in range(config.num_stages)]
        valid_stages += sum(w % b == 0 and (w // b) % g == 0 for _, w, b, g in stages)
        d, w, b, g = (tuple(column) for column in zip(*stages, strict=True))
        genome = Genome(depths=d, widths=w, bottleneck_ratios=b, group_widths=g,
                        strides=config.strides, stem_width=config.stem_width,
                        stem_type=config.stem_type)
        try:
            genome.validate()
        except GenomeError:
            continue
        scored += 1
        c = anynetx_complexity(genome, config.image_size, config.num_classes, config.in_channels)
        if not lo <= getattr(c, config.metric) <= hi:
            continue
        in_band += 1
        if genome.fingerprint in seen:
            duplicates += 1
            continue
        seen.add(genome.fingerprint)
        genomes.append(genome)
        complexities.append(c)
    stats = SamplerStats(config.num_stages, draws * config.num_stages, valid_stages, scored,
                         in_band, duplicates, time.perf_counter() - start)
    if len(genomes) < count:
        raise _band_error(config, count, len(genomes), stats)
    return Sample(tuple(genomes), tuple(complexities), stats, config)
