"""Recipe fields, one table: each field's type, limits and default.

`Recipe.validate` checks every field with `RecipeField.problem`; study/recipe_docs.py writes the
recipe table of docs/studies.md from it; `RecipeField.schema` is that
field's property in schemas/study.schema.json (`$defs/recipe`, and epochs, image_size and
eval_metric of `$defs/task`), which a test keeps equal to the file
(`python -m proxystore.study.schema_sections --write` rewrites it); another test keeps the
defaults equal to `Recipe`'s dataclass defaults, which are what the canonical form compares with.

Example:
    >>> FIELDS["momentum"].problem(1.5, {})
    'must be in [0, 1), got 1.5'
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from proxystore.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_IMAGE_SIZE, integer_in

OPTIMIZERS = ("sgd", "adam", "rmsprop")
SCHEDULES = ("cosine", "onecycle", "constant")
EVAL_METRICS = ("top1", "top5")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
REQUIRED = object()  # the default of a field every recipe states


@dataclass(frozen=True)
class RecipeField:
    """One recipe field.

    Attributes:
        name: the field, as specs, the canonical form and `Recipe` spell it.
        type: integer, number, boolean or choice.
        default: its default (REQUIRED: none; None for crop_padding: image_size // 8).
        low, high, open_low, open_high: the limits of a number or an integer (None: unbounded).
        choices: the values of a choice.
        at_most: another field this one may not exceed (warmup_epochs ≤ epochs), checked by
            `Recipe.validate` on top of `high`, which is all a schema can state.
        plain_int: only a Python int will do (not a numpy integer).
        meaning: what it sets, for the recipe table of docs/studies.md.
        default_text: the default in words, where it is not a value.
    """

    name: str
    type: str
    default: Any = REQUIRED
    meaning: str = ""
    default_text: str = ""
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] = ()
    at_most: str = ""
    plain_int: bool = False

    def expected(self) -> str:
        """What a valid value is, in the words of `Recipe.validate`'s errors."""
        if self.type == "choice":
            return f"one of {self.choices}"
        if self.type == "integer":
            return f"an integer from {self.low} to {self.high}"
        high = self.at_most or self.high
        if high is None:
            return f"{'>' if self.open_low else '>='} {self.low}"
        return (f"in {'(' if self.open_low else '['}{self.low}, "
                f"{high}{')' if self.open_high else ']'}")

    def ok(self, value: Any, recipe: Mapping[str, Any]) -> bool:
        """Whether `value` is valid here; `recipe` gives the field named by `at_most`."""
        if self.type == "choice":
            return value in self.choices
        if self.type == "integer":
            return (not self.plain_int or isinstance(value, int)) and integer_in(
                value, _int(self.low), _int(self.high))
        if self.type == "boolean":
            return True  # any truth value, as before the table; a spec's is checked by the schema
        if not isinstance(value, numbers.Real):
            return False
        number = cast(float, value)  # compared as it is: float() overflows on a huge int
        low, high = self.low, recipe[self.at_most] if self.at_most else self.high
        above_low = low is None or (number > low if self.open_low else number >= low)
        return above_low and (high is None or (number < high if self.open_high else number <= high))

    def problem(self, value: Any, recipe: Mapping[str, Any]) -> str | None:
        """`must be ..., got ...` when `value` is not valid, else None."""
        return None if self.ok(value, recipe) else f"must be {self.expected()}, got {value!r}"

    def schema(self) -> dict[str, Any]:
        """This field's property in the spec schema."""
        if self.type == "choice":
            return {"enum": list(self.choices)}
        if self.type == "boolean":
            return {"type": self.type}
        out: dict[str, Any] = {"type": self.type}
        if self.low is not None:
            out["exclusiveMinimum" if self.open_low else "minimum"] = self.low
        if self.high is not None:
            out["exclusiveMaximum" if self.open_high else "maximum"] = self.high
        return out


def _int(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


_FIELDS = (
    RecipeField("epochs", "integer", meaning="training epochs; the schedule spans all of them",
                low=1, high=MAX_EPOCHS),
    RecipeField("image_size", "integer", meaning="side in pixels every image is resized to (the "
                "decode cache is per size)", low=1, high=MAX_IMAGE_SIZE, plain_int=True),
    RecipeField("eval_metric", "choice", "top1", "the error a run is ranked by (top-1 or top-5) "
                "and picks its best epoch by", choices=EVAL_METRICS),
    RecipeField("batch_size", "integer", 128, "training examples per step", low=1,
                high=MAX_BATCH_SIZE),
    RecipeField("optimizer", "choice", "sgd", "the optimizer", choices=OPTIMIZERS),
    RecipeField("lr", "number", 0.1, "learning rate at `batch_size` (the peak lr for onecycle)",
                low=0, open_low=True),
    RecipeField("momentum", "number", 0.9, "SGD momentum (Adam and RMSprop keep torch's "
                "defaults)", low=0, high=1, open_high=True),
    RecipeField("nesterov", "boolean", True, "Nesterov momentum for SGD (only when momentum > 0)"),
    RecipeField("weight_decay", "number", 5e-5, "L2 weight decay on every parameter, BN and "
                "biases included", low=0),
    RecipeField("schedule", "choice", "cosine", "learning-rate schedule, stepped per iteration",
                choices=SCHEDULES),
    RecipeField("warmup_epochs", "number", 0.0, "linear warm-up, in epochs (fractions allowed)",
                low=0, high=MAX_EPOCHS, at_most="epochs"),
    RecipeField("label_smoothing", "number", 0.0, "label smoothing of the training loss", low=0,
                high=1, open_high=True),
    RecipeField("flip_prob", "number", 0.5, "probability of a horizontal flip per training image",
                low=0, high=1),
    RecipeField("crop_padding", "integer", None, "random pad-and-crop by up to this many pixels",
                "image_size // 8", low=0, high=MAX_IMAGE_SIZE),
    RecipeField("precision", "choice", "auto", "auto: bf16 autocast on CUDA, fp32 on the CPU",
                choices=PRECISIONS),
)
FIELDS: Mapping[str, RecipeField] = {f.name: f for f in _FIELDS}


def recipe_schema() -> dict[str, Any]:
    """`$defs/recipe/properties` of the spec schema: every field, in order."""
    return {f.name: f.schema() for f in _FIELDS}
