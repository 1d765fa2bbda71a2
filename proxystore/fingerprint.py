"""Identity by fingerprint: sha256 of an object's canonical JSON."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, ClassVar


def canonical(obj: Any) -> Any:
    """Return `obj` as plain JSON types with numbers normalized, so equal values hash equally.

    Integral floats become ints (``10.0`` and ``10`` are the same epoch count), tuples become
    lists, dataclasses become dicts, numpy scalars become Python numbers.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return canonical(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return canonical(obj.item())
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"cannot fingerprint a non-finite number: {obj!r}")
        if obj.is_integer() and abs(obj) < 2**53:
            return int(obj)
        return float(repr(obj))
    raise TypeError(f"cannot fingerprint a value of type {type(obj).__name__}: {obj!r}")


def canonical_json(obj: Any) -> str:
    """Return the canonical JSON text of `obj`: sorted keys, no whitespace, normalized numbers."""
    return json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(obj: Any) -> str:
    """Return the sha256 hex digest of `obj`'s canonical JSON."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def short(fp: str, n: int = 10) -> str:
    """Return the first `n` characters of a fingerprint, for names and messages."""
    return fp[:n]


def _at_default(field: dataclasses.Field[Any], value: Any) -> bool:
    """True when `value` equals the field's default as canonical JSON (so 0 and 0.0 agree)."""
    if field.default is not dataclasses.MISSING:
        return bool(canonical(value) == canonical(field.default))
    if field.default_factory is not dataclasses.MISSING:
        return bool(canonical(value) == canonical(field.default_factory()))
    return False


class StableIdentity:
    """A frozen dataclass whose fingerprint survives added and renamed fields (docs/training.md).

    `FIRST_FIELDS` are the canonical keys of the release that first stored the object: they are
    always written, so every fingerprint stored by that release holds. A field added later is
    written only when it differs from its default, so a default that reproduces old results keeps
    old fingerprints. `RENAMED` maps an old canonical key to the field's current name: the
    canonical form keeps the old key and loading accepts both.
    """

    FIRST_FIELDS: ClassVar[tuple[str, ...]] = ()
    RENAMED: ClassVar[Mapping[str, str]] = {}

    def canonical(self) -> dict[str, Any]:
        """The canonical JSON object: first-release keys always, later fields unless defaulted."""
        old_key = {new: old for old, new in self.RENAMED.items()}
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            key = old_key.get(field.name, field.name)
            value = getattr(self, field.name)
            if key in self.FIRST_FIELDS or not _at_default(field, value):
                out[key] = value
        return dict(canonical(out))

    @classmethod
    def current_names(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Return `data` with renamed (old) keys under their current names.

        Raises:
            ValueError: when `data` names one field by both its old and its current name.
        """
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = cls.RENAMED.get(key, key)
            if name in out:
                raise ValueError(f"{key}: names the same field as {name} (renamed); give one")
            out[name] = value
        return out
