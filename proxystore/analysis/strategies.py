"""Seed 1's (proxy datasets) statistics beyond the views: Table 2 intervals, cost adjustment,
best-configuration recovery and epoch order.

Every function works on the candidate x task matrix of run results (best-epoch errors, as
`analyzer.best_epoch_matrix` builds it) and, for intervals, on the study's `Resamples`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from proxystore.analysis import stats

if TYPE_CHECKING:
    from proxystore.analysis.bootstrap import GoodRule, Resamples

MIN_FIT_ROWS = 5  # a cubic with an intercept fits 4 rows exactly: no residual to speak of
MIN_GOOD_FOR_INTERVAL = 5  # fewer good configurations: no interval for spearman_good


def polynomial_residuals(cost: np.ndarray, r2: np.ndarray, degree: int) -> np.ndarray:
    """Return r2 minus its least-squares polynomial in cost, column by column.

    Args:
        cost: (rows,) relative costs.
        r2: (rows, samples) r² values; a column with a NaN gets NaN residuals.
        degree: the polynomial's degree, lowered to rows - 1 when there are fewer rows.
    """
    degree = min(int(degree), len(cost) - 1)
    design = np.vander(cost, degree + 1)
    residual = np.full_like(r2, np.nan, dtype=float)
    finite = np.isfinite(r2).all(axis=0)
    if finite.any() and len(cost):
        coef, *_ = np.linalg.lstsq(design, r2[:, finite], rcond=None)
        residual[:, finite] = r2[:, finite] - design @ coef
    residual[np.abs(residual) < 1e-12] = 0.0  # an exact fit (few rows) leaves rounding noise
    return residual


def _lasso_residuals(cost: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Residuals of r2 against the terms of cost, cost², cost³ that LassoCV keeps.

    Seed 1 chose its terms "by adding terms until they were given 0 coefficient by Lasso": the
    lasso selects, then the kept terms (and an intercept) are fitted by least squares.
    """
    from sklearn.linear_model import LassoCV
    from sklearn.preprocessing import StandardScaler

    features = np.column_stack([cost, cost**2, cost**3])
    lasso = LassoCV(cv=min(5, len(cost)), max_iter=1_000_000, random_state=0)
    lasso.fit(StandardScaler().fit_transform(features), r2)
    kept = np.abs(lasso.coef_) > 1e-12
    design = np.column_stack([features[:, kept], np.ones(len(cost))])
    coef, *_ = np.linalg.lstsq(design, r2, rcond=None)
    return r2 - design @ coef


def cost_adjusted_r2(r2: Any, relative_cost: Any, degree: int | str = 3) -> np.ndarray:
    """Return each row's cost-adjusted r²: its residual against a polynomial in relative cost.

    Seed 1 (section 3, footnote 12) fits r² on cost, cost² and cost³ over Table 2's strategies
    and reads each strategy's distance to the curve; its cubic was chosen with LassoCV.

    Args:
        r2: r² of each row (a strategy), 1-D.
        relative_cost: relative cost of each row, same length.
        degree: the polynomial degree (least squares with an intercept), or "lasso" for the
            cubic terms selected by scikit-learn's LassoCV (needs at least 3 rows).

    Raises:
        ValueError: the inputs differ in length, hold NaN, or `degree` is neither.
    """
    r2, cost = np.asarray(r2, dtype=float), np.asarray(relative_cost, dtype=float)
    if r2.ndim != 1 or r2.shape != cost.shape or not len(r2):
        raise ValueError("r2 and relative_cost must be 1-D and of the same, non-zero length")
    if not (np.isfinite(r2).all() and np.isfinite(cost).all()):
        raise ValueError("r2 and relative_cost must be finite numbers (drop rows with NaN)")
    if degree == "lasso":
        if len(r2) < 3:
            raise ValueError("degree='lasso' needs at least 3 rows")
        return _lasso_residuals(cost, r2)
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"degree must be a non-negative integer or 'lasso', got {degree!r}")
    return polynomial_residuals(cost, r2[:, None], int(degree))[:, 0]


