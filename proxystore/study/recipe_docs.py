"""The recipe table of docs/studies.md, generated from Recipe's fields and the spec schema's ranges.

A test compares the table in the docs with `recipe_table()`, so a new field, a changed default or
a changed range cannot leave the docs behind. `python -m proxystore.study.recipe_docs` prints it.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

from proxystore.resources import schema_text
from proxystore.train.recipe import Recipe

# What each field sets (the one part of the table written by hand; the test checks it is complete).
MEANING = {
    "epochs": "training epochs; the schedule spans all of them",
    "image_size": "side in pixels every image is resized to (the decode cache is per size)",
    "eval_metric": "the error a run is ranked by (top-1 or top-5) and picks its best epoch by",
    "batch_size": "training examples per step",
    "optimizer": "the optimizer",
    "lr": "learning rate at `batch_size` (the peak lr for onecycle)",
    "momentum": "SGD momentum (Adam and RMSprop keep torch's defaults)",
    "nesterov": "Nesterov momentum for SGD (only when momentum > 0)",
    "weight_decay": "L2 weight decay on every parameter, BN and biases included",
    "schedule": "learning-rate schedule, stepped per iteration",
    "warmup_epochs": "linear warm-up, in epochs (fractions allowed)",
    "label_smoothing": "label smoothing of the training loss",
    "flip_prob": "probability of a horizontal flip per training image",
    "crop_padding": "random pad-and-crop by up to this many pixels",
    "precision": "auto: bf16 autocast on CUDA, fp32 on the CPU",
}
# Rules the schema can't state (they relate two fields or follow from another field).
EXTRA_RULES = {"warmup_epochs": "≤ epochs"}
DEFAULT_TEXT = {"crop_padding": "image_size // 8"}


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
    schema = json.loads(schema_text("study.schema.json"))["$defs"]["recipe"]["properties"]
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
