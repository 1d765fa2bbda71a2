"""The papers' plots as matplotlib Figures, one figure per question, readable at a glance.

Each function returns a Figure, or a string saying what the study lacks for that plot. Figures
use matplotlib's object API (no pyplot state), so reports can be drawn from any thread or process
and notebooks display them as they are. Every figure is WIDTH inches wide (at DPI, at least
900 px), every text at least 10 pt; series get distinct colour-and-marker pairs; a fitted curve
needs MIN_FIT_POINTS points and is never drawn outside the range of the statistic it follows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

DPI = 100
WIDTH = 10.0  # inches: 1000 px at DPI
FONT = 11  # points
SMALL = 10  # the smallest text: ticks, legends, cell labels
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")  # matplotlib's tab10, a qualitative palette
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
ROLE_COLORS = {"reference": "#1f77b4", "family": "#2ca02c", "target": "#d62728",
               "proxy": "#ff7f0e", "other": "#7f7f7f"}
BEST, WORST, REST = "#ff7f0e", "#d62728", "#9a9a9a"  # seed 2's orange best, red worst
MARKED_FRACTION = 0.1  # best and worst decile of the candidates on the target
MIN_FIT_POINTS = 5
RANGES = {"r2": (0.0, 1.0), "spearman_good": (-1.0, 1.0)}
MAX_BANDS = 3  # more interval bands than this hide each other (the tables have the intervals)


def styles(n: int) -> list[tuple[str, str]]:
    """`n` (colour, marker) pairs, all distinct for up to 80 series: colours first, then markers."""
    return [(COLORS[i % len(COLORS)], MARKERS[(i // len(COLORS)) % len(MARKERS)])
            for i in range(n)]


def marked_count(n: int) -> int:
    """How many best (and worst) candidates to mark among `n`: a decile, at least one."""
    return max(1, math.ceil(MARKED_FRACTION * n)) if n >= 4 else 0


def interval_text(value: Any, low: Any = None, high: Any = None) -> str:
    """`0.82 [0.71, 0.90]`, or the estimate alone, or n/a."""
    if value is None or pd.isna(value):
        return "n/a"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{float(value):.2f}"
    return f"{float(value):.2f} [{float(low):.2f}, {float(high):.2f}]"


def _figure(height: float) -> Figure:
    return Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")


def _finish(fig: Figure, title: str) -> Figure:
    """Title the figure and fix every axis's tick and label sizes (they outlive rc settings)."""
    for ax in fig.axes:
        ax.tick_params(labelsize=SMALL)
        ax.xaxis.label.set_fontsize(FONT)
        ax.yaxis.label.set_fontsize(FONT)
        ax.title.set_fontsize(FONT)
    if title:  # the report titles figures in HTML instead
        fig.suptitle(title, fontsize=FONT + 2)
    return fig


def _grid(n: int, columns: int = 3, panel_height: float = 3.6) -> tuple[Figure, list[Any]]:
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    fig = _figure(panel_height * rows + 0.8)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def scatter_pairs(means: pd.DataFrame, pairs: Sequence[tuple[Any, ...]], title: str
                  ) -> Figure | str:
    """Plot target error (y) against another task's error (x), best and worst decile marked.

    Args:
        means: candidate x task matrix of mean errors (candidate_errors).
        pairs: (target, x task, rho[, rho_low, rho_high]) per panel; rho from apr_correlations.
        title: the figure's title.
    """
    pairs = [p for p in pairs if isinstance(p[1], str) and p[1] in means and p[0] in means]
    if not pairs:
        return "the study has no target with a result on the task to compare with"
    fig, axes = _grid(len(pairs))
    for ax, (target, other, *rho) in zip(axes, pairs, strict=True):
        both = means[[other, target]].dropna()
        k = marked_count(len(both))
        rank = both[target].rank(method="first")
        best, worst = rank <= k, rank > len(both) - k
        rest = ~(best | worst)
        ax.scatter(both[other][rest], both[target][rest], s=22, c=REST, marker="o")
        ax.scatter(both[other][worst], both[target][worst], s=40, c=WORST, marker="v")
        ax.scatter(both[other][best], both[target][best], s=40, c=BEST, marker="^")
        ax.set_xlabel(f"{other} error")
        ax.set_ylabel(f"{target} error")
        ax.set_title(f"{target} vs {other}\nρ = {interval_text(*rho)}, n = {len(both)}")
    fig.legend(handles=[
        Line2D([], [], ls="", marker="^", color=BEST, label="best 10 % on the target"),
        Line2D([], [], ls="", marker="v", color=WORST, label="worst 10 % on the target"),
        Line2D([], [], ls="", marker="o", color=REST, label="other candidates")],
        loc="outside lower center", ncols=3, fontsize=SMALL)
    return _finish(fig, title)


