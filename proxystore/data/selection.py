"""Which training examples each subset kind keeps: pure functions of labels, scores and a seed.

Every function receives the parent's training examples (`indices`, and their `labels`) and
returns the kept indices, sorted. Parameters are checked by `check_params` before anything runs,
so a bad declaration fails before any row is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proxystore.errors import DataError
from proxystore.limits import MAX_CLASSES, MAX_EXAMPLES, integer_in

KINDS = ("full", "random", "classes", "per_class", "balanced", "loss_quantile")
SEEDED = ("random", "classes", "per_class", "balanced")
PARAMS: dict[str, tuple[str, ...]] = {
    "full": (),
    "random": ("fraction", "count", "stratified"),
    "classes": ("k", "fraction", "labels", "complement"),
    "per_class": ("n", "val_n"),
    "balanced": (),
    "loss_quantile": ("a", "b", "drop_hardest", "scorer_run"),
}


def _fraction(value: Any, what: str) -> float:
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be a number in (0, 1], got {value!r}") from None
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"{what} must lie in (0, 1], got {value!r}")
    return fraction


def integer(value: Any, what: str, minimum: int, maximum: int) -> int:
    """Return `value` as an int from `minimum` to `maximum` (integral floats too), or DataError."""
    number = value
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)  # from the command line
    if not integer_in(number, minimum, maximum):
        raise DataError(f"{what} must be an integer from {minimum} to {maximum}, got {value!r}")
    return int(number)


def _count(value: Any, what: str, minimum: int = 1, maximum: int = MAX_EXAMPLES) -> int:
    return integer(value, what, minimum, maximum)


def _one_of(params: dict, kind: str, *names: str) -> None:
    if sum(params.get(name) is not None for name in names) != 1:
        raise DataError(f"a {kind} subset takes exactly one of {' and '.join(names)}")


def _labels(value: Any) -> list[int]:
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


def check_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return `params` checked and normalized (defaults filled in), or raise `DataError`."""
    if kind not in KINDS:
        raise DataError(f"unknown subset kind {kind!r}: choose one of {', '.join(KINDS)}")
    given = {k: v for k, v in params.items() if v is not None}
    unknown = sorted(set(given) - set(PARAMS[kind]))
    if unknown:
        raise DataError(f"a {kind} subset takes no parameter {', '.join(unknown)} "
                        f"(it takes: {', '.join(PARAMS[kind]) or 'none'})")
    out: dict[str, Any] = {}
    if kind == "random":
        _one_of(given, kind, "fraction", "count")
        if "fraction" in given:
            out["fraction"] = _fraction(given["fraction"], "random fraction")
        else:
            out["count"] = _count(given["count"], "random count")
        out["stratified"] = bool(given.get("stratified", False))
    elif kind == "classes":
        _one_of(given, kind, "k", "fraction", "labels")
        if "k" in given:
            out["k"] = _count(given["k"], "number of classes k", maximum=MAX_CLASSES)
        elif "labels" in given:
            out["labels"] = _labels(given["labels"])
        else:
            out["fraction"] = _fraction(given["fraction"], "fraction of classes")
        out["complement"] = bool(given.get("complement", False))
    elif kind == "per_class":
        if "n" not in given:
            raise DataError("a per_class subset needs n, the cap of training examples per class")
        out["n"] = _count(given["n"], "per-class cap n")
        if "val_n" in given:
            out["val_n"] = _count(given["val_n"], "per-class validation cap val_n")
    elif kind == "loss_quantile":
        if "scorer_run" not in given:
            raise DataError("a loss_quantile subset needs scorer_run, the run whose losses rank it")
        a, b = float(given.get("a", 0.0)), float(given.get("b", 1.0))
        drop = float(given.get("drop_hardest", 0.0))
        if not 0.0 <= a < b <= 1.0:
            raise DataError(f"loss quantile range needs 0 ≤ a < b ≤ 1, got a={a}, b={b}")
        if not 0.0 <= drop < 1.0:
            raise DataError(f"drop_hardest must lie in [0, 1), got {drop}")
        out.update(a=a, b=b, drop_hardest=drop, scorer_run=_count(given["scorer_run"],
                                                                 "scorer_run"))
    return out


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


def select(kind: str, params: dict, seed: int | None, indices: np.ndarray, labels: np.ndarray,
           losses: np.ndarray | None = None) -> np.ndarray:
    """Return the training indices a subset of `kind` keeps out of its parent's `indices`."""
    rng = np.random.default_rng(seed)
    if kind == "full":
        return np.sort(indices)
    if kind == "random":
        return random_subset(indices, labels, params, rng)
    if kind == "classes":
        return np.sort(indices[np.isin(labels, choose_classes(labels, params, rng))])
    if kind == "per_class":
        return per_class_subset(indices, labels, params["n"], rng)
    if kind == "balanced":
        return balanced_subset(indices, labels, rng)
    assert losses is not None
    return quantile_subset(indices, losses, params)
