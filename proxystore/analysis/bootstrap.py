"""Bootstrap confidence intervals for the views' correlations, one function per view.

Every function takes the study's candidate resamples (`Resamples`) so that all statistics of one
`analyze` call see the same resampled candidate sets; a statistic over a subset of candidates
(the pair's common ones, the good ones) uses the draws of that subset.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from proxystore.analysis import stats


@dataclass(frozen=True)
class GoodRule:
    """Which candidates are "good" for spearman_good: proxy accuracy >= max(min, fraction x best).

    The SQL view proxy_quality applies the default (analysis_settings); `analyze` applies any.
    """

    fraction_of_best: float = 0.95
    min_accuracy: float = 0.0

    def mask(self, proxy_accuracy: np.ndarray) -> np.ndarray:
        """Return which of these proxy accuracies are good."""
        threshold = max(self.min_accuracy, self.fraction_of_best * float(proxy_accuracy.max()))
        return proxy_accuracy >= threshold


class Resamples:
    """Draw counts of a study's candidates: row 0 the full sample, then n_boot resamples.

    Column j of `counts` is `candidates[j]`; `analyze` passes the candidates sorted, so the
    resamples are `stats.resample_counts(len(candidates), n_boot, seed)` over that order.
    """

    def __init__(self, candidates: list[str], n_boot: int, seed: int) -> None:
        self.candidates = list(candidates)
        self.position = {c: i for i, c in enumerate(self.candidates)}
        counts = stats.resample_counts(len(self.candidates), n_boot, seed)
        self.counts = stats.with_estimate(counts)

    def spearman(self, x: pd.Series, y: pd.Series) -> np.ndarray:
        """Return rho on the full sample then each resample, over candidates with both values."""
        both = x.notna() & y.notna()
        if both.sum() < 2:
            return np.full(self.counts.shape[0], np.nan)
        cols = [self.position[c] for c in x.index[both]]
        return stats.weighted_spearman(x[both].to_numpy(float), y[both].to_numpy(float),
                                       self.counts[:, cols])

    def pearson(self, x: pd.Series, y: pd.Series) -> np.ndarray:
        """Return Pearson r on the full sample then each resample (candidates with both)."""
        both = x.notna() & y.notna()
        if both.sum() < 2:
            return np.full(self.counts.shape[0], np.nan)
        cols = [self.position[c] for c in x.index[both]]
        return stats.weighted_pearson(x[both].to_numpy(float), y[both].to_numpy(float),
                                      self.counts[:, cols])


def _add_interval(frame: pd.DataFrame, column: str, samples: list[np.ndarray]) -> None:
    bounds = [stats.interval(s[1:]) for s in samples]
    frame[f"{column}_low"] = [b[0] for b in bounds]
    frame[f"{column}_high"] = [b[1] for b in bounds]


def apr_samples(means: pd.DataFrame, boot: Resamples) -> dict[tuple[str, str], np.ndarray]:
    """Return rho samples for every ordered pair of tasks (columns of `means`)."""
    out: dict[tuple[str, str], np.ndarray] = {}
    for a, b in itertools.combinations(sorted(means.columns), 2):
        out[(a, b)] = out[(b, a)] = boot.spearman(means[a], means[b])
    return out


def apr_intervals(frame: pd.DataFrame, samples: dict[tuple[str, str], np.ndarray]) -> None:
    """Add spearman_low/high to the apr_correlations frame, in place."""
    pairs = zip(frame.task_a, frame.task_b, strict=True)
    _add_interval(frame, "spearman", [samples[pair] for pair in pairs])


def imagenet_x_intervals(frame: pd.DataFrame,
                         samples: dict[tuple[str, str], np.ndarray]) -> None:
    """Add rho_reference/rho_match low/high to the imagenet_x_matches frame, in place."""
    empty = np.full(1, np.nan)
    for column, other in (("rho_reference", "reference"), ("rho_match", "match")):
        _add_interval(frame, column, [samples.get((t, o), empty) if isinstance(o, str) else empty
                                      for t, o in zip(frame.target, frame[other], strict=True)])


def depth_width_intervals(frame: pd.DataFrame, means: pd.DataFrame, shapes: pd.DataFrame,
                          boot: Resamples) -> None:
    """Add rho_cumulative_depth/width low/high to the depth_width_correlations frame."""
    known = shapes.dropna().reindex(means.index)
    for column in ("cumulative_depth", "cumulative_width"):
        _add_interval(frame, f"rho_{column}", [
            boot.spearman(means[task].where(known[column].notna()), known[column])
            for task in frame.task])


def proxy_quality_intervals(frame: pd.DataFrame, means: pd.DataFrame, boot: Resamples,
                            rule: GoodRule) -> dict[str, np.ndarray]:
    """Recompute spearman_good/n_good under `rule` and add r2 and spearman_good intervals.

    `means` holds seed 1's run results (best-epoch errors, `analyzer.best_epoch_matrix`).
    Returns the r2 samples per proxy (for the cost adjustment).
    """
    r2_samples, good_samples, n_good = {}, [], []
    for target, proxy in zip(frame.target, frame.proxy, strict=True):
        both = means[[target, proxy]].dropna()
        proxy_acc, target_acc = 1 - both[proxy], 1 - both[target]
        r2_samples[proxy] = boot.pearson(proxy_acc, target_acc) ** 2
        good = rule.mask(proxy_acc.to_numpy())
        n_good.append(int(good.sum()))
        good_samples.append(boot.spearman(proxy_acc[good], target_acc[good]))
    frame["spearman_good"] = [s[0] for s in good_samples]
    frame["n_good"] = n_good
    _add_interval(frame, "r2", [r2_samples[p] for p in frame.proxy])
    _add_interval(frame, "spearman_good", good_samples)
    return r2_samples


def cost_adjusted(frame: pd.DataFrame, r2_samples: dict[str, np.ndarray]) -> None:
    """Add cost_adjusted_r2 (+ low/high): residual of r2 against a cubic in relative cost.

    The cubic is fitted over the study's proxies with both numbers (seed 1); with fewer than five
    proxies the degree drops to (proxies - 1), so one proxy gets residual 0. Each resample refits
    the curve to that resample's r2 values.
    """
    ok = (frame.r2.notna() & frame.relative_cost.notna()).to_numpy()
    frame["cost_adjusted_r2"] = np.nan
    frame["cost_adjusted_r2_low"] = np.nan
    frame["cost_adjusted_r2_high"] = np.nan
    if not ok.any():
        return
    cost = frame.relative_cost.to_numpy(float)[ok]
    degree = min(3, len(cost) - 1)
    design = np.vander(cost, degree + 1)
    r2 = np.vstack([r2_samples[p] for p in frame.proxy[ok]])  # (proxies, 1 + n_boot)
    finite = np.isfinite(r2).all(axis=0)
    residual = np.full_like(r2, np.nan)
    if finite.any():
        coef, *_ = np.linalg.lstsq(design, r2[:, finite], rcond=None)
        residual[:, finite] = r2[:, finite] - design @ coef
    residual[np.abs(residual) < 1e-12] = 0.0  # an exact fit (few proxies) leaves rounding noise
    rows = np.flatnonzero(ok)
    frame.loc[frame.index[rows], "cost_adjusted_r2"] = residual[:, 0]
    for i, row in enumerate(rows):
        low, high = stats.interval(residual[i, 1:])
        frame.loc[frame.index[row], ["cost_adjusted_r2_low", "cost_adjusted_r2_high"]] = [low, high]


def epoch_intervals(frame: pd.DataFrame, epochs: pd.DataFrame, boot: Resamples) -> None:
    """Add spearman_with_final low/high to the epoch_correlations frame."""
    groups = dict(list(epochs.groupby(["task", "epoch"])))
    out = []
    for task, epoch in zip(frame.task, frame.epoch, strict=True):
        group = groups[(task, epoch)].set_index("candidate")
        out.append(boot.spearman(group.x, group.y))
    _add_interval(frame, "spearman_with_final", out)


def seed_noise(cells: pd.DataFrame, boot: Resamples) -> pd.DataFrame:
    """Return per task with several seeds how much of its ranking is seed noise.

    seed_rho is the mean over seed pairs of Spearman rho between the candidates' errors with one
    seed and with the other (candidates that have both): the reliability of a one-seed ranking.
    ceiling is the Spearman-Brown reliability of the mean over k seeds (k = mean seeds per
    candidate), an upper bound on how well any other ranking can agree with this task's.
    """
    rows = []
    for task, group in cells.groupby("task"):
        table = group.pivot_table(index="candidate", columns="seed", values="error")
        if table.shape[1] < 2:
            continue
        pairs = [boot.spearman(table[s], table[t])
                 for s, t in itertools.combinations(table.columns, 2)
                 if (table[s].notna() & table[t].notna()).sum() >= 2]
        if not pairs:
            continue
        with warnings.catch_warnings():  # a resample where every seed pair is constant
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(np.vstack(pairs), axis=0)
        k = float(table.notna().sum(axis=1).mean())
        low, high = stats.interval(mean[1:])
        rows.append({"task": task, "n_seeds": table.shape[1],
                     "n": int((table.notna().sum(axis=1) >= 2).sum()), "seed_rho": mean[0],
                     "seed_rho_low": low, "seed_rho_high": high,
                     "ceiling": stats.spearman_brown(mean[0], k)})
    columns = ["task", "n_seeds", "n", "seed_rho", "seed_rho_low", "seed_rho_high", "ceiling"]
    return pd.DataFrame(rows, columns=columns)