def _role_legend(fig: Figure, roles: Mapping[str, str], tasks: Sequence[str]) -> None:
    shown = [r for r in ROLE_COLORS if r in {roles.get(t, "other") for t in tasks}]
    fig.legend(handles=[Line2D([], [], ls="", marker="s", ms=10, color=ROLE_COLORS[r], label=r)
                        for r in shown], title="role", loc="outside right upper",
               fontsize=SMALL, title_fontsize=SMALL)


def correlation_matrix(apr: pd.DataFrame, tasks: list[str], title: str,
                       roles: Mapping[str, str] | None = None) -> Figure | str:
    """Draw the all-pairs Spearman matrix of apr_correlations, task labels coloured by role.

    Args:
        apr: apr_correlations rows of the study.
        tasks: the task order of rows and columns.
        title: the figure's title.
        roles: task label -> role (reference, family, target, proxy, other).
    """
    if apr.empty or len(tasks) < 2:
        return "the study has fewer than two tasks with shared candidates"
    roles = roles or {}
    values = apr.pivot(index="task_a", columns="task_b", values="spearman").reindex(
        index=tasks, columns=tasks).to_numpy(float, copy=True)
    np.fill_diagonal(values, 1.0)
    fig = _figure(min(WIDTH, 2.5 + 0.55 * len(tasks)))
    ax = fig.subplots()
    image = ax.imshow(values, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right")
    ax.set_yticks(range(len(tasks)), tasks)
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        label.set_color(ROLE_COLORS.get(roles.get(label.get_text(), "other"), "black"))
    if len(tasks) <= 14:  # beyond that the numbers can't be 10 pt
        for (i, j), v in np.ndenumerate(values):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=SMALL,
                        color="white" if abs(v) > 0.6 else "black")
    fig.colorbar(image, ax=ax, label="Spearman ρ of errors", shrink=0.8)
    _role_legend(fig, roles, tasks)
    return _finish(fig, title)


def depth_width(correlations: pd.DataFrame, title: str,
                roles: Mapping[str, str] | None = None) -> Figure | str:
    """Per task, Spearman rho of error with cumulative depth and with width, with intervals.

    Args:
        correlations: depth_width_correlations rows (with _low/_high from `analyze`).
        title: the figure's title.
        roles: task label -> role, for the points' colours.
    """
    rows = correlations.dropna(subset=["rho_cumulative_depth", "rho_cumulative_width"], how="all")
    if rows.empty:
        return "no candidate of the study has a cumulative depth and width"
    roles = roles or {}
    tasks = rows.task.tolist()
    fig = _figure(1.6 + 0.42 * len(tasks))
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(tasks))
    colors = [ROLE_COLORS.get(roles.get(t, "other"), "black") for t in tasks]
    for ax, column in zip(axes, ("rho_cumulative_depth", "rho_cumulative_width"), strict=True):
        _interval_points(ax, rows, column, y, colors, horizontal=True)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel(f"Spearman ρ of error with {column[4:].replace('_', ' ')}")
    axes[0].set_yticks(y, tasks)
    axes[0].invert_yaxis()
    _role_legend(fig, roles, tasks)
    return _finish(fig, title)


def _interval_points(ax: Any, rows: pd.DataFrame, column: str, at: np.ndarray,
                     colors: Sequence[str], horizontal: bool = False, marker: str = "o") -> None:
    """Points at `at` with their bootstrap intervals where `analyze` gave them."""
    values = rows[column].to_numpy(float)
    if f"{column}_low" in rows:
        spread = np.clip([values - rows[f"{column}_low"].to_numpy(float),
                          rows[f"{column}_high"].to_numpy(float) - values], 0, None)
    else:
        spread = np.zeros((2, len(values)))
    for i, color in enumerate(colors):
        x, y = (values[i], at[i]) if horizontal else (at[i], values[i])
        error = spread[:, i:i + 1]
        ax.errorbar(x, y, xerr=error if horizontal else None, yerr=None if horizontal else error,
                    fmt=marker, ms=7, color=color, capsize=3, lw=1.2)


