"""Identity that survives change: pinned fingerprints and the rules of docs/training.md.

`tests/data/identity_v1.sqlite.gz` is a database made by the release before these rules
(`tests/data/identity_v1.yaml` registered with `register_study`, schema 0003): every fingerprint
and cell key in it must be reproduced by today's code, or every stored cell would be orphaned.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import proxystore
from proxystore.data.subsets import members_fingerprint
from proxystore.errors import SpecError
from proxystore.fingerprint import StableIdentity
from proxystore.space.genome import Genome
from proxystore.space.registry import parse_architecture
from proxystore.space.timm_models import TimmModel
from proxystore.study import cells
from proxystore.study.cells import cell_key, load_recipe, save_recipes
from proxystore.train.recipe import Recipe

STORED = Path(__file__).parent / "data" / "identity_v1.sqlite.gz"
GENOME = {"depths": [1, 2], "widths": [16, 32], "bottleneck_ratios": [1, 1],
          "group_widths": [8, 8], "strides": [1, 2], "stem_width": 8, "stem_type": "small"}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    """The release-1 database, read with plain SQL so a later schema can't change what is read."""
    path = tmp_path_factory.mktemp("identity") / "identity_v1.sqlite"
    path.write_bytes(gzip.decompress(STORED.read_bytes()))
    return sqlite3.connect(path)


def stored_recipes(stored: sqlite3.Connection) -> list[tuple[str, dict]]:
    """(fingerprint, canonical JSON) of every stored recipe."""
    rows = stored.execute("SELECT fingerprint, spec FROM recipes ORDER BY id").fetchall()
    assert len(rows) == 4  # 2 hyperparameter sets x 2 regimes (2 and 1 epochs)
    return [(fp, json.loads(spec)) for fp, spec in rows]


# ---- pins: a change to any canonical form fails here first -------------------------------

def test_genome_fingerprint_is_pinned():
    genome = Genome.from_dict(GENOME)
    assert genome.fingerprint == "322e5ffc14c6810e0370a7acbaa77e6d15e8a95058c26b60df4738e9f559f721"


def test_recipe_fingerprints_are_pinned():
    assert Recipe(epochs=10, image_size=32).fingerprint == (
        "188456527971e7785cf3a25b80baae030154f113fdbfdbf20cb0b6f792b67bca")
    custom = Recipe(epochs=3, image_size=16, optimizer="adam", lr=0.003, label_smoothing=0.1,
                    crop_padding=0, precision="fp32")
    assert custom.fingerprint == "75f3b356e9e9fd9ce354543b676e6b481ffb32c309f5f00022fd339c33805046"


def test_subset_fingerprint_is_pinned():
    fp = members_fingerprint("d" * 64, np.array([5, 1, 3]), np.array([2, 0]))
    assert fp == "a39e02f0969747438b1c98347ccf77c9d9dbeafa3c2199941fba3080670152b2"
    # members, not their order, make the subset
    assert members_fingerprint("d" * 64, np.array([1, 3, 5]), np.array([0, 2])) == fp


def test_timm_model_fingerprint_is_pinned():
    model = TimmModel("resnet18", {"drop_rate": 0.1})
    assert model.fingerprint == "8a37eef9c608a36df501a330edc286f7b96ff4bf6cd91550fe6009928437ecbf"


def test_cell_keys_are_pinned():
    parts = ("a" * 64, "b" * 64, "c" * 64, 2)
    assert cell_key(*parts) == "f46471bb4772d2ff53ae5b3c9375530e4860d9887222b38fd87c815cbdf80cdb"
    assert cell_key(*parts, variant="scorer") == (
        "136fe4dffe7dc8b286c07534021121f300b3973f8fcfa2f294903fd10ae17915")


# ---- the stored release-1 database is reproduced exactly ---------------------------------

def test_stored_recipes_load_with_their_fingerprints(stored):
    for fp, spec in stored_recipes(stored):
        recipe = Recipe.from_stored(spec)
        assert recipe.canonical() == spec
        assert recipe.fingerprint == fp


def test_stored_architectures_keep_their_fingerprints(stored):
    rows = stored.execute("SELECT space, genome, fingerprint FROM architectures").fetchall()
    assert sorted(space for space, _, _ in rows) == ["anynetx", "timm"]
    for _, genome, fp in rows:
        assert parse_architecture(json.loads(genome)).fingerprint == fp


def test_stored_subsets_are_the_hash_of_their_members(stored):
    rows = stored.execute("SELECT s.id, s.fingerprint, d.fingerprint FROM subsets s "
                          "JOIN datasets d ON d.id = s.dataset_id").fetchall()
    assert len(rows) == 4
    for subset_id, fp, dataset_fp in rows:
        members = {split: np.array([i for (i,) in stored.execute(
            'SELECT "index" FROM subset_members WHERE subset_id = ? AND split = ?',
            (subset_id, split))], dtype=np.int64) for split in ("train", "val")}
        assert members_fingerprint(dataset_fp, members["train"], members["val"]) == fp


def _stored_cells(stored: sqlite3.Connection) -> list[tuple]:
    return stored.execute(
        "SELECT r.cell_key, a.fingerprint, s.fingerprint, c.fingerprint, r.seed, "
        "r.trainer_version FROM runs r JOIN architectures a ON a.id = r.architecture_id "
        "JOIN subsets s ON s.id = r.subset_id JOIN recipes c ON c.id = r.recipe_id").fetchall()


