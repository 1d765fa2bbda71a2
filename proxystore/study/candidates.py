"""Candidates of a study: architectures (listed, named, sampled) crossed with hyperparameters.

Two ways to vary hyperparameters: `hyperparameters` (named sets, each crossed with every
architecture) or seed 1's `one_factor` grid (a base configuration plus, for each listed value of
one parameter, a candidate that changes only that parameter). Keys `arch.NAME` change an
architecture field (a genome field, or a timm keyword argument such as `arch.stem_width`).
A listed architecture may name a stored one (proxystore/study/stored.py), resolved at plan/fill.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from proxystore.errors import GenomeError, ProxystoreError, SpecError
from proxystore.train.recipe import Recipe


def parse_arch(obj: Any, where: str) -> Any:
    """Parse an architecture as written in a spec; errors name `where`."""
    from proxystore.space import parse_architecture

    try:
        return parse_architecture(obj)
    except (GenomeError, SpecError, ValueError, KeyError, TypeError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        raise SpecError(f"{where}: {message}") from None


def with_arch_overrides(arch: Any, overrides: dict[str, Any], where: str) -> Any:
    """Return `arch` with fields (genome) or keyword arguments (timm) changed."""
    if not overrides:
        return arch
    from proxystore.study.stored import StoredArchitecture, with_overrides

    if isinstance(arch, StoredArchitecture):  # applied once the database resolves it
        return with_overrides(arch, overrides)
    try:
        if getattr(arch, "space", None) == "timm":
            return dataclasses.replace(arch, kwargs={**arch.kwargs_dict, **overrides})
        changed = dataclasses.replace(arch, **overrides)
        if hasattr(changed, "validate"):
            changed.validate()
        return changed
    except (TypeError, ValueError, ProxystoreError) as error:
        raise SpecError(f"{where}: {error}") from None


def _listed(label: str, obj: Any) -> dict[str, Any]:
    """A listed entry: label -> architecture, or the stored references it names."""
    from proxystore.study.stored import is_reference, parse_reference

    where = f"candidates.architectures.listed.{label}"
    if is_reference(obj):
        return dict(parse_reference(label, obj, where))
    return {label: parse_arch(obj, where)}


def _split(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    arch = {k[len("arch."):]: v for k, v in config.items() if k.startswith("arch.")}
    recipe = {k: v for k, v in config.items() if not k.startswith("arch.") and k != "architecture"}
    return arch, recipe


def _sampled(config: dict[str, Any]) -> dict[str, Any]:
    """Sample the spec's AnyNetX genomes (deterministic by seed); label -> genome."""
    from proxystore.space.sampler import SamplerConfig, sample_genomes

    prefix = config.get("label_prefix", "a")
    width = max(3, len(str(config["count"] - 1)))
    settings = {k: v for k, v in config.items() if k not in ("count", "seed", "label_prefix")}
    for key in ("band", "strides", "bottleneck_ratios"):
        if key in settings:
            settings[key] = tuple(settings[key])
    try:
        sample = sample_genomes(int(config["count"]), SamplerConfig(**settings),
                                seed=int(config.get("seed", 0)))
    except ProxystoreError as error:
        raise SpecError(f"candidates.architectures.sampled: {error}") from None
    return {f"{prefix}{i:0{width}d}": g for i, g in enumerate(sample.genomes)}


def expand_candidates(raw: dict[str, Any], defaults: dict[str, Any]
                      ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Expand the spec's `candidates` section into label -> CandidateSpec (and the sampler config).

    Args:
        raw: the `candidates` mapping of a spec (already schema-valid).
        defaults: the spec's recipe defaults (to name errors early).
    """
    from proxystore.study.spec import CandidateSpec

    archs_raw = raw.get("architectures") or {}
    archs: dict[str, Any] = {}
    for label, obj in (archs_raw.get("listed") or {}).items():
        for name, arch in _listed(label, obj).items():
            if name in archs:
                raise SpecError(f"candidates.architectures.listed.{label}: label {name} is "
                                "listed twice")
            archs[name] = arch
    sampled_config = archs_raw.get("sampled")
    if sampled_config:
        for label, genome in _sampled(sampled_config).items():
            if label in archs:
                raise SpecError(f"candidates.architectures.sampled: label {label} clashes with a "
                                "listed architecture (set label_prefix)")
            archs[label] = genome

    if "one_factor" in raw:
        if "hyperparameters" in raw:
            raise SpecError("candidates: give hyperparameters or one_factor, not both")
        return _one_factor(raw["one_factor"], archs), sampled_config
    if not archs:
        raise SpecError("candidates.architectures: list or sample at least one architecture")
    sets = raw.get("hyperparameters") or {"default": {}}
    candidates: dict[str, Any] = {}
    for arch_label, arch in archs.items():
        for hp_label, hparams in sets.items():
            label = arch_label if len(sets) == 1 else f"{arch_label}/{hp_label}"
            candidates[label] = CandidateSpec(label=label, architecture=arch,
                                              hparams=dict(hparams))
    return candidates, sampled_config


def _one_factor(config: dict[str, Any], archs: dict[str, Any]) -> dict[str, Any]:
    from proxystore.study.spec import CandidateSpec

    where = "candidates.one_factor"
    base = dict(config["base"])

    def resolve(obj: Any, path: str) -> Any:
        from proxystore.study.stored import is_reference, parse_reference

        if isinstance(obj, str) and obj in archs:
            return archs[obj]
        if is_reference(obj):
            refs = parse_reference("architecture", obj, path)
            if len(refs) != 1:
                raise SpecError(f"{path}: name one stored architecture here (candidate: LABEL)")
            return next(iter(refs.values()))
        return parse_arch(obj, path)

    base_arch = resolve(base["architecture"], f"{where}.base.architecture")
    base_arch_overrides, base_recipe = _split(base)
    _check_recipe_keys(base_recipe, f"{where}.base")
    candidates = {"default": CandidateSpec(
        label="default",
        architecture=with_arch_overrides(base_arch, base_arch_overrides, f"{where}.base"),
        hparams=base_recipe)}
    for key, values in config["vary"].items():
        if key != "architecture" and not key.startswith("arch."):
            _check_recipe_keys({key: None}, f"{where}.vary")
        for i, value in enumerate(values):
            path = f"{where}.vary.{key}.{i}"
            if key == "architecture":
                if value == base["architecture"]:
                    continue
                arch = resolve(value, path)
                label = f"architecture={value if isinstance(value, str) else i}"
                candidate = CandidateSpec(
                    label=label,
                    architecture=with_arch_overrides(arch, base_arch_overrides, path),
                    hparams=base_recipe)
            else:
                if base.get(key) == value:
                    continue
                label = f"{key}={value}"
                config_i = {**base, key: value}
                arch_overrides, recipe = _split(config_i)
                candidate = CandidateSpec(
                    label=label,
                    architecture=with_arch_overrides(base_arch, arch_overrides, path),
                    hparams=recipe)
            if label in candidates:
                raise SpecError(f"{path}: candidate {label} appears twice")
            candidates[label] = candidate
    return candidates


def _check_recipe_keys(config: dict[str, Any], where: str) -> None:
    unknown = sorted(set(config) - set(Recipe.field_names()))
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}: unknown recipe field (architecture fields are "
                        "written arch.NAME)")
