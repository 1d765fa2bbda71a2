"""pycls complexity of AnyNetX genomes: published references, closed form, built modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from proxystore.limits import MAX_IMAGE_SIZE
from proxystore.space import Genome, anynetx_complexity, anynetx_complexity_arrays, named_genome
from proxystore.space.build import build_anynetx, count_parameters
from proxystore.space.genome import MAX_DEPTH, MAX_STAGES, MAX_WIDTH
from proxystore.space.sampler import SamplerConfig, sample_genomes

# Varied genomes: b = 2 and 4, odd depths, 3 and 5 stages, stride-1 stages, group width = bottleneck
# width (depthwise-like), the small stem, a wide stem.
GENOMES = [
    Genome((1, 3, 5), (16, 48, 96), (1, 2, 4), (4, 8, 3), (2, 2, 2)),
    Genome((3, 1, 1, 7, 2), (8, 24, 72, 104, 1024), (2, 4, 1, 2, 4), (1, 6, 24, 13, 32),
           (1, 2, 2, 2, 2), stem_width=24),
    Genome((2, 2, 1, 1), (64, 64, 128, 200), (4, 1, 2, 1), (16, 64, 2, 25), (1, 1, 2, 2),
           stem_width=64, stem_type="small"),
    Genome((9,), (40,), (2,), (5,), (2,), stem_width=16, stem_type="small"),
]
# (image size, classes, input channels): odd sizes exercise the (h - 1) // s + 1 rounding.
SETTINGS = [(224, 1000, 3), (32, 10, 1), (33, 7, 3), (65, 100, 1)]


def test_regnetx_200mf_matches_pycls_to_the_unit():
    genome = named_genome("RegNetX-200MF")
    assert (genome.depths, genome.widths, genome.group_widths) == (
        (1, 1, 4, 7), (24, 56, 152, 368), (8, 8, 8, 8))
    assert anynetx_complexity(genome, 224, 1000).as_dict() == {
        "flops": 199_040_872, "params": 2_684_792, "acts": 2_164_056}


def test_regnetx_400mf_matches_pycls_to_the_unit():
    genome = named_genome("RegNetX-400MF")
    assert (genome.depths, genome.widths, genome.group_widths) == (
        (1, 2, 7, 12), (32, 64, 160, 384), (16, 16, 16, 16))
    assert anynetx_complexity(genome, 224, 1000).as_dict() == {
        "flops": 397_678_568, "params": 5_157_512, "acts": 3_143_272}


@pytest.mark.parametrize("name,mflops,mparams", [
    ("RegNetX-600MF", 600.9, 6.20),
    ("RegNetX-800MF", 799.7, 7.26),
    ("RegNetX-1.6GF", 1602.9, 9.19),
])
def test_larger_regnetx_models_have_their_published_size(name, mflops, mparams):
    cx = anynetx_complexity(named_genome(name), 224, 1000)
    assert cx.flops / 1e6 == pytest.approx(mflops, abs=0.05)
    assert cx.params / 1e6 == pytest.approx(mparams, abs=0.005)


def _arrays(genomes, setting, stem_type="standard"):
    image_size, num_classes, in_channels = setting
    return anynetx_complexity_arrays(
        np.array([g.depths for g in genomes]), np.array([g.widths for g in genomes]),
        np.array([g.bottleneck_ratios for g in genomes]),
        np.array([g.group_widths for g in genomes]), np.array([g.strides for g in genomes]),
        stem_width=np.array([g.stem_width for g in genomes]), stem_type=stem_type,
        image_size=image_size, num_classes=num_classes, in_channels=in_channels)


@pytest.mark.parametrize("setting", SETTINGS)
def test_closed_form_equals_layer_by_layer_count(setting):
    # Sampled genomes (4 stages) plus the hand-made ones grouped by stage count and stem.
    groups = [list(sample_genomes(200, SamplerConfig(band=(0, 1e15)), seed=3).genomes)]
    groups += [[g] for g in GENOMES]
    for genomes in groups:
        flops, params, acts = _arrays(genomes, setting, genomes[0].stem_type)
        for i, genome in enumerate(genomes):
            cx = anynetx_complexity(genome, *setting)
            assert (cx.flops, cx.params, cx.acts) == (flops[i], params[i], acts[i]), genome


def test_closed_form_is_exact_at_the_largest_allowed_genome_and_image():
    """At the genome bounds and 4096 px flops pass 1e22: the int64 closed form wrapped to a
    negative number, silently; it must equal the layer-by-layer count (Python ints)."""
    n = MAX_STAGES
    biggest = Genome((MAX_DEPTH,) * n, (MAX_WIDTH,) * n, (1,) * n, (MAX_WIDTH,) * n, (1,) * n,
                     stem_width=MAX_WIDTH, stem_type="small").validate()
    big = Genome((MAX_DEPTH,) * n, (MAX_WIDTH,) * n, (4,) * n, (8,) * n, (2,) * n,
                 stem_width=MAX_WIDTH, stem_type="small").validate()
    setting = (MAX_IMAGE_SIZE, 10**6, 3)
    flops, params, acts = _arrays([biggest, big], setting, "small")
    for i, genome in enumerate([biggest, big]):
        cx = genome.complexity(*setting)
        assert (cx.flops, cx.params, cx.acts) == (flops[i], params[i], acts[i])
    assert flops[0] > np.iinfo(np.int64).max
    # Below the bound nothing changes: int64 arrays, as the sampler's hot path needs.
    assert _arrays(GENOMES[:1], SETTINGS[0])[0].dtype == np.int64


def test_sampler_at_the_bounds_reports_the_exact_complexity():
    config = SamplerConfig(num_stages=MAX_STAGES, max_depth=MAX_DEPTH, max_width=MAX_WIDTH,
                           max_group_width=MAX_WIDTH, strides=(1,) * MAX_STAGES,
                           stem_width=MAX_WIDTH, stem_type="small", image_size=MAX_IMAGE_SIZE,
                           band=(0, 1e30), stage_batch=1024)
    sample = sample_genomes(3, config, seed=0)
    for genome, cx in zip(sample.genomes, sample.complexities, strict=True):
        assert cx == genome.complexity(MAX_IMAGE_SIZE, 1000, 3)
    assert max(cx.flops for cx in sample.complexities) > np.iinfo(np.int64).max


@pytest.mark.parametrize("genome", [*GENOMES, named_genome("RegNetX-200MF")])
@pytest.mark.parametrize("setting", SETTINGS[:2])
def test_built_module_has_the_computed_parameter_count(genome, setting):
    image_size, num_classes, in_channels = setting
    with torch.device("meta"):
        model = build_anynetx(genome, num_classes, in_channels)
    assert count_parameters(model) == anynetx_complexity(genome, *setting).params


@pytest.mark.parametrize("genome", GENOMES[:3])
def test_flop_counter_misses_exactly_the_head_bias(genome):
    """FlopCounterMode counts convs and matmuls (2 per multiply-add), not BN nor the FC bias.

    pycls counts the FC bias as num_classes flops and BN as none, so pycls = counter / 2 +
    num_classes exactly; any other difference is a miscounted layer.
    """
    torch.manual_seed(0)
    image_size, num_classes = 40, 10
    model = build_anynetx(genome, num_classes, 1).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        output = model(torch.zeros(1, 1, image_size, image_size))
    assert output.shape == (1, num_classes)
    expected = anynetx_complexity(genome, image_size, num_classes, 1).flops
    assert counter.get_total_flops() // 2 + num_classes == expected


def test_small_stem_keeps_the_resolution_and_multiplies_flops():
    genome = named_genome("RegNetX-200MF")
    standard = anynetx_complexity(genome, 32, 10)
    small = anynetx_complexity(genome.replace(stem_type="small"), 32, 10)
    assert small.params == standard.params
    assert small.flops > 3.5 * standard.flops  # 4x the area everywhere after the stem


def test_pycls_weight_init_and_optional_zero_gamma():
    genome = GENOMES[0]
    model = build_anynetx(genome, 10, 3)
    assert torch.all(model.fc.bias == 0) and model.fc.weight.std().item() == pytest.approx(
        0.01, rel=0.2)
    stem_conv = model.stem[0]
    assert stem_conv.in_channels == 3 and stem_conv.stride == (2, 2)
    assert stem_conv.weight.std().item() == pytest.approx((2 / (9 * 32)) ** 0.5, rel=0.2)
    zero = build_anynetx(genome, 10, 3, zero_init_final_gamma=True)
    last_bns = [m.f.c[1].weight for m in zero.modules() if hasattr(m, "f")]
    assert len(last_bns) == sum(genome.depths) and all(torch.all(w == 0) for w in last_bns)
