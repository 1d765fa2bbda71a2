"""AnyNetX genome -> torch module, through torchvision's RegNet(BlockParams(...)).

torchvision's RegNet is pycls's AnyNetX with X blocks (ResBottleneckBlock without SE). It
hard-codes a 3-channel stride-2 stem, so the stem is passed in as `stem_type` to allow 1-channel
input and the small (stride-1) stem. Weight init is pycls's, which torchvision's constructor
already applies to every module, stem included: conv weights normal with std sqrt(2 / fan_out)
(fan_out = k*k*out_channels, groups ignored, as in pycls), BN gamma 1 and beta 0, FC weights
normal with std 0.01 and bias 0. pycls's optional zero-init of each block's final BN gamma
(cfg.BN.ZERO_INIT_FINAL_GAMMA, off by default there) is `zero_init_final_gamma`, off by default.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import nn
from torchvision.models.regnet import BlockParams, RegNet, ResBottleneckBlock
from torchvision.ops.misc import Conv2dNormActivation

from proxystore.errors import GenomeError
from proxystore.space.genome import Genome


def _stem(in_channels: int, stride: int, width_in: int, width_out: int,
          norm_layer: Any, activation_layer: Any) -> nn.Module:
    """3x3 conv + BN + ReLU from `in_channels` (torchvision always passes width_in=3)."""
    del width_in
    return Conv2dNormActivation(in_channels, width_out, kernel_size=3, stride=stride,
                                norm_layer=norm_layer, activation_layer=activation_layer)


def block_params(genome: Genome) -> BlockParams:
    """Return torchvision's BlockParams of a genome (bottleneck multiplier = 1 / b_i)."""
    genome.validate()
    return BlockParams(
        depths=list(genome.depths),
        widths=list(genome.widths),
        group_widths=list(genome.group_widths),
        bottleneck_multipliers=[1.0 / b for b in genome.bottleneck_ratios],
        strides=list(genome.strides),
        se_ratio=None,
    )


def build_anynetx(genome: Genome, num_classes: int, in_channels: int = 3, *,
                  zero_init_final_gamma: bool = False) -> nn.Module:
    """Build the AnyNetX network of `genome` with pycls's weight initialisation.

    Args:
        genome: a valid AnyNetX genome.
        num_classes: outputs of the final FC layer.
        in_channels: input channels, 1 or 3 (any positive number works).
        zero_init_final_gamma: set the last BN gamma of every block to 0, as pycls does when
            cfg.BN.ZERO_INIT_FINAL_GAMMA is on (each block then starts as the identity).
    """
    if in_channels < 1 or num_classes < 1:
        raise GenomeError(f"build: in_channels ({in_channels}) and num_classes ({num_classes}) "
                          "must be positive")
    stride = 1 if genome.stem_type == "small" else 2
    model = RegNet(
        block_params(genome),
        num_classes=int(num_classes),
        stem_width=genome.stem_width,
        stem_type=partial(_stem, int(in_channels), stride),
        block_type=ResBottleneckBlock,
        norm_layer=partial(nn.BatchNorm2d, eps=1e-5, momentum=0.1),
    )
    if zero_init_final_gamma:
        for block in model.modules():
            if isinstance(block, ResBottleneckBlock):
                nn.init.zeros_(block.f.c[1].weight)
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of learned parameters of a module (buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters())
