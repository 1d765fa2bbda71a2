"""The report's HTML tables: Table 2 and Table 3 in the papers' layout, and every analyze table.

Table 2 (Shleifer & Prokop) comes from `proxy_strategies` where analyze computed it, one row per
proxy creation strategy, else from `proxy_quality`, one row per proxy. Table 3 (Tuggener et al.)
lists each target's rho with the reference and with its closest family member, and their
difference, ending with the average row (from `imagenet_x_summary` where analyze computed it).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd

from proxystore.analysis import render, views

Columns = Sequence[tuple[str, str]]  # (header, column)
LABELS = views.TEXT_COLUMNS | {"strategy"}  # left-aligned; every other column is a number
LONG_TABLE = 20  # rows; a longer analyze table starts folded


def cell(row: pd.Series, column: str) -> str:
    """One value as text: with its interval where the row has `<column>_low/_high`."""
    if column not in row.index:
        return ""
    if f"{column}_low" in row.index and f"{column}_high" in row.index:
        return render.with_interval(row[column], row[f"{column}_low"], row[f"{column}_high"])
    return render.number(row[column], column in render.COUNTS)


def html_table(frame: pd.DataFrame, columns: Columns, css: str = "paper") -> str:
    """An HTML table of `frame` with the given headers, numbers right-aligned."""
    shown = [(header, column) for header, column in columns if column in frame.columns]
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _ in shown)
    rows = []
    for _, row in frame.iterrows():
        cells = "".join(f'<td class="{"label" if column in LABELS else "num"}">'
                        f"{html.escape(cell(row, column))}</td>" for _, column in shown)
        rows.append(f"<tr>{cells}</tr>")
    return (f'<table class="{css}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def missing_warnings(frame: pd.DataFrame | None, label: str) -> list[str]:
    """One line per row of `frame` with n_missing > 0 (none when the column is absent)."""
    if frame is None or "n_missing" not in frame.columns:
        return []
    out = []
    for _, row in frame[frame.n_missing.fillna(0) > 0].iterrows():
        name = row[label] if label in row.index else "the study"
        total = f" of {int(row.n) + int(row.n_missing)}" if "n" in row.index and pd.notna(
            row.n) else ""
        out.append(f"{name}: {int(row.n_missing)}{total} results missing; the numbers cover "
                   "the rest")
    return out


def warnings_html(lines: Sequence[str]) -> str:
    """The warnings as a list the reader can't miss, or nothing."""
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<ul class="warning">{items}</ul>'


TABLE2_STRATEGIES: Columns = (
    ("Proxy creation strategy", "strategy"), ("r²", "r2"), ("Spearman (good)", "spearman_good"),
    ("Cost-adjusted r²", "cost_adjusted_r2"), ("Relative cost", "relative_cost"),
    ("Targets", "n_targets"), ("Candidates", "n"), ("Good", "n_good"))
TABLE2_PROXIES: Columns = (
    ("Proxy", "proxy"), ("Target", "target"), ("r²", "r2"), ("Spearman (good)", "spearman_good"),
    ("Cost-adjusted r²", "cost_adjusted_r2"), ("Relative cost", "relative_cost"),
    ("Candidates", "n"), ("Good", "n_good"))


def _table2_notes(rows: pd.DataFrame) -> str:
    """What an estimate without its interval, or n/a, means in Table 2."""
    notes = []
    if "good_rule" in rows and rows.good_rule.nunique() == 1:
        notes.append(f"Good candidates: {rows.good_rule.iloc[0]}.")
    if (rows.n_good < 5).any():
        notes.append("Spearman (good) has no interval under 5 good candidates, and is n/a under 2.")
    if "cost_adjusted_r2" in rows and rows.cost_adjusted_r2.isna().all():
        notes.append("No cost-adjusted r² under 5 strategies: a cubic would pass through each.")
    return f'<p class="note">{html.escape(" ".join(notes))}</p>' if notes else ""


def table2(tables: Mapping[str, pd.DataFrame]) -> tuple[str, list[str]]:
    """Table 2's HTML and its warnings, or a reason why the study has none."""
    strategies = tables.get("proxy_strategies")
    if strategies is not None and not strategies.empty:
        rows = strategies.sort_values("r2", ascending=False, na_position="last")
        return (html_table(rows, TABLE2_STRATEGIES) + _table2_notes(rows),
                missing_warnings(rows, "strategy"))
    quality = tables.get("proxy_quality")
    if quality is None or quality.empty:
        return "", []
    rows = quality.sort_values("r2", ascending=False, na_position="last")
    return html_table(rows, TABLE2_PROXIES), missing_warnings(rows, "proxy")


def table3(tables: Mapping[str, pd.DataFrame]) -> tuple[str, list[str]]:
    """Table 3's HTML (a row per target, then the average) and its warnings, or ''."""
    matches = tables.get("imagenet_x_matches")
    if matches is None or matches.empty:
        return "", []
    rows = matches.assign(difference=matches.rho_match - matches.rho_reference)
    references = rows.reference.dropna().unique()
    ref = references[0] if len(references) == 1 else "reference"
    columns: Columns = (("Target", "target"), (f"ρ {ref}", "rho_reference"),
                        ("Closest family member", "match"), ("ρ closest member", "rho_match"),
                        ("Difference", "difference"))
    summary = tables.get("imagenet_x_summary")
    if summary is not None and not summary.empty:
        average = summary.rename(columns=lambda c: c.replace("mean_rho_", "rho_")
                                 .replace("mean_difference", "difference")).iloc[:1]
    else:
        both = rows.dropna(subset=["rho_reference", "rho_match"])
        average = pd.DataFrame([{"rho_reference": both.rho_reference.mean(),
                                 "rho_match": both.rho_match.mean(),
                                 "difference": both.difference.mean()}])
    average = average.assign(target="Average", match="")
    frame = pd.concat([rows, average], ignore_index=True)
    return html_table(frame, columns), missing_warnings(summary, "study")


def all_tables(tables: Mapping[str, pd.DataFrame]) -> str:
    """Every analyze table in render.ORDER, intervals merged, APR as a matrix; long ones folded."""
    parts = []
    for name in render.table_names(tables):
        frame = tables[name]
        if frame.empty:
            continue
        if name == "apr_correlations":
            shown = render.apr_matrix(frame)
        else:
            merged = render.interval_columns(frame)
            shown = frame.drop(columns=[f"{c}_{end}" for c in merged for end in ("low", "high")])
        table = html_table(shown if name == "apr_correlations" else frame,
                           [(c, c) for c in shown.columns], css="analyze")
        title = html.escape(f"{name}: {render.TITLES[name]}" if name in render.TITLES else name)
        fold = "" if len(shown) <= LONG_TABLE else f" ({len(shown)} rows, click to show)"
        parts.append(f"<details{' open' if not fold else ''}><summary><b>{title}</b>{fold}"
                     f"</summary>{table}</details>")
    return "".join(parts)
