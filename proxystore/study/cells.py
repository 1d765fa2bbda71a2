"""Cell keys and recipe rows: identity of a training by fingerprint."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from proxystore import TRAINER_VERSION
from proxystore.db.store import registration as store
from proxystore.fingerprint import fingerprint
from proxystore.train.recipe import Recipe


def cell_key(architecture_fp: str, subset_fp: str, recipe_fp: str, seed: int,
             variant: str | None = None) -> str:
    """The key of a cell (DESIGN.md): architecture, subset, recipe, seed, trainer version.

    `variant` "scorer" names a second training of the same cell whose only purpose is to score
    examples, made when the first was trained (by another study) without keeping its losses.
    """
    parts: dict[str, Any] = {"architecture": architecture_fp, "subset": subset_fp,
                             "recipe": recipe_fp, "seed": int(seed),
                             "trainer_version": TRAINER_VERSION}
    if variant:
        parts["variant"] = variant
    return fingerprint(parts)


def save_recipes(session: Session, recipes: list[Recipe]) -> dict[str, int]:
    """Store recipes (deduplicated by fingerprint); return fingerprint -> id."""
    rows = {}
    for recipe in recipes:
        rows[recipe.fingerprint] = dict(
            fingerprint=recipe.fingerprint, spec=recipe.canonical(), epochs=recipe.epochs,
            batch_size=recipe.batch_size, optimizer=recipe.optimizer, lr=float(recipe.lr),
            weight_decay=float(recipe.weight_decay), schedule=recipe.schedule,
            image_size=recipe.image_size, eval_metric=recipe.eval_metric)
    return store.save_recipe_rows(session, list(rows.values()))


def load_recipe(session: Session, recipe_id: int) -> Recipe:
    """Rebuild the Recipe stored under `recipe_id`."""
    return Recipe.from_stored(store.recipe_spec(session, recipe_id))
