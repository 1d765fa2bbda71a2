"""`analyze`: the views' tables with bootstrap intervals, cost-adjusted r² and seed noise.

Rendering lives in proxystore.analysis.render; its names stay importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from proxystore.analysis import bootstrap, strategies, views
from proxystore.analysis.bootstrap import GoodRule, Resamples
from proxystore.analysis.render import render_analysis, summary_text
from proxystore.db import Database

__all__ = ["TABLES", "Analysis", "analyze", "best_epoch_matrix", "candidate_matrix",
           "missing_warning", "missing_warnings", "render_analysis", "summary_text"]
TABLES = ("apr_correlations", "imagenet_x_matches", "imagenet_x_summary",
          "depth_width_correlations", "proxy_quality", "proxy_strategies", "best_config_recovery",
          "epoch_correlations", "epoch_order", "seed_noise")
VIEW_TABLES = ("apr_correlations", "imagenet_x_matches", "imagenet_x_summary",
               "depth_width_correlations", "proxy_quality", "proxy_strategies",
               "epoch_correlations")


@dataclass
class Analysis:
    """The result of `analyze`: one DataFrame per table (see TABLES), without the study column."""

    study: str
    n_boot: int
    seed: int
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def candidate_matrix(candidate_errors: pd.DataFrame) -> pd.DataFrame:
    """Return the candidate x task matrix of mean errors (NaN where a candidate lacks a task)."""
    if candidate_errors.empty:
        return pd.DataFrame()
    return candidate_errors.pivot(index="candidate", columns="task", values="error")


def best_epoch_matrix(cell_errors: pd.DataFrame) -> pd.DataFrame:
    """Return the candidate x task matrix of seed 1's run results, means over seeds.

    Seed 1 scores a run by its best epoch: a cell's best-epoch error, or its final error where the
    run recorded no best (imported results); as the proxy_quality view does.
    """
    if cell_errors.empty:
        return pd.DataFrame()
    result = cell_errors.best_error.fillna(cell_errors.error)
    return (cell_errors.assign(result=result)
            .groupby(["candidate", "task"])["result"].mean().unstack())


def analyze(db: Database | str | None, study: str, n_boot: int = 1000, seed: int = 0,
            good: GoodRule | None = None) -> Analysis:
    """Return the study's analysis tables with bootstrap 95 % intervals for every correlation.

    Args:
        db: an open Database, or a URL / SQLite path.
        study: the study's name.
        n_boot: bootstrap resamples of the candidates (0: estimates only, intervals NaN).
        seed: seed of the resampling, so the intervals are reproducible.
        good: the good-candidate rule of spearman_good (default: the study's `analysis: good`
            setting, else relative_to_best 0.95).
    """
    database = views.as_database(db)
    views.study_exists(database, study)
    settings = views.analysis_settings(database, study)
    good = good or GoodRule.from_settings(settings.good_rule, settings.good_value)
    means = candidate_matrix(views.candidate_errors(database, study))
    boot = Resamples(list(means.index), n_boot, seed)
    tables = {name: views.view(database, name, study).drop(columns="study")
              for name in VIEW_TABLES}
    cells = views.cell_errors(database, study)
    tables["seed_noise"] = bootstrap.seed_noise(cells, boot)
    _correlations(database, study, tables, means, boot)
    best = best_epoch_matrix(cells).reindex(index=means.index, columns=means.columns)
    tasks, epochs = views.study_tasks(database, study), views.epoch_errors(database, study)
    _proxies(tasks, tables, best, boot, good)
    tables["epoch_order"] = strategies.epoch_order(best, tasks, epochs)
    bootstrap.epoch_intervals(tables["epoch_correlations"], epochs, boot)
    return Analysis(study=study, n_boot=n_boot, seed=seed,
                    tables={name: tables[name] for name in TABLES})


def _correlations(database: Database, study: str, tables: dict[str, pd.DataFrame],
                  means: pd.DataFrame, boot: Resamples) -> None:
    """Add the intervals of the APR, ImageNet-X and depth/width tables, and the noise ceiling."""
    apr = bootstrap.apr_samples(means, boot)
    bootstrap.apr_intervals(tables["apr_correlations"], apr)
    bootstrap.noise_ceilings(tables["apr_correlations"], tables["seed_noise"])
    matches = bootstrap.imagenet_x_samples(tables["imagenet_x_matches"], means, boot)
    bootstrap.imagenet_x_intervals(tables["imagenet_x_matches"], matches)
    bootstrap.imagenet_x_summary_intervals(tables["imagenet_x_summary"], matches)
    shapes = views.candidate_shapes(database, study).set_index("candidate")
    bootstrap.depth_width_intervals(tables["depth_width_correlations"], means, shapes, boot)


def _proxies(tasks: pd.DataFrame, tables: dict[str, pd.DataFrame], best: pd.DataFrame,
             boot: Resamples, good: GoodRule) -> None:
    """Add seed 1's intervals: per-target proxy quality, Table 2's strategies and their cost
    adjustment (fitted over strategy rows, as Table 2), and best-configuration recovery."""
    quality = tables["proxy_quality"]
    strategies.quality_intervals(quality, [[(t, p)] for t, p in zip(
        quality.target, quality.proxy, strict=True)], best, boot, good)
    pooled = tables["proxy_strategies"]
    r2 = strategies.quality_intervals(pooled, strategies.strategy_pairs(pooled, tasks), best,
                                      boot, good)
    strategies.cost_adjusted_table(pooled, r2)
    tables["best_config_recovery"] = strategies.best_config_recovery(best, tasks)


def missing_warning(name: str, frame: pd.DataFrame) -> str | None:
    """Return the warning line of one table whose rows miss candidates, else None."""
    if "n_missing" not in frame.columns or not (frame.n_missing > 0).any():
        return None
    short = frame[frame.n_missing > 0]
    return (f"warning: {name}: {len(short)} of {len(frame)} rows lack results of some "
            f"candidates (up to {int(short.n_missing.max())} missing; see n and n_missing)")


def missing_warnings(analysis: Analysis) -> list[str]:
    """Return one warning line per table where a row could not use all of the study's candidates.

    Args:
        analysis: what `analyze` returned.
    """
    lines = [missing_warning(name, frame) for name, frame in analysis.tables.items()]
    return [line for line in lines if line]
