"""Identity by fingerprint: sha256 of an object's canonical JSON."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any


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
