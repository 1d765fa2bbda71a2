"""Architecture design spaces: AnyNetX genomes, their complexity, sampling, and timm models.

The API other parts use: `parse_architecture` (any written form -> Genome | TimmModel), the
common interface of both (.space, .name, .canonical(), .fingerprint, .build(...),
.complexity(...)), `sample_genomes`, and the store functions in `proxystore.space.store`.
"""

from __future__ import annotations

from proxystore.space.complexity import Complexity, anynetx_complexity, anynetx_complexity_arrays
from proxystore.space.genome import Genome
from proxystore.space.registry import Architecture, parse_architecture
from proxystore.space.regnet import REGNETX_PARAMS, named_genome, regnet_genome
from proxystore.space.sampler import Sample, SamplerConfig, sample_genomes
from proxystore.space.timm_models import TimmModel

__all__ = [
    "REGNETX_PARAMS",
    "Architecture",
    "Complexity",
    "Genome",
    "Sample",
    "SamplerConfig",
    "TimmModel",
    "anynetx_complexity",
    "anynetx_complexity_arrays",
    "named_genome",
    "parse_architecture",
    "regnet_genome",
    "sample_genomes",
]
