"""`analyze` and `summary_text` against independent computations (scipy, numpy).

Intervals are checked by expanding each resample into the drawn candidates and calling
scipy.stats.spearmanr / numpy on it, with the same draws (stats.resample_counts over the sorted
candidates), so a wrong weighting, rank or percentile would show.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from analysis_data import fill
from scipy.stats import spearmanr

from proxystore.analysis import stats, views
from proxystore.analysis.analyzer import analyze, summary_text
from proxystore.analysis.bootstrap import GoodRule
from proxystore.analysis.importer import import_results
from proxystore.errors import NotFoundError

N_BOOT = 40


@pytest.fixture
def filled(db, tmp_path):  # type: ignore[no-untyped-def]
    cells, epochs = fill(db, tmp_path)
    return db, cells, epochs


def _means(cells: pd.DataFrame, column: str = "error") -> pd.DataFrame:
    return cells.groupby(["candidate", "task"])[column].mean().unstack().sort_index()


def _expanded(x: pd.Series, y: pd.Series, statistic, seed: int = 0) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Percentile interval of `statistic` over the expanded resamples of the sorted candidates."""
    candidates = sorted(x.index)
    counts = stats.resample_counts(len(candidates), N_BOOT, seed)
    both = (x.notna() & y.notna()).reindex(candidates).to_numpy()
    xs, ys = x.reindex(candidates).to_numpy(), y.reindex(candidates).to_numpy()
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in counts:
            take = np.repeat(np.arange(len(candidates))[both], row[both])
            if len(take) > 1 and np.ptp(xs[take]) > 0 and np.ptp(ys[take]) > 0:
                values.append(statistic(xs[take], ys[take]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _spearman(x, y) -> float:  # type: ignore[no-untyped-def]
    return float(spearmanr(x, y).statistic)


def test_apr_intervals_match_expanded_scipy_resamples(filled):
    db, cells, _ = filled
    means = _means(cells)
    result = analyze(db, "s", n_boot=N_BOOT, seed=0)
    apr = result["apr_correlations"]
    view = views.apr_correlations(db, "s")
    assert np.allclose(apr.spearman, view.spearman, equal_nan=True)
    assert (apr.spearman_low <= apr.spearman + 1e-12).all()
    for row in apr[apr.task_a.isin(["ref", "tgt_tie"]) & (apr.task_a < apr.task_b)].itertuples():
        low, high = _expanded(means[row.task_a], means[row.task_b], _spearman)
        assert row.spearman_low == pytest.approx(low, abs=1e-9)
        assert row.spearman_high == pytest.approx(high, abs=1e-9)
    x = result["imagenet_x_matches"].set_index("target").loc["tgt_tie"]
    common = means[["tgt_tie", "ref", "fam_10"]].notna().all(axis=1)
    low, high = _expanded(means.tgt_tie.where(common), means.fam_10, _spearman)
    assert (x.rho_match_low, x.rho_match_high) == pytest.approx((low, high), abs=1e-9)


def test_intervals_are_reproducible_by_seed(filled):
    db, _, _ = filled
    first = analyze(db, "s", n_boot=N_BOOT, seed=3)["apr_correlations"]
    again = analyze(db, "s", n_boot=N_BOOT, seed=3)["apr_correlations"]
    other = analyze(db, "s", n_boot=N_BOOT, seed=4)["apr_correlations"]
    assert first.equals(again)
    assert not np.allclose(first.spearman_low, other.spearman_low, equal_nan=True)


def test_depth_width_and_epoch_intervals_match_expanded_resamples(filled):
    db, cells, epochs = filled
    means = _means(cells)
    shapes = cells.groupby("candidate").cumulative_width.first().astype(float)
    result = analyze(db, "s", n_boot=N_BOOT)
    row = result["depth_width_correlations"].set_index("task").loc["ref"]
    low, high = _expanded(means["ref"], shapes.reindex(means.index), _spearman)
    assert (row.rho_cumulative_width_low, row.rho_cumulative_width_high) == pytest.approx(
        (low, high), abs=1e-9)
    per = epochs.groupby(["task", "epoch", "candidate"])[["x", "best"]].mean()
    frame = per.loc[("tgt_near", 2)].reindex(means.index)
    row = result["epoch_correlations"].set_index(["task", "epoch"]).loc[("tgt_near", 2)]
    assert (row.spearman_with_final_low, row.spearman_with_final_high) == pytest.approx(
        _expanded(frame.x, frame.best, _spearman), abs=1e-9)


def test_proxy_r2_interval_and_configurable_good_rule(filled):
    db, cells, _ = filled
    means = _means(cells, "best")  # seed 1 scores a run by its best epoch (section 3.2)
    rule = GoodRule(fraction_of_best=0.0, min_accuracy=0.45)
    quality = analyze(db, "s", n_boot=N_BOOT, good=rule)["proxy_quality"].set_index("proxy")
    row = quality.loc["px_tie"]
    target_acc, proxy_acc = 1 - means["tgt_tie"], 1 - means["px_tie"]
    both = target_acc.notna() & proxy_acc.notna()
    assert row.r2 == pytest.approx(np.corrcoef(proxy_acc[both], target_acc[both])[0, 1] ** 2)
    r2 = _expanded(proxy_acc, target_acc, lambda x, y: np.corrcoef(x, y)[0, 1] ** 2)
    assert (row.r2_low, row.r2_high) == pytest.approx(r2, abs=1e-9)
    good = both & (proxy_acc >= 0.45)
    assert row.n_good == good.sum() and 2 < good.sum() < both.sum()
    assert row.spearman_good == pytest.approx(_spearman(proxy_acc[good], target_acc[good]))
    default = analyze(db, "s", n_boot=0)["proxy_quality"]
    view = views.proxy_quality(db, "s")
    assert np.allclose(default.spearman_good, view.spearman_good, equal_nan=True)
    assert (default.n_good == view.n_good).all()


def test_seed_noise_is_the_mean_pairwise_seed_spearman(filled):
    db, cells, _ = filled
    noise = analyze(db, "s", n_boot=N_BOOT)["seed_noise"].set_index("task")
    assert set(noise.index) == {"ref", "tgt_near"}  # the only tasks with several seeds
    table = cells[cells.task == "ref"].pivot(index="candidate", columns="seed", values="error")
    rhos = []
    for s, t in [(0, 1), (0, 2), (1, 2)]:
        both = table[s].notna() & table[t].notna()
        rhos.append(_spearman(table[s][both], table[t][both]))
    rho = float(np.mean(rhos))
    k = table.notna().sum(axis=1).mean()
    assert noise.loc["ref", "seed_rho"] == pytest.approx(rho)
    assert noise.loc["ref", "reliability"] == pytest.approx(k * rho / (1 + (k - 1) * rho))
    assert noise.loc["ref", "n_seeds"] == 3
    assert noise.loc["ref", "n"] == (table.notna().sum(axis=1) >= 2).sum()


def test_cost_adjusted_r2_is_the_residual_against_a_cubic_in_cost(db, tmp_path):
    rng = np.random.default_rng(5)
    quality = rng.normal(size=30)
    rows, roles = [], {"full": "target"}
    for p, noise in enumerate([0.2, 0.5, 0.8, 1.2, 1.6, 2.5]):
        roles[f"p{p}"] = {"role": "proxy", "proxy_of": "full"}
        for c in range(30):
            rows.append({"candidate": f"c{c}", "task": f"p{p}", "seed": 0, "gpu_seconds": 1 + p,
                         "error": 0.5 + 0.05 * (quality[c] + noise * rng.normal())})
    rows += [{"candidate": f"c{c}", "task": "full", "seed": 0, "gpu_seconds": 10.0,
              "error": 0.5 + 0.05 * quality[c]} for c in range(30)]
    path = tmp_path / "proxies.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    import_results(db, path, "cost", roles=roles)
    frame = analyze(db, "cost", n_boot=N_BOOT)["proxy_strategies"]  # one target: one per proxy
    coef = np.polyfit(frame.relative_cost, frame.r2, 3)
    expected = frame.r2 - np.polyval(coef, frame.relative_cost)
    assert np.allclose(frame.cost_adjusted_r2, expected, atol=1e-9)
    assert np.abs(expected).max() > 1e-3  # six proxies: the cubic does not fit exactly
    assert (frame.cost_adjusted_r2_low <= frame.cost_adjusted_r2_high).all()
    assert np.allclose(frame.relative_cost, (1 + np.arange(6)) / 10)


def test_summary_text_names_targets_matches_and_proxies(filled):
    db, _, _ = filled
    text = summary_text(db, "s")
    assert "tgt_tie: ref" in text and "fam_10" in text
    rho = views.imagenet_x_matches(db, "s").set_index("target").loc["tgt_tie", "rho_match"]
    assert f"fam_10 {rho:.2f}" in text
    assert "px_tie -> tgt_tie" in text and "px_untimed -> tgt_near" in text


def test_unknown_study_is_a_readable_error(filled):
    db, _, _ = filled
    with pytest.raises(NotFoundError, match="no study named 'nope'.*s"):
        analyze(db, "nope", n_boot=0)
    assert not math.isnan(analyze(db, "s", n_boot=0)["apr_correlations"].spearman.iloc[0])