def _weighted_z(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return z-scores (population std) of `values` under each row of weights; NaN if constant."""
    total = weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (weights * values).sum(axis=1, keepdims=True) / total
        spread = np.sqrt((weights * (values - mean) ** 2).sum(axis=1, keepdims=True) / total)
        z = (values - mean) / spread
    z[~(spread > 1e-12).ravel()] = np.nan
    return z


def _pair_parts(best: pd.DataFrame, target: str, proxy: str, boot: Resamples,
                rule: GoodRule) -> tuple[np.ndarray, ...] | None:
    """Return (zx, zy, weights, good) of one (target, proxy) over its candidates, per resample."""
    both = best[[target, proxy]].dropna()
    if len(both) < 2:
        return None
    weights = boot.counts[:, [boot.position[c] for c in both.index]].astype(float)
    proxy_acc = 1 - both[proxy].to_numpy(float)
    zx = _weighted_z(proxy_acc, weights)
    zy = _weighted_z(1 - both[target].to_numpy(float), weights)
    weights = np.where(np.isnan(zx) | np.isnan(zy), 0.0, weights)
    good = np.vstack([rule.mask_drawn(proxy_acc, row > 0) for row in weights])
    return zx, zy, weights, good


def strategy_samples(best: pd.DataFrame, pairs: list[tuple[str, str]], boot: Resamples,
                     rule: GoodRule) -> tuple[np.ndarray, np.ndarray, int]:
    """Return r² and spearman_good of one strategy on the full sample then each resample.

    Same definition as the proxy_strategies view: z-scores within each (target, proxy), pooled;
    the good set is chosen afresh in every resample (the drawn candidates' best sets the bar).
    Also returns n_good of the full sample.
    """
    parts = [p for p in (_pair_parts(best, t, x, boot, rule) for t, x in pairs) if p is not None]
    empty = np.full(boot.counts.shape[0], np.nan)
    if not parts:
        return empty, empty.copy(), 0
    zx, zy, weights, good = (np.hstack(column) for column in zip(*parts, strict=True))
    zx, zy = np.nan_to_num(zx), np.nan_to_num(zy)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = ((weights * zx * zy).sum(axis=1) ** 2
              / ((weights * zx * zx).sum(axis=1) * (weights * zy * zy).sum(axis=1)))
    good_weights = weights * good
    spearman = np.full(len(weights), np.nan)
    for b, row in enumerate(good_weights):
        take = row > 0
        if take.sum() >= 2:
            spearman[b] = stats.weighted_spearman(zx[b, take], zy[b, take], row[None, take])[0]
    return r2, spearman, int((good_weights[0] > 0).sum())


def quality_intervals(frame: pd.DataFrame, pair_lists: list[list[tuple[str, str]]],
                      best: pd.DataFrame, boot: Resamples, rule: GoodRule) -> list[np.ndarray]:
    """Set spearman_good/n_good under `rule` and add r² and spearman_good intervals, in place.

    Row i of `frame` pools the (target, proxy) pairs of `pair_lists[i]` (one pair: a
    proxy_quality row, where the pooled z-score r² is the squared Pearson r). spearman_good gets
    an interval only where n_good >= 5; interval_note says why not. Returns the r² samples.
    """
    r2_samples, good_samples, n_goods, notes = [], [], [], []
    for pairs in pair_lists:
        pairs = [(t, p) for t, p in pairs if t in best.columns and p in best.columns]
        r2, spearman, n_good = strategy_samples(best, pairs, boot, rule)
        r2_samples.append(r2)
        n_goods.append(n_good)
        enough = n_good >= MIN_GOOD_FOR_INTERVAL
        good_samples.append(spearman if enough else spearman[:1])
        notes.append("" if enough else f"no spearman_good interval: n_good {n_good} < "
                                        f"{MIN_GOOD_FOR_INTERVAL}")
    frame["good_rule"] = rule.describe()
    frame["spearman_good"] = [s[0] for s in good_samples]
    frame["n_good"] = n_goods
    _add(frame, "r2", r2_samples)
    _add(frame, "spearman_good", good_samples)
    frame["interval_note"] = notes
    return r2_samples


def strategy_pairs(frame: pd.DataFrame, tasks: pd.DataFrame) -> list[list[tuple[str, str]]]:
    """Return the (target, proxy) pairs of each proxy_strategies row's strategy."""
    proxies = tasks[tasks.role == "proxy"]
    return [list(zip(proxies.proxy_of[proxies.strategy == s], proxies.label[proxies.strategy == s],
                     strict=True)) for s in frame.strategy]


def _add(frame: pd.DataFrame, column: str, samples: list[np.ndarray]) -> None:
    bounds = [stats.interval(s[1:]) for s in samples]
    frame[f"{column}_low"] = [b[0] for b in bounds]
    frame[f"{column}_high"] = [b[1] for b in bounds]


def cost_adjusted_table(frame: pd.DataFrame, r2_samples: list[np.ndarray]) -> None:
    """Add cost_adjusted_r2 (+ low/high) to proxy_strategies: the cubic over its rows.

    Rows without r² or relative cost are left out of the fit (NaN); each resample refits the
    curve to that resample's r² values. Under MIN_FIT_ROWS rows the cubic passes through every
    point (each residual would be 0), so the column stays NaN.
    """
    ok = (frame.r2.notna() & frame.relative_cost.notna()).to_numpy()
    for suffix in ("", "_low", "_high"):
        frame[f"cost_adjusted_r2{suffix}"] = np.nan
    if ok.sum() < MIN_FIT_ROWS:
        return
    samples = np.vstack([r2_samples[i] for i in np.flatnonzero(ok)])
    samples[:, 0] = frame.r2.to_numpy(float)[ok]  # the estimate is the view's r2
    residual = polynomial_residuals(frame.relative_cost.to_numpy(float)[ok], samples, 3)
    rows = frame.index[ok]
    frame.loc[rows, "cost_adjusted_r2"] = residual[:, 0]
    bounds = [stats.interval(r[1:]) for r in residual]
    frame.loc[rows, "cost_adjusted_r2_low"] = [b[0] for b in bounds]
    frame.loc[rows, "cost_adjusted_r2_high"] = [b[1] for b in bounds]


def _pick(scores: pd.Series) -> str:
    """The candidate with the highest score; ties go to the first label (the index is sorted)."""
    return str(scores[scores == scores.max()].index.min())


def best_config_recovery(best: pd.DataFrame, tasks: pd.DataFrame) -> pd.DataFrame:
    """Return per proxy: does its best configuration win on the target too, and the regret.

    Seed 1, section 4: "All of these strategies recover the same best hyperparameters as the
    target task". recovered: the proxy's best reaches the target's best accuracy (ties count);
    regret: target accuracy of the target's best minus that of the proxy's best.
    """
    rows = []
    for task in tasks[tasks.role == "proxy"].itertuples():
        if task.label not in best.columns or task.proxy_of not in best.columns:
            continue
        both = 1 - best[[task.proxy_of, task.label]].dropna()
        if both.empty:
            continue
        proxy_best, target_best = _pick(both[task.label]), _pick(both[task.proxy_of])
        regret = both[task.proxy_of].max() - both.loc[proxy_best, task.proxy_of]
        rows.append({"strategy": task.strategy, "target": task.proxy_of, "proxy": task.label,
                     "proxy_best": proxy_best, "target_best": target_best,
                     "recovered": bool(regret <= 1e-12), "regret": float(regret),
                     "n": len(both)})
    columns = ["strategy", "target", "proxy", "proxy_best", "target_best", "recovered", "regret",
               "n"]
    return pd.DataFrame(rows, columns=columns)


def same_order_probability(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Return P(two random candidates keep their order from x to y) and the number of pairs.

    A pair tied on either side counts one half (a coin flip picks the winner).
    """
    n = len(x)
    if n < 2:
        return float("nan"), 0
    i, j = np.triu_indices(n, k=1)
    agree = np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
    return float(np.where(agree > 0, 1.0, np.where(agree < 0, 0.0, 0.5)).mean()), len(i)


def _fewer_epochs_of_target(task: Any, by_label: pd.DataFrame) -> bool:
    """Whether a proxy trains its target's data for fewer epochs (an epoch proxy).

    Same data: the same subset, or (imported tasks, each with a subset of its own) the same
    known train count and class count.
    """
    if task.proxy_of not in by_label.index or pd.isna(task.epochs):
        return False
    target = by_label.loc[task.proxy_of]
    same_subset = task.subset_id == target.subset_id or (
        pd.notna(task.train_count) and task.train_count == target.train_count
        and task.num_classes == target.num_classes)
    return bool(same_subset and pd.notna(target.epochs) and task.epochs < target.epochs)


def epoch_order(best: pd.DataFrame, tasks: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Return how often two configurations keep their order from an epoch proxy to the result.

    Seed 1, section 4 (72 % after 1 epoch, 81 % after 10, 96 % after 15): the target's own runs
    after k epochs (from run_epochs), and every proxy that trains the target's subset for fewer
    epochs. Both sides are means over seeds; higher accuracy is lower error.
    """
    rows = []
    targets = set(tasks.label[tasks.role == "target"])
    by_label = tasks.set_index("label")
    for (task, epoch), group in epochs[epochs.task.isin(targets)].groupby(["task", "epoch"]):
        p, n_pairs = same_order_probability(group.x.to_numpy(float), group.y.to_numpy(float))
        rows.append({"proxy": f"{task} after epoch {epoch}", "target": task, "epochs": epoch,
                     "p_same_order": p, "n_pairs": n_pairs})
    for task in tasks[tasks.role == "proxy"].itertuples():
        if not (_fewer_epochs_of_target(task, by_label) and task.label in best.columns
                and task.proxy_of in best.columns):
            continue
        both = best[[task.label, task.proxy_of]].dropna()
        p, n_pairs = same_order_probability(both[task.label].to_numpy(float),
                                            both[task.proxy_of].to_numpy(float))
        rows.append({"proxy": task.label, "target": task.proxy_of, "epochs": int(task.epochs),
                     "p_same_order": p, "n_pairs": n_pairs})
    return pd.DataFrame(rows, columns=["proxy", "target", "epochs", "p_same_order", "n_pairs"])

