"""Vectorised correlation statistics on bootstrap resamples of candidates.

A resample is a row of counts: how many times each candidate was drawn. Statistics use the
counts as weights, which is exactly the statistic of the expanded resample: the average rank of a
value is (draws strictly below it) + (draws tied with it + 1) / 2, so one sort of the original
values serves all resamples and nothing is sorted per resample. Row 0 of every count matrix can be
all ones, which gives the plain (scipy-equal) estimate.
"""

from __future__ import annotations

import numpy as np

CI_LEVEL = 0.95


def resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Return an (n_boot, n) int matrix of draw counts: n draws with replacement per row.

    Args:
        n: number of candidates.
        n_boot: number of resamples.
        seed: seed of numpy's default generator (same seed, same resamples).
    """
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_boot, n))
    offsets = (np.arange(n_boot) * n)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=n_boot * n).reshape(n_boot, n)


def weighted_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return the average ranks (1-based, ties averaged) of `values` in every resample.

    Args:
        values: (n,) values without NaN.
        counts: (B, n) draw counts; ranks of undrawn values are meaningless (weight 0).
    """
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    group_of = np.cumsum(np.r_[True, sorted_values[1:] != sorted_values[:-1]]) - 1
    group_counts = np.add.reduceat(counts[:, order], starts, axis=1).astype(float)
    below = np.cumsum(group_counts, axis=1) - group_counts
    ranks_sorted = (below + (group_counts + 1.0) / 2.0)[:, group_of]
    ranks = np.empty_like(ranks_sorted)
    ranks[:, order] = ranks_sorted
    return ranks


def weighted_pearson(x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return the Pearson r of each resample (NaN where either side is constant).

    Args:
        x: (n,) or (B, n) values.
        y: (n,) or (B, n) values.
        counts: (B, n) weights.
    """
    w = counts.astype(float)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (w * x).sum(axis=1) / total
        my = (w * y).sum(axis=1) / total
        dx = x - mx[:, None]
        dy = y - my[:, None]
        cov = (w * dx * dy).sum(axis=1)
        r = cov / np.sqrt((w * dx * dx).sum(axis=1) * (w * dy * dy).sum(axis=1))
    drawn = counts > 0
    xb, yb = np.broadcast_to(x, w.shape), np.broadcast_to(y, w.shape)
    flat_x = np.where(drawn, xb, np.inf).min(axis=1) == np.where(drawn, xb, -np.inf).max(axis=1)
    flat_y = np.where(drawn, yb, np.inf).min(axis=1) == np.where(drawn, yb, -np.inf).max(axis=1)
    r[flat_x | flat_y | (total < 2)] = np.nan
    return np.clip(r, -1.0, 1.0)


def weighted_spearman(x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return Spearman's rho (average ranks for ties) of each resample of paired values.

    Args:
        x: (n,) values without NaN.
        y: (n,) values without NaN.
        counts: (B, n) draw counts.
    """
    return weighted_pearson(weighted_ranks(x, counts), weighted_ranks(y, counts), counts)


def with_estimate(counts: np.ndarray) -> np.ndarray:
    """Prepend a row of ones (the full sample) to resample counts."""
    return np.vstack([np.ones((1, counts.shape[1]), dtype=counts.dtype), counts])


def interval(samples: np.ndarray) -> tuple[float, float]:
    """Return the percentile interval at CI_LEVEL of bootstrap samples, ignoring NaN."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return (np.nan, np.nan)
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def spearman_brown(rho: float, k: float) -> float:
    """Return the reliability of a mean of k measurements whose pairwise reliability is rho."""
    if not np.isfinite(rho) or k <= 1:
        return rho
    return k * rho / (1 + (k - 1) * rho)
