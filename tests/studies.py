"""Tiny study specs for tests: real training on digits, small enough to run in seconds."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

GENOME_A = ("{depths: [1, 1], widths: [16, 32], bottleneck_ratios: [1, 1], group_widths: [8, 8],"
            " strides: [1, 2], stem_width: 8, stem_type: small}")
GENOME_B = ("{depths: [1, 1], widths: [24, 32], bottleneck_ratios: [1, 1], group_widths: [8, 16],"
            " strides: [1, 2], stem_width: 8, stem_type: small}")
GENOME_C = ("{depths: [2, 1], widths: [16, 48], bottleneck_ratios: [1, 2], group_widths: [16, 8],"
            " strides: [1, 2], stem_width: 8, stem_type: small}")


def tiny_spec(name: str, tasks: str, *, archs: dict[str, str] | None = None, epochs: int = 2,
              lr: float = 0.1, seeds: str = "[0]", hyperparameters: str | None = None) -> str:
    """A study on digits at 8 px with listed tiny genomes; `tasks` is the YAML of its tasks."""
    archs = archs or {"a": GENOME_A, "b": GENOME_B}
    spec = {
        "name": name,
        "datasets": {"digits": {"source": "sklearn:digits", "val_fraction": 0.2, "seed": 0}},
        "defaults": {"image_size": 8, "epochs": epochs, "batch_size": 64, "lr": lr,
                     "flip_prob": 0.0, "crop_padding": 1, "weight_decay": 0.0005},
        "tasks": yaml.safe_load(textwrap.dedent(tasks)),
        "candidates": {"architectures": {"listed": {k: yaml.safe_load(v)
                                                    for k, v in archs.items()}}},
        "seeds": yaml.safe_load(seeds),
    }
    if hyperparameters:
        spec["candidates"]["hyperparameters"] = yaml.safe_load(textwrap.dedent(hyperparameters))
    return yaml.safe_dump(spec, sort_keys=False)


FULL_AND_HALF = """\
full: {dataset: digits, subset: {kind: full}, role: target}
half: {dataset: digits, subset: {kind: random, fraction: 0.5, seed: 0}, role: proxy, proxy_of: full}
"""


# A target and its easiest and hardest halves by candidate a's losses on it: two tasks that
# wait for their scorer run.
EASY_HARD = """\
full: {dataset: digits, role: target}
easy: {dataset: digits, role: proxy, proxy_of: full,
       subset: {kind: loss_quantile, a: 0.5, b: 1.0, scorer: {candidate: a, task: full}}}
hard: {dataset: digits, role: proxy, proxy_of: full,
       subset: {kind: loss_quantile, a: 0.0, b: 0.5, scorer: {candidate: a, task: full}}}
"""


def write(tmp: Path, name: str, text: str) -> Path:
    """Write spec text to tmp/name.yaml and return the path."""
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return path
