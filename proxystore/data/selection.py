"""Which training examples each subset kind keeps: pure functions of labels, scores and a seed.

Every function receives the parent's training examples (`indices`, and their `labels`) and
returns the kept indices, sorted. Which kind uses which function, and with which parameters, is
the table in `proxystore.data.kinds`; its `check_params` checks them (with `number`, `integer` and
`class_labels` here) before anything runs, so a bad declaration fails before any row is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proxystore.errors import DataError
from proxystore.limits import MAX_CLASSES, MAX_EXAMPLES, integer_in


def number(value: Any, what: str, low: float, high: float, open_low: bool = False,
           open_high: bool = False) -> float:
    """Return `value` as a float within the interval from `low` to `high` (open ends excluded),
    or raise DataError naming `what` and the interval, e.g. ``random fraction must lie in (0, 1]``.
    """
    interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be a number in {interval}, got {value!r}") from None
    below = result <= low if open_low else result < low
    above = result >= high if open_high else result > high
    if below or above or result != result:  # NaN is neither
        raise DataError(f"{what} must lie in {interval}, got {value!r}")
    return result


def integer(value: Any, what: str, minimum: int, maximum: int) -> int:
    """Return `value` as an int from `minimum` to `maximum` (integral floats too), or DataError."""
    whole = value
    if isinstance(value, float) and value.is_integer():
        whole = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        whole = int(value)  # from the command line
    if not integer_in(whole, minimum, maximum):
        raise DataError(f"{what} must be an integer from {minimum} to {maximum}, got {value!r}")
    return int(whole)


def _count(value: Any, what: str, minimum: int = 1, maximum: int = MAX_EXAMPLES) -> int:
    return integer(value, what, minimum, maximum)


def class_labels(value: Any) -> list[int]:
    """A list of distinct class labels (integers ≥ 0), sorted."""
    if integer_in(value):
        value = [value]  # one class, e.g. `--labels 3` on the command line
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise DataError(f"classes labels must be a list of class labels, got {value!r}")
    out = [_count(v, "a class label", minimum=0, maximum=MAX_CLASSES - 1) for v in value]
    if not out:
        raise DataError("classes labels must name at least one class")
    if len(set(out)) != len(out):
        raise DataError(f"classes labels must be distinct, got {list(value)!r}")
    return sorted(out)


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))


def random_subset(indices: np.ndarray, labels: np.ndarray, params: dict,
                  rng: np.random.Generator) -> np.ndarray:
    """A random fraction or count, optionally stratified (largest-remainder quotas per class)."""
    n = len(indices)
    count = params["count"] if "count" in params else max(1, _round(params["fraction"] * n))
    if count > n:
        raise DataError(f"random count {count} exceeds the {n} training examples available")
    if not params.get("stratified"):
        return np.sort(indices[rng.choice(n, size=count, replace=False)])
    classes, sizes = np.unique(labels, return_counts=True)
    quotas = sizes * count / n
    take = np.floor(quotas).astype(np.int64)
    remainder = count - int(take.sum())
    take[np.argsort(-(quotas - take), kind="stable")[:remainder]] += 1
    parts = [rng.permutation(indices[labels == c])[:t] for c, t in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(parts))


def choose_classes(labels: np.ndarray, params: dict, rng: np.random.Generator) -> np.ndarray:
    """The classes a `classes` subset keeps: k (or a fraction) chosen by seed, or the labels
    named; with `complement`, the others."""
    present = np.unique(labels)
    total = len(present)
    if "labels" in params:
        named = np.asarray(params["labels"], dtype=present.dtype)
        absent = sorted(set(named.tolist()) - set(present.tolist()))
        if absent:
            raise DataError(f"classes labels {absent} are not among the training examples' "
                            f"classes {present.tolist()}")
        if params.get("complement") and len(named) == total:
            raise DataError(f"cannot keep the complement of all {total} classes")
        return np.sort(np.setdiff1d(present, named) if params.get("complement") else named)
    k = params["k"] if "k" in params else max(1, _round(params["fraction"] * total))
    if k > total or (params.get("complement") and k == total):
        raise DataError(f"cannot keep {k} classes{' and their complement' if params.get('complement') else ''}: "  # noqa: E501
                        f"the training examples have {total} classes")
    order = rng.permutation(present)
    return np.sort(order[k:] if params.get("complement") else order[:k])


def per_class_subset(indices: np.ndarray, labels: np.ndarray, n: int,
                     rng: np.random.Generator) -> np.ndarray:
    """At most `n` training examples of each class, chosen by seed."""
    parts = [rng.permutation(indices[labels == c])[:n] for c in np.unique(labels)]
    return np.sort(np.concatenate(parts))


def balanced_subset(indices: np.ndarray, labels: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """Cap the most common class at the size of the second most common (seed 2, 6.1.6)."""
    classes, sizes = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        return np.sort(indices)
    order = np.argsort(-sizes, kind="stable")
    largest, cap = classes[order[0]], int(sizes[order[1]])
    keep = indices[labels != largest]
    capped = rng.permutation(indices[labels == largest])[:cap]
    return np.sort(np.concatenate([keep, capped]))


def quantile_subset(indices: np.ndarray, losses: np.ndarray, params: dict) -> np.ndarray:
    """Rank hardest (highest loss) to easiest, drop the hardest fraction, keep quantiles [a, b)."""
    order = np.lexsort((indices, -losses))  # ties broken by index, so the result is stable
    ranked = indices[order][_round(params["drop_hardest"] * len(indices)):]
    m = len(ranked)
    kept = ranked[_round(params["a"] * m):_round(params["b"] * m)]
    if len(kept) == 0:
        raise DataError(f"loss quantile [{params['a']}, {params['b']}] of {m} examples is empty")
    return np.sort(kept)
