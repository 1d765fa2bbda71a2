"""One table per rule: the recipe fields (train/fields.py) are Recipe's, and the schema's.

`Recipe.validate` checks with the table and the schema's recipe section is generated from it;
these tests fail when a field, a default or a limit of one differs from the others.
"""

from __future__ import annotations

import dataclasses

import pytest

from proxystore.errors import SpecError
from proxystore.study import schema_sections
from proxystore.train.fields import FIELDS, REQUIRED
from proxystore.train.recipe import Recipe
from tests.test_subset_kinds import SCHEMA, edges, schema_accepts


def test_the_field_table_is_the_recipe() -> None:
    assert tuple(FIELDS) == Recipe.field_names()
    for field in dataclasses.fields(Recipe):
        default = REQUIRED if field.default is dataclasses.MISSING else field.default
        assert FIELDS[field.name].default == default, field.name
    assert tuple(FIELDS) == Recipe.FIRST_FIELDS  # no field has been added since release 1
    assert all(field.meaning for field in FIELDS.values())  # docs/studies.md's "what it sets"


def test_every_recipe_field_is_in_the_schema_with_its_limits() -> None:
    recipe = SCHEMA["$defs"]["recipe"]
    assert set(recipe["properties"]) == set(FIELDS) and recipe["additionalProperties"] is False
    for name, field in FIELDS.items():
        assert recipe["properties"][name] == field.schema(), name
    for name in schema_sections.TASK_RECIPE_FIELDS:
        assert SCHEMA["$defs"]["task"]["properties"][name] == FIELDS[name].schema(), name


@pytest.mark.parametrize("name", [n for n, f in FIELDS.items() if f.type != "boolean"])
def test_each_recipe_field_accepts_what_theschema_accepts(name: str) -> None:
    """Edge by edge (and each choice), Recipe.validate and the schema draw the same line."""
    field = FIELDS[name]
    if field.type == "choice":
        values: list[object] = [*field.choices, "other"]
    else:
        low = field.low if field.low is not None else 0
        high = field.high if field.high is not None else 1e6
        values = [v for v in edges(low, high) if field.type == "number" or float(v).is_integer()]
        values = [int(v) if field.type == "integer" else v for v in values]
    base = {"epochs": 10_000, "image_size": 32}
    for value in values:
        try:
            Recipe(**{**base, name: value})
            accepted = True
        except SpecError as error:
            accepted = False
            assert str(error).startswith(f"{name}: must be "), error
        assert accepted == schema_accepts(field.schema(), value), (name, value)


def test_warmup_is_also_bounded_by_epochs() -> None:
    with pytest.raises(SpecError, match=r"^warmup_epochs: must be in \[0, epochs\], got 3$"):
        Recipe(epochs=2, image_size=32, warmup_epochs=3)
