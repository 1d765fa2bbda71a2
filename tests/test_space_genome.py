"""Genome rules, identity, named models, parse_architecture and the timm family."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch

from proxystore.errors import GenomeError
from proxystore.space import Genome, TimmModel, named_genome, parse_architecture, regnet_genome

VALID = {"depths": [1, 2], "widths": [16, 48], "bottleneck_ratios": [1, 2],
         "group_widths": [4, 8], "strides": [1, 2]}


def _with(**changes):
    return {**VALID, **changes}


@pytest.mark.parametrize("changes,message", [
    ({"depths": [1, 0]}, "stage 2: depths must be a positive integer"),
    ({"widths": [16, 44]}, "stage 2: widths must be a positive multiple of 8"),
    ({"widths": [0, 48]}, "stage 1: widths must be a positive multiple of 8"),
    ({"bottleneck_ratios": [0, 2]}, "stage 1: bottleneck_ratios must be positive"),
    ({"bottleneck_ratios": [1, 5]}, "stage 2: bottleneck_ratios 5 does not divide widths 48"),
    ({"group_widths": [3, 8]}, "stage 1: group_widths 3 does not divide the bottleneck width 16"),
    ({"group_widths": [4, 0]}, "stage 2: group_widths must be a positive integer"),
    ({"strides": [1, 0]}, "stage 2: strides must be a positive integer"),
    ({"strides": [1]}, "strides has 1 entries, depths has 2"),
    ({"depths": []}, "no stages"),
    ({"stem_width": 0}, "stem: stem_width must be a positive integer"),
    ({"stem_type": "cifar"}, "stem: stem_type must be one of standard, small"),
    ({"depths": "12"}, "depths must be a list"),
])
def test_each_broken_rule_has_its_own_message_naming_stage_and_field(changes, message):
    with pytest.raises(GenomeError, match=message):
        Genome.from_dict(_with(**changes))


@pytest.mark.parametrize("changes,message", [
    ({"depths": [1e30, 1]}, "stage 1: depths must be a positive integer up to 1000, got 1e+30"),
    ({"depths": [1, 10**12]}, "stage 2: depths must be a positive integer up to 1000, "
                              "got 1000000000000"),
    ({"depths": [float("nan"), 1]}, "stage 1: depths must be a positive integer up to 1000, "
                                    "got nan"),
    ({"widths": [16, 48 * 10**6]}, "stage 2: widths must be a positive multiple of 8 up to 65536"),
    ({"bottleneck_ratios": [float("nan"), 2]}, "stage 1: bottleneck_ratios must be positive"),
    ({"bottleneck_ratios": [1e-30, 2]}, "stage 1: bottleneck width 1.6e+31 (widths 16 / "
                                        "bottleneck_ratios 1e-30) is above 65536"),
    ({"bottleneck_ratios": [5e-324, 2]}, "stage 1: bottleneck width inf"),
    ({"strides": [1, 1e30]}, "stage 2: strides must be a positive integer up to 32, got 1e+30"),
    ({"stem_width": 10**20}, "stem: stem_width must be a positive integer up to 65536, "
                             "got 1e+20"),
    ({k: v * 17 for k, v in VALID.items() if k != "depths"} | {"depths": [1, 2] * 17},
     "genome has 34 stages; at most 16"),
])
def test_absurd_sizes_are_refused_before_any_counting(changes, message):
    """A typo such as depth 1e30 used to pass validation and hang the complexity count."""
    start = time.perf_counter()
    with pytest.raises(GenomeError) as error:
        Genome.from_dict(_with(**changes))
    assert message in str(error.value)
    assert time.perf_counter() - start < 1


def test_the_largest_allowed_sizes_still_count():
    genome = Genome.from_dict({"depths": [1000], "widths": [65536], "bottleneck_ratios": [1],
                               "group_widths": [65536], "strides": [32], "stem_width": 65536})
    assert genome.complexity(32, 10).params > 0


def test_from_dict_refuses_unknown_and_missing_keys():
    with pytest.raises(GenomeError, match="unknown genome field.s. depth;"):
        Genome.from_dict(_with(depth=[1, 2]))
    with pytest.raises(GenomeError, match="missing field.*strides"):
        Genome.from_dict({k: v for k, v in VALID.items() if k != "strides"})


def test_fingerprint_is_stable_and_sees_the_stem_type():
    genome = Genome.from_dict(VALID)
    # A golden value: changing the canonical form silently would orphan every stored genome.
    assert genome.canonical() == {**VALID, "stem_width": 32, "stem_type": "standard"}
    assert genome.fingerprint == Genome.from_dict(
        {**VALID, "bottleneck_ratios": [1.0, 2.0], "stem_width": 32.0}).fingerprint
    assert genome.fingerprint == (
        "a4e4bcc40f1282d8f6ec254e3f94f66f96ff7bf09be297639207f2bfa1cb55cb")
    small = genome.replace(stem_type="small")
    assert small.fingerprint != genome.fingerprint
    assert genome.replace(stem_width=24).fingerprint != genome.fingerprint
    assert hash(genome) == hash(Genome.from_dict(VALID))
    with pytest.raises(TypeError):
        genome.replace(stem_kind="small")  # dataclasses.replace refuses unknown fields
    with pytest.raises(dataclasses.FrozenInstanceError):
        genome.depths = (2, 2)  # type: ignore[misc]


def test_cumulative_depth_and_width_sum_the_stages():
    genome = named_genome("RegNetX-400MF")
    assert genome.cumulative_depth == 22 and genome.cumulative_width == 32 + 64 + 160 + 384


def test_regnet_converter_adjusts_widths_to_the_group_width():
    # w0=24, g=16, b=1: pycls rounds the 24-wide stage to a multiple of 16 -> 32 (RegNetX-400MF).
    assert regnet_genome(22, 24, 24.48, 2.54, 16).widths == (32, 64, 160, 384)
    genome = regnet_genome(10, 48, 30.0, 2.5, 8, bottleneck_ratio=4)
    assert all((w // 4) % 8 == 0 for w in genome.widths) and genome.bottleneck_ratios[0] == 4
    with pytest.raises(GenomeError, match="w0"):
        regnet_genome(10, 20, 30.0, 2.5, 8)


def test_parse_architecture_reads_every_written_form():
    named = parse_architecture("regnetx-400mf")
    assert named.name == "RegNetX-400MF" and named.space == "anynetx"
    assert parse_architecture(named.canonical()) == named
    assert parse_architecture('{"timm": "resnet18d"}') == TimmModel("resnet18d")
    xresnet = parse_architecture({"timm": "resnet50d", "kwargs": {"stem_width": 32}})
    assert xresnet.space == "timm" and xresnet.kwargs_dict == {"stem_width": 32}
    assert parse_architecture(xresnet.canonical()) == xresnet
    assert xresnet.fingerprint != parse_architecture("timm:resnet50d").fingerprint
    for bad, message in [("RegNetX-9GF", "unknown architecture"), ("timm:no_such_net", "unknown"),
                         ({"timm": "resnet18d", "kwarg": {}}, "unknown field"), (3, "cannot read"),
                         ({"timm": "resnet18d", "kwargs": {"pretrained": True}}, "pretrained")]:
        with pytest.raises(GenomeError, match=message):
            parse_architecture(bad)


def test_timm_model_builds_and_counts_parameters_exactly():
    model = TimmModel("resnet18d", {"stem_width": 16})
    cx = model.complexity(32, 10, 1)
    torch.manual_seed(0)
    module = model.build(10, 1)
    assert cx.params == sum(p.numel() for p in module.parameters())
    assert module(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    assert module.conv1[0].in_channels == 1 and module.conv1[0].out_channels == 16
    # resnet18d at 32 px: ~ 1/49 of its 224-px cost; flops are multiply-adds, not 2x.
    assert 30e6 < cx.flops < 60e6 and cx.acts > 0