def fitted_curve(x: np.ndarray, y: np.ndarray, bounds: tuple[float, float]
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """The cubic of y in x on a grid, masked (NaN) outside `bounds`; None under MIN_FIT_POINTS."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < MIN_FIT_POINTS or np.ptp(x[ok]) == 0:
        return None
    coef = np.polyfit(x[ok], y[ok], 3)
    grid = np.linspace(x[ok].min(), x[ok].max(), 200)
    curve = np.polyval(coef, grid)
    curve[(curve < bounds[0]) | (curve > bounds[1])] = np.nan
    return grid, curve


def proxy_quality_vs_cost(quality: pd.DataFrame, title: str) -> Figure | str:
    """Plot r2 and Spearman over good candidates against relative cost, one series per proxy.

    Args:
        quality: proxy_strategies rows, one series per Table 2 strategy, or proxy_quality rows
            (one per proxy → target); with _low/_high from `analyze`.
        title: the figure's title.
    """
    rows = quality.dropna(subset=["relative_cost"]).reset_index(drop=True)
    if rows.empty:
        return "the study has no proxy task (role proxy with proxy_of) with shared candidates"
    fig = _figure(4.8)
    axes = fig.subplots(1, 2, sharex=True)  # the same proxies at the same costs, side by side
    pooled = "strategy" in rows and "proxy" not in rows  # Table 2's rows, else per target
    labels = (list(rows.strategy) if pooled
              else [f"{r.proxy} → {r.target}" for r in rows.itertuples()])
    for ax, column, label in ((axes[0], "r2", "r² of normalised accuracies"),
                              (axes[1], "spearman_good", "Spearman ρ over good candidates")):
        for i, (color, marker) in enumerate(styles(len(rows))):
            one = rows.iloc[[i]]
            _interval_points(ax, one, column, one.relative_cost.to_numpy(float), [color],
                             marker=marker)
        curve = fitted_curve(rows.relative_cost.to_numpy(float), rows[column].to_numpy(float),
                             RANGES[column])
        if curve is not None:
            ax.plot(*curve, color="black", lw=1, ls="--", label="cubic fit")
        low, high = RANGES[column]
        ax.set_ylim(low - 0.05, high + 0.05)
        missing = int(rows[column].isna().sum())
        if missing:  # e.g. Spearman over fewer than two good candidates
            ax.set_title(f"{missing} of {len(rows)} proxies have no value")
        ax.set_xlabel("relative cost (proxy / target compute)")
        ax.set_ylabel(label)
    handles = [Line2D([], [], ls="", marker=m, color=c, label=t)
               for (c, m), t in zip(styles(len(rows)), labels, strict=True)]
    fig.legend(handles=handles, loc="outside right upper", fontsize=SMALL,
               title="strategy" if pooled else "proxy → target",
               title_fontsize=SMALL)
    return _finish(fig, title)


def epoch_curves(epochs: pd.DataFrame, title: str) -> Figure | str:
    """Plot Spearman of epoch-k error with the best-epoch result against k, per task.

    Args:
        epochs: epoch_correlations rows (with _low/_high from `analyze`: a shaded band for up
            to MAX_BANDS tasks).
        title: the figure's title.
    """
    if epochs.empty:
        return "no finished run of the study logged per-epoch errors"
    fig = _figure(5.0)
    ax = fig.subplots()
    groups = list(epochs.groupby("task"))
    for (task, group), (color, marker) in zip(groups, styles(len(groups)), strict=True):
        ax.plot(group.epoch, group.spearman_with_final, marker=marker, ms=6, color=color,
                label=str(task))
        if "spearman_with_final_low" in group and len(groups) <= MAX_BANDS:
            ax.fill_between(group.epoch, group.spearman_with_final_low,
                            group.spearman_with_final_high, color=color, alpha=0.12, lw=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch k")
    ax.set_ylabel("Spearman ρ with the final best error")
    ax.set_ylim(-1.05, 1.05)
    fig.legend(loc="outside right upper", fontsize=SMALL, title="task", title_fontsize=SMALL)
    return _finish(fig, title)
