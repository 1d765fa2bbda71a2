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
    """Which candidates are "good" for spearman_good (seed 1, footnote 10).

    Good: proxy accuracy >= max(min_accuracy, fraction_of_best x the best proxy accuracy), and,
    when `top` is set, among the `top` best (ties kept). A study's `analysis: {good: ...}` picks
    one of min_accuracy X, relative_to_best F (the default, 0.95) or top K; the views apply it
    (analysis_settings) and `analyze` applies the same or any other.
    """

    fraction_of_best: float = 0.95
    min_accuracy: float = 0.0
    top: int | None = None

    @classmethod
    def from_settings(cls, rule: str, value: float) -> GoodRule:
        """Return the rule a study setting names (min_accuracy, relative_to_best or top)."""
        if rule == "min_accuracy":
            return cls(fraction_of_best=0.0, min_accuracy=float(value))
        if rule == "top":
            return cls(fraction_of_best=0.0, top=int(value))
        return cls(fraction_of_best=float(value))

    def describe(self) -> str:
        """One phrase naming the rule, as `analyze` prints it."""
        parts = []
        if self.fraction_of_best > 0:
            parts.append(f"relative_to_best {self.fraction_of_best:g}")
        if self.min_accuracy > 0:
            parts.append(f"min_accuracy {self.min_accuracy:g}")
        if self.top is not None:
            parts.append(f"top {self.top}")
        return " and ".join(parts) or "all"

    def mask(self, proxy_accuracy: np.ndarray) -> np.ndarray:
        """Return which of these proxy accuracies are good."""
        return self.mask_drawn(proxy_accuracy, np.ones(len(proxy_accuracy), dtype=bool))

    def mask_drawn(self, proxy_accuracy: np.ndarray, drawn: np.ndarray) -> np.ndarray:
        """Return which drawn candidates are good, judged among the drawn ones only."""
        if not drawn.any():
            return drawn.copy()
        values = proxy_accuracy[drawn]
        threshold = max(self.min_accuracy, self.fraction_of_best * float(values.max()))
        good = drawn & (proxy_accuracy >= threshold)
        if self.top is not None:
            above = (values[None, :] > proxy_accuracy[:, None]).sum(axis=1)
            good &= above < self.top
        return good


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


def imagenet_x_samples(frame: pd.DataFrame, means: pd.DataFrame,
                       boot: Resamples) -> dict[str, list[np.ndarray]]:
    """Return rho_reference and rho_match samples of every imagenet_x_matches row.

    Both use the candidates with a result on the target, the reference and the match (as the
    view), so the two columns compare the same networks.
    """
    out: dict[str, list[np.ndarray]] = {"rho_reference": [], "rho_match": []}
    empty = np.full(boot.counts.shape[0], np.nan)
    for row in frame.itertuples():
        tasks = [t for t in (row.target, row.reference, row.match) if isinstance(t, str)]
        if row.target not in means.columns or any(t not in means.columns for t in tasks):
            out["rho_reference"].append(empty)
            out["rho_match"].append(empty)
            continue
        common = means[tasks].notna().all(axis=1)
        target = means[row.target].where(common)
        for column, other in (("rho_reference", row.reference), ("rho_match", row.match)):
            out[column].append(boot.spearman(target, means[other]) if isinstance(other, str)
                               else empty)
    return out


def imagenet_x_intervals(frame: pd.DataFrame, samples: dict[str, list[np.ndarray]]) -> None:
    """Add rho_reference/rho_match low/high to the imagenet_x_matches frame, in place."""
    for column, values in samples.items():
        _add_interval(frame, column, values)


def imagenet_x_summary_intervals(frame: pd.DataFrame,
                                 samples: dict[str, list[np.ndarray]]) -> None:
    """Add intervals to imagenet_x_summary: every target's rho from the same resamples.

    Per resample, the means over the targets that have both correlations in the full sample,
    their mean difference and the ratio of the means; the candidates are drawn once for all
    targets together, since the same networks appear in every column.
    """
    if frame.empty:
        return
    reference, match = np.array(samples["rho_reference"]), np.array(samples["rho_match"])
    used = np.isfinite(reference[:, 0]) & np.isfinite(match[:, 0])
    with warnings.catch_warnings():  # a resample where a target's rho is undefined
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_ref = np.nanmean(reference[used], axis=0) if used.any() else np.full(1, np.nan)
        mean_match = np.nanmean(match[used], axis=0) if used.any() else np.full(1, np.nan)
        difference = (np.nanmean(match[used] - reference[used], axis=0) if used.any()
                      else np.full(1, np.nan))
        ratio = np.where(mean_ref != 0, mean_match / np.where(mean_ref != 0, mean_ref, 1), np.nan)
    for column, values in (("mean_rho_reference", mean_ref), ("mean_rho_match", mean_match),
                           ("mean_difference", difference), ("ratio", ratio)):
        _add_interval(frame, column, [values])


def depth_width_intervals(frame: pd.DataFrame, means: pd.DataFrame, shapes: pd.DataFrame,
                          boot: Resamples) -> None:
    """Add rho_cumulative_depth/width low/high to the depth_width_correlations frame."""
    known = shapes.dropna().reindex(means.index)
    for column in ("cumulative_depth", "cumulative_width"):
        _add_interval(frame, f"rho_{column}", [
            boot.spearman(means[task].where(known[column].notna()), known[column])
            for task in frame.task])


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
    reliability is the Spearman-Brown reliability R of the mean over k seeds (k = mean seeds per
    candidate). The ceiling of an observable correlation between two tasks is sqrt(R_a R_b)
    (`noise_ceilings`), not R alone.
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
                     "reliability": stats.spearman_brown(mean[0], k)})
    columns = ["task", "n_seeds", "n", "seed_rho", "seed_rho_low", "seed_rho_high", "reliability"]
    return pd.DataFrame(rows, columns=columns)


def noise_ceilings(frame: pd.DataFrame, noise: pd.DataFrame) -> None:
    """Add noise_ceiling sqrt(R_a R_b) and rho_disattenuated rho / ceiling to apr_correlations.

    R is each task's seed_noise reliability; NaN where either task has a single seed. The
    disattenuated rho estimates the correlation that noise-free rankings would show (Spearman's
    correction for attenuation); it can exceed 1 when the reliabilities are underestimated.
    """
    reliability = noise.set_index("task")["reliability"] if not noise.empty else pd.Series()
    r_a = frame.task_a.map(reliability).astype(float)
    r_b = frame.task_b.map(reliability).astype(float)
    with np.errstate(invalid="ignore"):
        ceiling = np.sqrt(r_a * r_b)
    frame["noise_ceiling"] = ceiling.where(ceiling > 0)
    frame["rho_disattenuated"] = frame.spearman / frame.noise_ceiling
