"""`report`: one self-contained HTML page, a section per paper, then every `analyze` table.

The header names the study, its spec's fingerprint, the proxystore version, the database (its
password hidden) and the date. `study_figures` draws the figures the report embeds; notebooks
call it too, so the two can't drift apart.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from proxystore import __version__
from proxystore.analysis import plots, report_tables, views
from proxystore.analysis.analyzer import Analysis, analyze, candidate_matrix, missing_warning
from proxystore.db import Database
from proxystore.db.engine import safe_url

TITLES = {
    "table-proxy": "Table 2: how well each proxy ranks the candidates, and at what cost",
    "fig-proxy-cost": "Figure 2: proxy quality against relative cost",
    "fig-epochs": "Figure 4: ranking after k epochs against the final ranking",
    "table-imagenet-x": "Table 3: correlation with the reference and with the closest "
                        "family member",
    "fig-reference": "Figure 3: target error against reference error",
    "fig-family": "Figure 5: target error against the closest family member's error",
    "fig-matrix": "Figure A8: Spearman correlation of errors between every pair of tasks",
    "fig-depth-width": "Table 4, Figure 7: error against cumulative depth and width",
}
PAPERS = (
    ("shleifer-prokop", "Shleifer & Prokop (2019): proxy datasets for training CNNs",
     ("table-proxy", "fig-proxy-cost", "fig-epochs")),
    ("tuggener", "Tuggener et al. (2022): is it enough to optimize CNN architectures on "
     "ImageNet?", ("table-imagenet-x", "fig-reference", "fig-family", "fig-matrix",
                   "fig-depth-width")),
)
ROLE_ORDER = ("reference", "family", "target", "proxy")
STYLE = ("body{font-family:sans-serif;font-size:15px;max-width:1200px;margin:2em auto;"
         "padding:0 1em;color:#222}h1{margin-bottom:.2em}h2{border-bottom:2px solid #ccc;"
         "margin-top:2em}dl.header{display:grid;grid-template-columns:max-content auto;"
         "gap:.2em 1em}dl.header dt{font-weight:bold}dl.header dd{margin:0}"
         "table{border-collapse:collapse;font-size:14px;margin:.5em 0}td,th{border:1px solid #ccc;"
         "padding:3px 8px}th{background:#f3f3f3}td.num{text-align:right;"
         "font-variant-numeric:tabular-nums}img{max-width:100%}.skipped{color:#a60}"
         ".warning{color:#8a4b00;background:#fff4e0;padding:.4em 1.6em}")


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=plots.DPI)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _section(anchor: str, body: Figure | str, warnings: list[str] | None = None) -> str:
    """One titled part: a figure, an HTML table, or a 'Skipped' note saying what is missing."""
    head = f'<section id="{anchor}"><h3>{html.escape(TITLES[anchor])}</h3>'
    head += report_tables.warnings_html(warnings or [])
    if isinstance(body, Figure):
        return head + f'<img src="data:image/png;base64,{_png(body)}" alt="{anchor}"></section>'
    if body.startswith("<table"):
        return head + body + "</section>"
    return head + f'<p class="skipped">Skipped: {html.escape(body)}.</p></section>'


# The analyze table behind each figure, whose rows that miss candidates are noted beside it.
SOURCES = {"fig-reference": "imagenet_x_matches", "fig-matrix": "apr_correlations",
           "fig-depth-width": "depth_width_correlations", "fig-epochs": "epoch_correlations"}


def _strategies_or_proxies(result: Analysis) -> pd.DataFrame:
    """Table 2's strategy rows where the study has them, else one row per proxy and target."""
    pooled = result.tables.get("proxy_strategies")
    return pooled if pooled is not None and not pooled.empty else result["proxy_quality"]


def task_roles(db: Database | str | None, study: str) -> dict[str, str]:
    """Task label -> role of the study's tasks."""
    tasks = views.study_tasks(db, study)
    return dict(zip(tasks.label, tasks.role.fillna("other"), strict=True))


def _pairs(matches: pd.DataFrame, other: str, rho: str) -> list[tuple[object, ...]]:
    """(target, other task, rho, low, high) per target of imagenet_x_matches."""
    low, high = (matches[f"{rho}_{end}"] if f"{rho}_{end}" in matches else [None] * len(matches)
                 for end in ("low", "high"))
    return list(zip(matches.target, matches[other], matches[rho], low, high, strict=True))


