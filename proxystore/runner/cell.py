"""Everything one claimed cell needs to train: its network, its data, its recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from proxystore.db.session import Database
from proxystore.db.store import runs
from proxystore.runner.claims import Claim
from proxystore.train.recipe import Recipe


@dataclass(frozen=True)
class CellInputs:
    """A claimed cell's architecture, data and recipe, loaded from the database and cache."""

    architecture: Any
    recipe: Recipe
    dataset: str
    channels: int
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    train_indices: np.ndarray
    val_indices: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    label_map: dict[int, int] | None

    @property
    def num_classes(self) -> int:
        """Output classes of the network: the subset's classes when it keeps only some."""
        if self.label_map:
            return len(self.label_map)
        return int(max(self.train_labels.max(), self.val_labels.max())) + 1


def load_inputs(db: Database, claim: Claim, cache_dir: str | None = None) -> CellInputs:
    """Load the claimed cell's architecture, recipe, decoded data and subset indices."""
    from proxystore.data.cache import decoded
    from proxystore.data.registry import labels
    from proxystore.data.subsets import subset_indices
    from proxystore.space import parse_architecture

    facts = runs.cell_facts(db, claim)
    recipe, name = Recipe.from_stored(facts.recipe), facts.dataset
    data = decoded(db, name, recipe.image_size, cache_dir=cache_dir)
    train_idx, val_idx = subset_indices(db, claim.subset_id)
    return CellInputs(
        architecture=parse_architecture(facts.genome), recipe=recipe, dataset=name,
        channels=facts.channels,
        train_images=data.train, train_labels=labels(db, name, "train"),
        val_images=data.val, val_labels=labels(db, name, "val"),
        train_indices=np.asarray(train_idx), val_indices=np.asarray(val_idx),
        mean=np.asarray(data.mean, dtype=np.float32), std=np.asarray(data.std, dtype=np.float32),
        label_map=facts.label_map)


def cell_label(db: Database, run_id: int, study: str | None = None) -> str:
    """A readable name of a run: 'candidate @ task s<seed>' from the first study that links it."""
    row = runs.cell_name(db, run_id, study)
    if row is None:
        return f"run {run_id}"
    return f"{row[0]} @ {row[1]} s{row[2]}"
