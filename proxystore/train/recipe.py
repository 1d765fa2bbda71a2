"""The recipe: everything about training that changes the result, as one frozen object.

A cell's effective recipe is its task's regime (epochs, image size, eval metric, ...) with the
candidate's hyperparameters laid over it. Only fields that change results belong here; how a run
executes (evaluation batch size, number of cells per GPU) does not, so it never splits a cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from proxystore.errors import SpecError
from proxystore.fingerprint import StableIdentity, fingerprint
from proxystore.train.fields import (  # noqa: F401 (the choices, where they always were)
    EVAL_METRICS,
    FIELDS,
    OPTIMIZERS,
    PRECISIONS,
    REQUIRED,
    SCHEDULES,
)


@dataclass(frozen=True)
class Recipe(StableIdentity):
    """How one cell is trained. SGD + momentum as seed 2; cosine is ours (seed 2 names none).

    Each field's type, limits and default are one row of `fields.FIELDS` (a test keeps the
    defaults below equal to it). `lr` is the learning rate at `batch_size`; `crop_padding` None
    means image_size // 8 pixels (4 at 32 px); `precision` "auto" is bf16 autocast on CUDA and
    fp32 on the CPU.

    Identity rules (docs/training.md): the fields below existed when recipes were first stored
    and are always fingerprinted (`FIRST_FIELDS`); a field added later must have a default that
    reproduces old results and is fingerprinted only when set to something else; a renamed field
    gets an entry in `RENAMED` (old name -> new name) so stored recipes and old specs still load.
    """

    FIRST_FIELDS = ("epochs", "image_size", "eval_metric", "batch_size", "optimizer", "lr",
                    "momentum", "nesterov", "weight_decay", "schedule", "warmup_epochs",
                    "label_smoothing", "flip_prob", "crop_padding", "precision")
    RENAMED: ClassVar[Mapping[str, str]] = {}  # old name -> current name; none yet

    epochs: int
    image_size: int
    eval_metric: str = "top1"
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-5
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    flip_prob: float = 0.5
    crop_padding: int | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.crop_padding is None:
            object.__setattr__(self, "crop_padding", max(0, self.image_size // 8))
        self.validate()

    def validate(self) -> None:
        """Raise SpecError naming the first field whose value is out of range (fields.FIELDS)."""
        values = {name: getattr(self, name) for name in FIELDS}
        for name, rule in FIELDS.items():
            problem = rule.problem(values[name], values)
            if problem is not None:
                raise SpecError(f"{name}: {problem}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every recipe field, for specs that override them."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_parts(cls, *parts: dict[str, Any], where: str = "recipe") -> Recipe:
        """Build a recipe from dicts laid over each other in order (task regime, then hparams).

        Args:
            parts: dicts of recipe fields; later ones override earlier ones.
            where: the spec path to name in errors (e.g. "candidates.lr-0.1").
        """
        merged: dict[str, Any] = {}
        for part in parts:
            try:
                merged.update(cls.current_names(part))
            except ValueError as error:
                raise SpecError(f"{where}.{error}") from None
        unknown = sorted(set(merged) - set(cls.field_names()))
        if unknown:
            raise SpecError(f"{where}.{unknown[0]}: unknown recipe field (known: "
                            f"{', '.join(cls.field_names())})")
        for key in (name for name, rule in FIELDS.items() if rule.type == "integer"):
            value = merged.get(key)
            if isinstance(value, float) and value.is_integer():
                merged[key] = int(value)
        missing = [k for k, rule in FIELDS.items() if rule.default is REQUIRED and k not in merged]
        if missing:
            raise SpecError(f"{where}.{missing[0]}: required")
        try:
            return cls(**merged)
        except SpecError as error:
            raise SpecError(f"{where}.{error}") from None
        except TypeError as error:
            raise SpecError(f"{where}: {error}") from None

    def replace(self, **changes: Any) -> Recipe:
        """Return a copy with `changes`; unknown fields fail (dataclasses.replace)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Recipe:
        """Rebuild a recipe from its stored canonical JSON, whichever release wrote it.

        Args:
            data: the canonical object (`recipes.spec`); old field names are read as renamed.
        """
        return cls.from_parts(data, where="stored recipe")

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON."""
        return fingerprint(self.canonical())