def study_figures(db: Database | str | None, study: str, result: Analysis | None = None,
                  titled: bool = True) -> dict[str, Figure | str]:
    """Return the report's figures for `study` by anchor (a string where one is skipped).

    Args:
        db: an open Database, or a URL / SQLite path.
        study: the study's name.
        result: `analyze`'s result to draw intervals from (default: analyze with 200 resamples).
        titled: give each figure its title (the report writes titles as HTML headings).
    """
    database = views.as_database(db)
    result = result or analyze(database, study, n_boot=200)
    means = candidate_matrix(views.candidate_errors(database, study))
    roles = task_roles(database, study)
    order = sorted(means.columns, key=lambda t: (
        ROLE_ORDER.index(roles[t]) if roles.get(t) in ROLE_ORDER else len(ROLE_ORDER), t))
    matches = result["imagenet_x_matches"]
    titles = TITLES if titled else dict.fromkeys(TITLES, "")
    return {
        "fig-proxy-cost": plots.proxy_quality_vs_cost(_strategies_or_proxies(result),
                                                      titles["fig-proxy-cost"]),
        "fig-epochs": plots.epoch_curves(result["epoch_correlations"], titles["fig-epochs"]),
        "fig-reference": plots.scatter_pairs(means, _pairs(matches, "reference", "rho_reference"),
                                             titles["fig-reference"]),
        "fig-family": plots.scatter_pairs(means, _pairs(matches, "match", "rho_match"),
                                          titles["fig-family"]),
        "fig-matrix": plots.correlation_matrix(result["apr_correlations"], order,
                                               titles["fig-matrix"], roles),
        "fig-depth-width": plots.depth_width(result["depth_width_correlations"],
                                             titles["fig-depth-width"], roles),
    }


def header(database: Database, study: str, result: Analysis, n_candidates: int,
           n_tasks: int) -> str:
    """The report's header: which study, spec, version and database, and when."""
    spec = views.query(database, "SELECT spec_fingerprint AS label FROM studies "
                                 "WHERE name = :study", study=study)
    fields = {
        "study": study, "spec fingerprint": spec.label.iloc[0] if len(spec) else "n/a",
        "proxystore": __version__, "database": safe_url(database.url),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "data": f"{n_candidates} candidates, {n_tasks} tasks",
        "intervals": f"95 % percentile bootstrap, {result.n_boot} resamples of the candidates "
                     f"(seed {result.seed})",
    }
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>"
                   for k, v in fields.items())
    return f'<h1>proxystore report: {html.escape(study)}</h1><dl class="header">{rows}</dl>'


def build_report(db: Database | str | None, study: str, n_boot: int = 1000,
                 seed: int = 0) -> str:
    """Return the report's HTML for `study`: a section per paper, then the analyze tables.

    Args:
        db: an open Database, or a URL / SQLite path.
        study: the study's name.
        n_boot: bootstrap resamples for the tables' intervals.
        seed: seed of the resampling.
    """
    database = views.as_database(db)
    result = analyze(database, study, n_boot=n_boot, seed=seed)
    parts: dict[str, tuple[Figure | str, list[str]]] = {
        k: (v, []) for k, v in study_figures(database, study, result, titled=False).items()}
    table2, warn2 = report_tables.table2(result.tables)
    table3, warn3 = report_tables.table3(result.tables)
    parts["table-proxy"] = (table2 or "the study has no task with role proxy", warn2)
    parts["fig-proxy-cost"] = (parts["fig-proxy-cost"][0], warn2)
    parts["table-imagenet-x"] = (table3 or "the study has no task with role target", warn3)
    parts["fig-family"] = (parts["fig-family"][0], warn3)
    for anchor, name in SOURCES.items():
        line = missing_warning(name, result.tables[name]) if name in result.tables else None
        parts[anchor] = (parts[anchor][0], [line] if line else [])
    body = "".join(
        f'<h2 id="{paper}">{html.escape(title)}</h2>'
        + "".join(_section(anchor, *parts[anchor]) for anchor in anchors)
        for paper, title, anchors in PAPERS)
    means = candidate_matrix(views.candidate_errors(database, study))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>proxystore report: "
            f"{html.escape(study)}</title><style>{STYLE}</style></head><body>"
            + header(database, study, result, means.shape[0], means.shape[1]) + body
            + "<h2 id='tables'>All tables (proxystore analyze)</h2>"
            + report_tables.all_tables(result.tables) + "</body></html>")


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
