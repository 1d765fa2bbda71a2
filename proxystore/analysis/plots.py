"""The papers' plots as matplotlib Figures; each draws from one view's rows (or says why not).

Each function returns a Figure, or a string saying what the study lacks for that plot. Figures
use matplotlib's object API (no pyplot state), so reports can be drawn from any thread or process.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

TOP, WORST = "tab:orange", "tab:red"


def _grid(n: int, columns: int = 4, size: float = 3.2) -> tuple[Figure, list[Any]]:
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(size * cols, size * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _rho(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.2f}"


def scatter_pairs(means: pd.DataFrame, pairs: list[tuple[str, str, object]], title: str,
                  n_marked: int = 10) -> Figure | str:
    """Plot target error (y) against another task's error (x), best and worst targets marked.

    Args:
        means: candidate x task matrix of mean errors (candidate_errors).
        pairs: (target, x task, rho) per panel; rho from apr_correlations.
        title: the figure's title.
        n_marked: how many best (orange) and worst (red) candidates on the target to mark.
    """
    pairs = [p for p in pairs if isinstance(p[1], str) and p[1] in means and p[0] in means]
    if not pairs:
        return "the study has no target with a result on the task to compare with"
    fig, axes = _grid(len(pairs))
    for ax, (target, other, rho) in zip(axes, pairs, strict=True):
        both = means[[other, target]].dropna()
        order = both[target].rank(method="first")
        top, worst = order <= n_marked, order > len(both) - n_marked
        rest = ~(top | worst)
        ax.scatter(both[other][rest], both[target][rest], s=8, c="tab:gray", alpha=0.6)
        ax.scatter(both[other][worst], both[target][worst], s=14, c=WORST, label="worst 10")
        ax.scatter(both[other][top], both[target][top], s=14, c=TOP, label="top 10")
        ax.set_xlabel(f"{other} error")
        ax.set_ylabel(f"{target} error")
        ax.set_title(f"{target} vs {other}: rho={_rho(rho)}", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def correlation_matrix(apr: pd.DataFrame, tasks: list[str], title: str) -> Figure | str:
    """Draw the all-pairs Spearman matrix of apr_correlations (seed 2, Figure A8).

    Args:
        apr: apr_correlations rows of the study.
        tasks: the task order of rows and columns.
        title: the figure's title.
    """
    if apr.empty or len(tasks) < 2:
        return "the study has fewer than two tasks with shared candidates"
    matrix = apr.pivot(index="task_a", columns="task_b", values="spearman").reindex(
        index=tasks, columns=tasks)
    values = matrix.to_numpy(float, copy=True)
    np.fill_diagonal(values, 1.0)
    size = 1.0 + 0.55 * len(tasks)
    fig = Figure(figsize=(size + 1.5, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(tasks)), tasks, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=8)
    if len(tasks) <= 16:
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, "" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax, label="Spearman rho")
    ax.set_title(title)
    return fig


def depth_width(means: pd.DataFrame, shapes: pd.DataFrame, correlations: pd.DataFrame,
                title: str) -> Figure | str:
    """Scatter every task's error against cumulative depth (top row) and width (bottom row).

    Args:
        means: candidate x task matrix of mean errors.
        shapes: cumulative_depth and cumulative_width by candidate.
        correlations: depth_width_correlations rows (rho in each panel's title).
        title: the figure's title.
    """
    known = shapes.dropna()
    if correlations.empty or known.empty:
        return "no candidate of the study has a cumulative depth and width"
    tasks = correlations.task.tolist()
    cols = min(5, len(tasks))
    blocks = math.ceil(len(tasks) / cols)  # each block: a depth row above a width row
    fig = Figure(figsize=(2.9 * cols, 5.4 * blocks), layout="constrained")
    axes = fig.subplots(2 * blocks, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for j, row in enumerate(correlations.itertuples()):
        block, col = divmod(j, cols)
        errors = means[row.task].reindex(known.index)
        for i, (column, rho) in enumerate((("cumulative_depth", row.rho_cumulative_depth),
                                            ("cumulative_width", row.rho_cumulative_width))):
            ax = axes[2 * block + i][col]
            ax.set_visible(True)
            ax.scatter(known[column], errors, s=6, alpha=0.6)
            ax.set_xlabel(column.replace("_", " "), fontsize=8)
            ax.set_ylabel("error", fontsize=8)
            ax.set_title(f"{row.task}: rho={_rho(rho)}", fontsize=8)
    fig.suptitle(title)
    return fig


def proxy_quality_vs_cost(quality: pd.DataFrame, title: str) -> Figure | str:
    """Plot r2 and Spearman over good candidates against relative cost (seed 1, Figure 2).

    Args:
        quality: proxy_strategies rows, Table 2's (or proxy_quality rows, labelled by proxy).
        title: the figure's title.
    """
    rows = quality.dropna(subset=["relative_cost"])
    if rows.empty:
        return "the study has no proxy task (role proxy with proxy_of) with shared candidates"
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, column, label in ((axes[0], "r2", "r² of normalised accuracies"),
                              (axes[1], "spearman_good", "Spearman over good candidates")):
        ok = rows.dropna(subset=[column])
        if f"{column}_low" in ok:  # 95 % bootstrap intervals from analyze
            spread = [ok[column] - ok[f"{column}_low"], ok[f"{column}_high"] - ok[column]]
            ax.errorbar(ok.relative_cost, ok[column], yerr=np.clip(spread, 0, None), fmt="o",
                        ms=4, lw=0.8, capsize=2)
        else:
            ax.scatter(ok.relative_cost, ok[column])
        names = ok.strategy if "strategy" in ok and "proxy" not in ok else ok.proxy
        for name, cost, value in zip(names, ok.relative_cost, ok[column], strict=True):
            ax.annotate(name, (cost, value), fontsize=7)
        if len(ok) >= 2:
            degree = min(3, len(ok) - 1)
            coef = np.polyfit(ok.relative_cost, ok[column], degree)
            grid = np.linspace(ok.relative_cost.min(), ok.relative_cost.max(), 100)
            ax.plot(grid, np.polyval(coef, grid), c="tab:gray", lw=1)
        ax.set_xlabel("relative cost (proxy / target compute)")
        ax.set_ylabel(label)
    fig.suptitle(title)
    return fig


def epoch_curves(epochs: pd.DataFrame, title: str) -> Figure | str:
    """Plot Spearman of epoch-k error with the best-epoch result against k, per task (Figure 4).

    Args:
        epochs: epoch_correlations rows.
        title: the figure's title.
    """
    if epochs.empty:
        return "no finished run of the study logged per-epoch errors"
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    for task, group in epochs.groupby("task"):
        ax.plot(group.epoch, group.spearman_with_final, marker="o", ms=3, label=str(task))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("Spearman rho with final best error")
    ax.set_ylim(-1.05, 1.05)
    ax.legend(fontsize=7)
    ax.set_title(title)
    return fig
