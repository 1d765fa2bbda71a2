"""The recipe table of docs/studies.md, generated from the recipe fields (train/fields.py).

A test compares the table in the docs with `recipe_table()`, so a new field, a changed default or
a changed range cannot leave the docs behind. `python -m proxystore.study.recipe_docs` prints it.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from proxystore.train.fields import FIELDS
from proxystore.train.recipe import Recipe

# What each field sets, the rules the schema can't state, and defaults in words: the field table.
MEANING = {name: field.meaning for name, field in FIELDS.items()}
EXTRA_RULES = {name: f"≤ {field.at_most}" for name, field in FIELDS.items() if field.at_most}
DEFAULT_TEXT = {name: field.default_text for name, field in FIELDS.items() if field.default_text}


def _range(prop: dict[str, Any]) -> str:
    """A spec schema property's allowed values, in words."""
    if "enum" in prop:
        return " \\| ".join(str(v) for v in prop["enum"])
    kind = prop.get("type")
    if kind == "boolean":
        return "true \\| false"
    noun = "integer" if kind == "integer" else "number"
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    if low is not None and high is not None:
        left = "[" if "minimum" in prop else "("
        right = "]" if "maximum" in prop else ")"
        if noun == "integer" and left + right == "[]":
            return f"integer {low} to {high}"
        return f"{noun} in {left}{low}, {high}{right}"
    if low is not None:
        return f"{noun} {'≥' if 'minimum' in prop else '>'} {low}"
    return noun


def _default(field: dataclasses.Field[Any]) -> str:
    if field.name in DEFAULT_TEXT:
        return DEFAULT_TEXT[field.name]
    if field.default is dataclasses.MISSING:
        return "required"
    value = field.default
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):  # decimal, as YAML reads it (PyYAML takes 5e-05 for a string)
        return format(Decimal(repr(value)), "f")
    return str(value)


def identity_fields() -> set[str]:
    """Recipe fields that enter the recipe fingerprint, hence a cell's key.

    Every field does: a first-release field always, a later one whenever it is set away from its
    default (so a default recipe's canonical form would under-count them).
    """
    return set(Recipe.field_names())


def recipe_table() -> str:
    """The markdown table of every recipe field: default, range, identity, meaning."""
    schema = {name: field.schema() for name, field in FIELDS.items()}  # = the spec schema's
    in_key = identity_fields()
    lines = ["| field | default | allowed values | changes a cell's identity | what it sets |",
             "| --- | --- | --- | --- | --- |"]
    for field in dataclasses.fields(Recipe):
        allowed = _range(schema[field.name])
        if field.name in EXTRA_RULES:
            allowed += f", {EXTRA_RULES[field.name]}"
        lines.append(f"| `{field.name}` | {_default(field)} | {allowed} | "
                     f"{'yes' if field.name in in_key else 'no'} | {MEANING[field.name]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(recipe_table())
