"""`analyze`: the views' tables with bootstrap intervals, cost-adjusted r² and seed noise.

Rendering lives in proxystore.analysis.render; its names stay importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from proxystore.analysis import bootstrap, views
from proxystore.analysis.bootstrap import GoodRule, Resamples
from proxystore.analysis.render import render_analysis, summary_text
from proxystore.db import Database

__all__ = ["TABLES", "Analysis", "analyze", "best_epoch_matrix", "candidate_matrix",
           "render_analysis", "summary_text"]
TABLES = ("apr_correlations", "imagenet_x_matches", "depth_width_correlations", "proxy_quality",
          "epoch_correlations", "seed_noise")


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
        good: the good-candidate rule of spearman_good (default: the view's, 95 % of the best).
    """
    database = views.as_database(db)
    views.study_exists(database, study)
    good = good or GoodRule()
    means = candidate_matrix(views.candidate_errors(database, study))
    boot = Resamples(list(means.index), n_boot, seed)
    tables = {name: views.view(database, name, study).drop(columns="study")
              for name in TABLES if name != "seed_noise"}
    apr = bootstrap.apr_samples(means, boot)
    bootstrap.apr_intervals(tables["apr_correlations"], apr)
    bootstrap.imagenet_x_intervals(tables["imagenet_x_matches"], apr)
    shapes = views.candidate_shapes(database, study).set_index("candidate")
    bootstrap.depth_width_intervals(tables["depth_width_correlations"], means, shapes, boot)
    cells = views.cell_errors(database, study)
    quality = tables["proxy_quality"]
    best = best_epoch_matrix(cells).reindex(index=means.index, columns=means.columns)
    r2 = bootstrap.proxy_quality_intervals(quality, best, boot, good)
    bootstrap.cost_adjusted(quality, r2)
    bootstrap.epoch_intervals(tables["epoch_correlations"], views.epoch_errors(database, study),
                              boot)
    tables["seed_noise"] = bootstrap.seed_noise(cells, boot)
    return Analysis(study=study, n_boot=n_boot, seed=seed, tables=tables)
