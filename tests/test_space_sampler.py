"""The in-band sampler: paper settings, reproducibility, the conditioned prior, the bounds."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch
from scipy import stats

from proxystore.errors import GenomeError
from proxystore.limits import MAX_SAMPLED_COUNT, MAX_SAMPLER_DRAWS
from proxystore.space import SamplerConfig, anynetx_complexity, sample_genomes
from proxystore.space.build import build_anynetx, count_parameters
from proxystore.space.sampler import sample_genomes_loop

PAPER = SamplerConfig()


@pytest.fixture(scope="module")
def paper_sample():
    return sample_genomes(500, PAPER, seed=0)


def test_paper_settings_give_500_distinct_in_band_genomes_quickly(paper_sample):
    assert len(paper_sample.genomes) == 500
    assert len({g.fingerprint for g in paper_sample.genomes}) == 500
    for genome, cx in zip(paper_sample.genomes, paper_sample.complexities, strict=True):
        assert genome.validate().strides == (1, 2, 2, 2) and genome.stem_width == 32
        assert cx == anynetx_complexity(genome, 224, 1000)  # the scalar count agrees
        assert 360e6 <= cx.flops <= 400e6
        assert max(genome.depths) <= 16 and max(genome.widths) <= 1024
        assert max(genome.group_widths) <= 32 and set(genome.bottleneck_ratios) <= {1, 2, 4}
    start = time.perf_counter()
    sample_genomes(500, PAPER, seed=1)
    assert time.perf_counter() - start < 2.0  # the target on one core


def test_same_seed_same_genomes_other_seed_other_genomes(paper_sample):
    assert sample_genomes(500, PAPER, seed=0).genomes == paper_sample.genomes
    longer = sample_genomes(600, PAPER, seed=0)
    assert longer.genomes[:500] == paper_sample.genomes  # a larger count extends the list
    other = sample_genomes(500, PAPER, seed=1)
    assert len(set(other.genomes) & set(paper_sample.genomes)) < 5


def test_acceptance_rates_are_reported(paper_sample):
    s = paper_sample.stats
    assert s.in_band == 500 and s.scored >= 500
    assert 0 < s.raw_acceptance < s.band_acceptance < 1
    assert "in band of" in s.describe()


# A band in the bulk of the 64-px distribution so the one-at-a-time reference sampler is cheap.
STAT = dataclasses.replace(PAPER, image_size=64, band=(15e6, 180e6))


def _marginals(sample):
    depths = np.array([g.depths for g in sample.genomes])
    widths = np.array([g.widths for g in sample.genomes])
    return depths, widths, depths.sum(axis=1), widths.sum(axis=1)


def _depth_table(*depth_arrays):
    # Depths 1..16 pooled over stages; sparse tails merged so every expected count is >= 5.
    bins = [1, 2, 3, 4, 5, 7, 10, 17]
    return np.array([np.histogram(d.ravel(), bins=bins)[0] for d in depth_arrays])


def test_sample_follows_the_prior_restricted_to_validity_and_band():
    """The vectorized sampler (per-stage rejection) against the naive whole-genome rejection.

    Independent random streams, different algorithms; same distribution if nothing is biased.
    The last assertions show the test has power: the unconditioned prior fails it clearly.
    """
    fast = _marginals(sample_genomes(500, STAT, seed=11))
    naive = _marginals(sample_genomes_loop(500, STAT, seed=12))
    assert stats.chi2_contingency(_depth_table(fast[0], naive[0])).pvalue > 1e-3
    for i in (1, 2, 3):  # widths (pooled over stages), cumulative depth, cumulative width
        assert stats.ks_2samp(fast[i].ravel(), naive[i].ravel()).pvalue > 1e-3
    per_stage_width = [stats.ks_2samp(fast[1][:, s], naive[1][:, s]).pvalue for s in range(4)]
    assert min(per_stage_width) > 1e-3 / 4
    prior = _marginals(sample_genomes(500, dataclasses.replace(STAT, band=(0, 1e18)), seed=13))
    assert stats.ks_2samp(prior[1].ravel(), naive[1].ravel()).pvalue < 1e-5
    assert stats.ks_2samp(prior[3], naive[3]).pvalue < 1e-5


def test_impossible_band_stops_after_the_bound_with_the_acceptance_rate():
    config = dataclasses.replace(PAPER, band=(1.0, 2.0), max_draws=50_000)
    start = time.perf_counter()
    with pytest.raises(GenomeError, match=r"gave up after 50,000 valid genomes.*0 in band of "
                                          r"50,000 valid genomes.*acceptance 0 per valid"):
        sample_genomes(10, config, seed=0)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("sampler", [sample_genomes, sample_genomes_loop])
@pytest.mark.parametrize("count", [0, MAX_SAMPLED_COUNT + 1, 2.5])
def test_a_count_outside_1_to_the_bound_is_refused_before_drawing(sampler, count):
    """A huge count ran until max_draws (20 million valid genomes) before saying anything."""
    config = SamplerConfig(band=(0, 1e30), max_draws=MAX_SAMPLER_DRAWS)
    start = time.perf_counter()
    with pytest.raises(GenomeError, match=f"sampler: count must be an integer from 1 to 100000, "
                                          f"got {count!r}"):
        sampler(count, config)
    assert time.perf_counter() - start < 1


def test_config_rejects_inconsistent_settings():
    with pytest.raises(GenomeError, match="strides has 3 entries for 4 stages"):
        SamplerConfig(strides=(1, 2, 2))
    with pytest.raises(GenomeError, match="metric must be one of"):
        SamplerConfig(metric="macs")
    with pytest.raises(GenomeError, match="multiple of 8"):
        SamplerConfig(max_width=1020)


@pytest.mark.parametrize("changes,message", [
    ({"max_depth": 10**20}, "max_depth must be a positive integer up to 1000"),
    ({"max_width": 8 * 10**6}, "max_width must be a positive integer up to 65536"),
    ({"max_group_width": 10**6}, "max_group_width must be a positive integer up to 65536"),
    ({"num_stages": 40, "strides": (1,) * 40}, "num_stages must be a positive integer up to 16"),
    ({"strides": (1, 2, 2, 1000)}, "strides must be positive integers up to 32"),
    ({"stem_type": "cifar"}, "stem_type must be one of standard, small"),
    ({"image_size": 10**9}, "image_size must be an integer from 1 to 4096, got 1000000000"),
])
def test_config_refuses_bounds_beyond_the_genome_rules(changes, message):
    """Sampled genomes are not validated one by one: max_depth 1e20 made genomes that hung."""
    with pytest.raises(GenomeError, match=message):
        SamplerConfig(**changes)


@pytest.mark.parametrize("num_classes,in_channels", [(1000, 3), (10, 1)])
def test_every_sampled_genome_builds_with_the_computed_parameter_count(paper_sample, num_classes,
                                                                       in_channels):
    # Built on the meta device: the same modules and parameter shapes, without 40 inits.
    for genome in paper_sample.genomes[:40]:
        with torch.device("meta"):
            model = build_anynetx(genome, num_classes, in_channels)
        expected = anynetx_complexity(genome, 224, num_classes, in_channels).params
        assert count_parameters(model) == expected, genome


def test_a_sampled_genome_runs_forward_on_cpu(paper_sample):
    torch.manual_seed(0)
    genome = min(paper_sample.genomes, key=lambda g: g.cumulative_depth)
    model = build_anynetx(genome, 10, 3).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
