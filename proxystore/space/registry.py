"""One entry point for every way an architecture is written down: `parse_architecture`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Union

from proxystore.errors import GenomeError
from proxystore.space.genome import Genome
from proxystore.space.regnet import REGNETX_PARAMS, named_genome
from proxystore.space.timm_models import TimmModel

# Both families share: .space, .name, .canonical(), .fingerprint, .validate(),
# .build(num_classes, in_channels) and .complexity(image_size, num_classes, in_channels).
Architecture = Union[Genome, TimmModel]  # noqa: UP007 - a runtime alias, readable in 3.11
TIMM_PREFIX = "timm:"


def parse_architecture(obj: Any) -> Architecture:
    """Return the Genome or TimmModel that `obj` describes, validated.

    Accepted forms: a Genome or TimmModel; a genome dict (depths, widths, bottleneck_ratios,
    group_widths, strides[, stem_width, stem_type]); a named model such as "RegNetX-400MF";
    "timm:resnet18d"; {"timm": "resnet50d", "kwargs": {"stem_width": 32}}; any of these dicts
    as a JSON string.

    Args:
        obj: the architecture as written in a study spec, a JSONL line or the database.

    Raises:
        GenomeError: a form it does not know, an unknown name, or a genome breaking a rule.
    """
    try:
        return _parse(obj)
    except RecursionError:  # JSON text or lists nested about a thousand deep
        raise GenomeError("architecture is nested too deeply to read") from None


def _parse(obj: Any) -> Architecture:
    """`parse_architecture` without its guard against deep nesting."""
    if isinstance(obj, (Genome, TimmModel)):
        return obj.validate()
    if isinstance(obj, str):
        text = obj.strip()
        if text.startswith("{"):
            try:
                return _parse(json.loads(text))
            except json.JSONDecodeError as error:
                raise GenomeError(f"architecture is not valid JSON: {error}") from None
        if text.lower().startswith(TIMM_PREFIX):
            return TimmModel(text[len(TIMM_PREFIX):]).validate()
        if text.lower() in (name.lower() for name in REGNETX_PARAMS):
            return named_genome(text)
        raise GenomeError(f"unknown architecture {text!r}: write a genome, one of "
                          f"{', '.join(REGNETX_PARAMS)}, or timm:<model name>")
    if isinstance(obj, Mapping):
        if "timm" in obj:
            unknown = sorted(set(obj) - {"timm", "kwargs"})
            if unknown:
                raise GenomeError(f"timm architecture has unknown field(s) {', '.join(unknown)}; "
                                  "expected timm and kwargs")
            kwargs = obj.get("kwargs") or {}
            if not isinstance(kwargs, Mapping):
                raise GenomeError(f"timm:{obj['timm']}: kwargs must be a mapping, got {kwargs!r}")
            return TimmModel(str(obj["timm"]), kwargs).validate()
        return Genome.from_dict(obj)
    raise GenomeError(f"cannot read an architecture from a {type(obj).__name__}: {obj!r}")
