"""`report`: one self-contained HTML page with the papers' plots and the `analyze` tables."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from proxystore.analysis import plots, views
from proxystore.analysis.analyzer import analyze, candidate_matrix, missing_warning
from proxystore.db import Database

TITLES = {
    "fig-reference": "Target error vs reference error (seed 2, Figure 3)",
    "fig-family": "Target error vs closest ImageNet-X member (seed 2, Figure 5)",
    "fig-matrix": "All-pairs Spearman correlation of errors (seed 2, Figure A8)",
    "table-imagenet-x": "ImageNet-X matching (seed 2, Table 3)",
    "fig-depth-width": "Error vs cumulative depth and width (seed 2, Figure 7)",
    "fig-proxy-cost": "Proxy quality vs relative cost (seed 1, Figure 2)",
    "fig-epochs": "Epoch-k vs final best error correlation (seed 1, Figure 4)",
}
STYLE = ("body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
         "padding:2px 6px}img{max-width:100%}.skipped{color:#a60}.missing{color:#b00}")


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# The analyze table behind each figure, whose missing candidates are noted beside it.
SOURCES = {"fig-reference": "imagenet_x_matches", "fig-family": "imagenet_x_matches",
           "fig-matrix": "apr_correlations", "table-imagenet-x": "imagenet_x_matches",
           "fig-depth-width": "depth_width_correlations", "fig-proxy-cost": "proxy_strategies",
           "fig-epochs": "epoch_correlations"}


def _section(anchor: str, body: Figure | str | pd.DataFrame) -> str:
    head = f'<section id="{anchor}"><h2>{html.escape(TITLES[anchor])}</h2>'
    if isinstance(body, Figure):
        return head + f'<img src="data:image/png;base64,{_png(body)}" alt="{anchor}"></section>'
    if isinstance(body, pd.DataFrame):
        return head + body.to_html(index=False, float_format=lambda v: f"{v:.3f}",
                                   na_rep="") + "</section>"
    return head + f'<p class="skipped">Skipped: {html.escape(body)}.</p></section>'


def build_report(db: Database | str | None, study: str, n_boot: int = 1000,
                 seed: int = 0) -> str:
    """Return the report's HTML for `study`: each plot from its view, tables from `analyze`.

    Args:
        db: an open Database, or a URL / SQLite path.
        study: the study's name.
        n_boot: bootstrap resamples for the tables' intervals.
        seed: seed of the resampling.
    """
    database = views.as_database(db)
    result = analyze(database, study, n_boot=n_boot, seed=seed)
    means = candidate_matrix(views.candidate_errors(database, study))
    tasks = views.study_tasks(database, study)
    matches = result["imagenet_x_matches"]
    roles = dict(zip(tasks.label, tasks.role, strict=True))
    order = sorted(means.columns, key=lambda t: (["reference", "family", "target", "proxy"]
                                                 .index(roles[t]) if roles.get(t) in
                                                 ("reference", "family", "target", "proxy")
                                                 else 4, t))
    sections = [
        _section("fig-reference", plots.scatter_pairs(
            means, list(zip(matches.target, matches.reference, matches.rho_reference,
                            strict=True)), TITLES["fig-reference"])),
        _section("fig-family", plots.scatter_pairs(
            means, list(zip(matches.target, matches.match, matches.rho_match, strict=True)),
            TITLES["fig-family"])),
        _section("fig-matrix", plots.correlation_matrix(
            result["apr_correlations"], order, TITLES["fig-matrix"])),
        _section("table-imagenet-x", matches if not matches.empty else
                 "the study has no task with role target"),
        _section("fig-depth-width", plots.depth_width(
            means, views.candidate_shapes(database, study).set_index("candidate"),
            result["depth_width_correlations"], TITLES["fig-depth-width"])),
        _section("fig-proxy-cost", plots.proxy_quality_vs_cost(
            result["proxy_strategies"], TITLES["fig-proxy-cost"])),
        _section("fig-epochs", plots.epoch_curves(
            result["epoch_correlations"], TITLES["fig-epochs"])),
    ]
    sections = [_with_note(section, result.tables) for section in sections]
    tables = "".join(
        f"<h3>{name}</h3>" + _note(missing_warning(name, frame))
        + frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
        for name, frame in result.tables.items() if not frame.empty)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>proxystore report: "
            f"{html.escape(study)}</title><style>{STYLE}</style></head><body>"
            f"<h1>Study {html.escape(study)}</h1><p>{means.shape[0]} candidates, "
            f"{means.shape[1]} tasks; intervals: {n_boot} bootstrap resamples of the candidates "
            f"(seed {seed}), 95 % percentile.</p>" + "".join(sections)
            + f"<h2>Tables (proxystore analyze)</h2>{tables}</body></html>")


def _note(line: str | None) -> str:
    return f'<p class="missing">{html.escape(line)}</p>' if line else ""


def _with_note(section: str, tables: dict[str, pd.DataFrame]) -> str:
    """Put the missing-candidates warning of a figure's table under the figure's heading."""
    anchor = section.split('"', 2)[1]
    name = SOURCES.get(anchor)
    line = missing_warning(name, tables[name]) if name in tables else None
    return section.replace("</h2>", "</h2>" + _note(line), 1) if line else section


def write_report(db: Database | str | None, study: str, out: str | Path, n_boot: int = 1000,
                 seed: int = 0) -> Path:
    """Write `study`'s report to OUT/index.html (created with its parents); return the path.

    Args:
        db: an open Database, or a URL / SQLite path.
        study: the study's name.
        out: the output directory.
        n_boot: bootstrap resamples for the tables' intervals.
        seed: seed of the resampling.
    """
    page = build_report(db, study, n_boot=n_boot, seed=seed)
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