def test_stored_cell_keys_are_reproduced(stored):
    rows = _stored_cells(stored)
    assert len(rows) == 32  # 2 architectures x 2 hyperparameter sets x 4 tasks x 2 seeds
    for key, arch, subset, recipe, seed, version in rows:
        assert version == proxystore.TRAINER_VERSION
        assert cell_key(arch, subset, recipe, seed) == key


# ---- rule 1: a new field whose default reproduces old results keeps old fingerprints -------

@dataclasses.dataclass(frozen=True)
class RecipeWithMixup(Recipe):
    """Recipe as a later release might have it: one more field, off by default."""

    mixup_alpha: float = 0.0


def test_a_new_defaulted_field_keeps_every_stored_fingerprint(stored):
    for fp, spec in stored_recipes(stored):
        assert RecipeWithMixup.from_stored(spec).fingerprint == fp
        assert RecipeWithMixup.from_stored({**spec, "mixup_alpha": 0}).fingerprint == fp


def test_a_new_field_set_away_from_its_default_is_a_new_recipe(stored):
    fp, spec = stored_recipes(stored)[0]
    changed = RecipeWithMixup.from_stored({**spec, "mixup_alpha": 0.2})
    assert changed.canonical() == {**spec, "mixup_alpha": 0.2}
    assert changed.fingerprint != fp


def test_first_release_fields_are_frozen_and_written_even_at_their_default():
    # FIRST_FIELDS is what recipe fingerprints were first computed over: it never changes
    assert Recipe.FIRST_FIELDS == (
        "epochs", "image_size", "eval_metric", "batch_size", "optimizer", "lr", "momentum",
        "nesterov", "weight_decay", "schedule", "warmup_epochs", "label_smoothing", "flip_prob",
        "crop_padding", "precision")
    assert set(Recipe(epochs=10, image_size=32).canonical()) == set(Recipe.FIRST_FIELDS)


# ---- rule 2: a change of results gets a new trainer version (and a CHANGELOG note) --------

def test_a_trainer_version_bump_gives_every_stored_cell_a_new_key(stored, monkeypatch):
    monkeypatch.setattr(cells, "TRAINER_VERSION", "2")
    for key, arch, subset, recipe, seed, _ in _stored_cells(stored):
        assert cell_key(arch, subset, recipe, seed) != key


def test_every_trainer_version_after_the_first_has_a_changelog_note():
    changelog = (Path(__file__).parents[1] / "CHANGELOG.md").read_text(encoding="utf-8")
    for version in range(2, int(proxystore.TRAINER_VERSION) + 1):
        assert f"trainer version {version}" in changelog.lower(), (
            f"TRAINER_VERSION {version} has no 'trainer version {version}' note in CHANGELOG.md")


# ---- rule 3: renamed fields keep loading --------------------------------------------------

def _renamed_recipe() -> type:
    """Recipe with `flip_prob` renamed to `hflip_prob`, registered in RENAMED as the rule asks."""
    fields = [("hflip_prob" if f.name == "flip_prob" else f.name, f.type,
               dataclasses.field(default=f.default)) for f in dataclasses.fields(Recipe)]
    return dataclasses.make_dataclass(
        "RenamedRecipe", fields, bases=(StableIdentity,), frozen=True,
        namespace={"FIRST_FIELDS": Recipe.FIRST_FIELDS, "RENAMED": {"flip_prob": "hflip_prob"},
                   **{name: vars(Recipe)[name] for name in (
                       "field_names", "from_parts", "from_stored", "fingerprint")}})


def test_a_renamed_field_loads_stored_recipes_with_their_fingerprints(stored):
    renamed = _renamed_recipe()
    for fp, spec in stored_recipes(stored):
        recipe = renamed.from_stored(spec)
        assert recipe.hflip_prob == spec["flip_prob"]
        assert recipe.fingerprint == fp
    # a spec written with the new name is the same recipe as one written with the old
    assert renamed.from_parts({"epochs": 2, "image_size": 8, "hflip_prob": 0.0}).fingerprint == \
        renamed.from_parts({"epochs": 2, "image_size": 8, "flip_prob": 0}).fingerprint


def test_naming_a_field_by_both_names_is_one_clear_error():
    renamed = _renamed_recipe()
    with pytest.raises(SpecError, match=r"^defaults\.hflip_prob: names the same field as "):
        renamed.from_parts({"epochs": 2, "image_size": 8, "flip_prob": 0, "hflip_prob": 0},
                           where="defaults")


# ---- the database keeps the canonical form on both backends -------------------------------

def test_stored_recipes_round_trip_through_the_database(db, stored):
    recipes = [Recipe.from_stored(spec) for _, spec in stored_recipes(stored)]
    with db.session() as session:
        ids = save_recipes(session, recipes)
    with db.session() as session:
        for fp, spec in stored_recipes(stored):
            assert load_recipe(session, ids[fp]).fingerprint == fp
            assert Recipe.from_stored(spec) == load_recipe(session, ids[fp])


def test_plan_explain_compares_recipes_not_their_stored_json(stored, monkeypatch):
    """A stored recipe lacks a later field (it was at its default): explain shows that default."""
    from types import SimpleNamespace

    from proxystore.study import explain

    _, spec = stored_recipes(stored)[0]
    ours = RecipeWithMixup.from_stored({**spec, "mixup_alpha": 0.2})
    monkeypatch.setattr(explain, "Recipe", RecipeWithMixup)
    study = SimpleNamespace(recipe=lambda task, candidate: ours, seeds=[0])
    theirs = [SimpleNamespace(architecture_id=1, spec=spec, seed=0, trainer_version="1")]
    assert explain._differences(study, "full", {"a000": 1}, theirs, "demo") == [
        "mixup_alpha: 0.2 here, 0.0 in demo"]
