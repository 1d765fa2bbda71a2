"""The report's figures are readable: wide, 10 pt text, distinct series, honest curves and marks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_data import fill
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

from proxystore.analysis import plots
from proxystore.analysis.analyzer import analyze
from proxystore.analysis.report import study_figures
from proxystore.db import open_database


@pytest.fixture(scope="module")
def figures(tmp_path_factory):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("plots")
    database = open_database(f"sqlite:///{directory / 'p.db'}", create=True)
    fill(database, directory)
    result = analyze(database, "s", n_boot=20)
    drawn = study_figures(database, "s", result)
    database.dispose()
    return drawn


def _texts(fig: Figure) -> list[Text]:
    FigureCanvasAgg(fig).draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_every_figure_is_900_px_wide_with_text_of_10_pt_or_more(figures):
    drawn = {k: v for k, v in figures.items() if isinstance(v, Figure)}
    assert set(drawn) == {"fig-proxy-cost", "fig-epochs", "fig-reference", "fig-family",
                          "fig-matrix", "fig-depth-width"}
    for anchor, fig in drawn.items():
        assert fig.get_size_inches()[0] * plots.DPI >= 900, anchor
        small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < 10]
        assert not small, (anchor, small[:5])


def test_depth_width_is_one_figure_with_intervals_not_a_panel_per_task(figures):
    fig = figures["fig-depth-width"]
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    assert len(visible[0].get_yticklabels()) == 10  # every task of the study, one row each


def test_series_get_distinct_colour_and_marker_pairs():
    assert len(set(plots.styles(11))) == 11 and len(set(plots.styles(80))) == 80
    epochs = pd.DataFrame([{"task": f"t{i:02d}", "epoch": e, "spearman_with_final": 0.1 * e}
                           for i in range(11) for e in (1, 2, 3)])
    fig = plots.epoch_curves(epochs, "")
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("t")]
    assert len({(ln.get_color(), ln.get_marker()) for ln in lines}) == 11
    assert len(fig.legends[0].get_texts()) == 11


def _quality(r2: list[float], cost: list[float]) -> pd.DataFrame:
    n = len(r2)
    return pd.DataFrame({"target": "t", "proxy": [f"p{i}" for i in range(n)], "n": 20,
                         "r2": r2, "spearman_good": [0.5] * n, "relative_cost": cost})


def _curves(fig: Figure) -> list[np.ndarray]:
    return [np.asarray(ln.get_ydata(), float) for ax in fig.axes for ln in ax.get_lines()
            if ln.get_label() == "cubic fit"]


def test_no_curve_through_fewer_than_five_points():
    fig = plots.proxy_quality_vs_cost(_quality([0.2, 0.9, 0.1, 0.95], [0.1, 0.2, 0.3, 0.4]), "")
    assert _curves(fig) == []


def test_a_fitted_curve_never_leaves_the_statistics_range():
    # A cubic through these swings far above 1 and below 0 between the points.
    r2 = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    fig = plots.proxy_quality_vs_cost(_quality(r2, [0.1, 0.12, 0.5, 0.52, 0.9, 0.92]), "")
    curve = _curves(fig)[0]
    raw = plots.fitted_curve(np.array([0.1, 0.12, 0.5, 0.52, 0.9, 0.92]), np.array(r2),
                             (-np.inf, np.inf))
    assert raw is not None and (np.nanmax(raw[1]) > 1 or np.nanmin(raw[1]) < 0)
    assert np.isnan(curve).any()
    assert np.nanmin(curve) >= 0 and np.nanmax(curve) <= 1


@pytest.mark.parametrize(("n", "marked"), [(12, 2), (50, 5), (500, 50), (3, 0)])
def test_best_and_worst_marks_are_a_decile_of_the_candidates(n, marked):
    rng = np.random.default_rng(0)
    means = pd.DataFrame({"x": rng.random(n), "y": rng.permutation(n) / n},
                         index=[f"c{i}" for i in range(n)])
    fig = plots.scatter_pairs(means, [("y", "x", 0.5, 0.4, 0.6)], "")
    counts = [len(c.get_offsets()) for c in fig.axes[0].collections
              if isinstance(c, PathCollection)]
    assert counts == [n - 2 * marked, marked, marked]
    assert "ρ = 0.50 [0.40, 0.60], n = " + str(n) in fig.axes[0].get_title()


def test_interval_bands_only_while_they_stay_apart():
    def bands(n: int) -> int:
        epochs = pd.DataFrame([{"task": f"t{i}", "epoch": e, "spearman_with_final": 0.5,
                                "spearman_with_final_low": 0.2, "spearman_with_final_high": 0.8}
                               for i in range(n) for e in (1, 2)])
        return len(plots.epoch_curves(epochs, "").axes[0].collections)

    assert bands(plots.MAX_BANDS) == plots.MAX_BANDS and bands(plots.MAX_BANDS + 1) == 0


def test_proxy_panels_share_costs_and_say_which_values_are_missing():
    quality = _quality([0.2, 0.9, 0.5], [0.1, 0.2, 0.3]).assign(spearman_good=[0.5, None, None])
    fig = plots.proxy_quality_vs_cost(quality, "")
    left, right = fig.axes[:2]
    assert left.get_shared_x_axes().joined(left, right)
    assert right.get_title() == "2 of 3 proxies have no value" and left.get_title() == ""


def test_matrix_labels_tasks_by_role_with_a_legend():
    apr = pd.DataFrame([{"task_a": a, "task_b": b, "spearman": 0.5}
                        for a in "rpt" for b in "rpt" if a != b])
    roles = {"r": "reference", "p": "proxy", "t": "target"}
    fig = plots.correlation_matrix(apr, ["r", "t", "p"], "", roles)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["reference", "target", "proxy"]
    colours = {label.get_text(): label.get_color() for label in fig.axes[0].get_yticklabels()}
    assert colours == {task: plots.ROLE_COLORS[role] for task, role in roles.items()}
