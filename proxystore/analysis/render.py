"""`analyze` as text: the summaries first, three decimals, each interval beside its estimate.

The table format is for reading: numbers have three decimals, an estimate and its bootstrap
interval share one cell (`0.820 [0.710, 0.900]`) and the APR table is a task x task matrix. csv
and json are for programs: the tables' own columns at full precision, `<col>_low`/`<col>_high`
apart, and csv holds exactly one table so that `pandas.read_csv` loads it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from proxystore.analysis import views
from proxystore.db import Database
from proxystore.errors import UsageError
from proxystore.formatting import FORMATS, render

if TYPE_CHECKING:
    from proxystore.analysis.analyzer import Analysis

# The answer first (the papers' summary tables), the long APR listing last.
ORDER = ("proxy_strategies", "imagenet_x_summary", "proxy_quality", "imagenet_x_matches",
         "best_config_recovery", "epoch_order", "depth_width_correlations", "epoch_correlations",
         "seed_noise", "apr_correlations")
TITLES = {
    "proxy_strategies": "proxy strategies, mean over targets (Shleifer & Prokop, Table 2)",
    "imagenet_x_summary": "reference vs closest family member, mean over targets "
                          "(Tuggener et al., Table 3)",
    "proxy_quality": "each proxy against its target (Shleifer & Prokop, Table 2)",
    "imagenet_x_matches": "each target against the reference and its closest family member "
                          "(Tuggener et al., Table 3)",
    "best_config_recovery": "does the proxy's best candidate do well on the target",
    "epoch_order": "ranking after k epochs against the final ranking",
    "depth_width_correlations": "error vs cumulative depth and width (Tuggener et al., Table 4)",
    "epoch_correlations": "epoch-k error vs final best error (Shleifer & Prokop, Figure 4)",
    "seed_noise": "how reproducible a one-seed ranking is",
    "apr_correlations": "Spearman rho of errors, task x task (Tuggener et al., Figure A8)",
}
DIGITS = 3
COUNTS = ("n", "epoch", "n_good", "n_seeds", "n_targets", "n_missing", "target_classes",
          "match_classes")


def check_selection(tables: Sequence[str] | None, fmt: str) -> list[str] | None:
    """Refuse unknown table names, or csv without exactly one table, before any work is done.

    Args:
        tables: the names given with --table (None: every table).
        fmt: table, csv or json.

    Raises:
        UsageError: naming the unknown table (with a suggestion) or the missing --table.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}")
    names = [str(name).strip() for name in tables or [] if str(name).strip()]
    for name in names:
        if name not in ORDER:
            close = difflib.get_close_matches(name.replace("-", "_"), ORDER, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise UsageError(f"unknown --table {name}{hint} "
                             f"(tables: {', '.join(ORDER)})")
    if fmt == "csv" and len(set(names)) != 1:
        raise UsageError("--format csv writes exactly one table: add --table NAME "
                         f"(one of {', '.join(ORDER)})")
    return list(dict.fromkeys(names)) or None


def table_names(available: Iterable[str], selected: Sequence[str] | None = None) -> list[str]:
    """The tables to show: the selected ones as given, else ORDER's, then any others."""
    present = list(available)
    if selected:
        missing = [name for name in selected if name not in present]
        if missing:
            raise UsageError(f"analyze computed no table {', '.join(missing)} for this study "
                             f"(it has: {', '.join(present)})")
        return list(selected)
    return [n for n in ORDER if n in present] + [n for n in present if n not in ORDER]


def interval_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that have both `<col>_low` and `<col>_high` beside them."""
    return [c for c in frame.columns if f"{c}_low" in frame and f"{c}_high" in frame]


def number(value: Any, integer: bool = False) -> str:
    """One value as the table format writes it: three decimals, counts whole, n/a for missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "n/a"
    if isinstance(value, str):
        return value
    if integer or isinstance(value, int):
        return str(int(value))
    return f"{float(value):.{DIGITS}f}"


def with_interval(value: Any, low: Any, high: Any) -> str:
    """`0.820 [0.710, 0.900]`, or the estimate alone where the interval is missing."""
    if pd.isna(value) or pd.isna(low) or pd.isna(high):
        return number(value)
    return f"{number(value)} [{number(low)}, {number(high)}]"


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as text cells: intervals merged into their estimate, numbers at three decimals."""
    merged = interval_columns(frame)
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column.endswith(("_low", "_high")) and column.rsplit("_", 1)[0] in merged:
            continue
        if column in merged:
            out[column] = [with_interval(v, lo, hi) for v, lo, hi in
                           zip(frame[column], frame[f"{column}_low"], frame[f"{column}_high"],
                               strict=True)]
        else:
            whole = column in COUNTS or pd.api.types.is_integer_dtype(frame[column])
            out[column] = [number(v, whole) for v in frame[column]]
    return out.reset_index(drop=True)


def apr_matrix(apr: pd.DataFrame) -> pd.DataFrame:
    """apr_correlations as a task x task matrix of rho (three decimals; 1.000 on the diagonal)."""
    if apr.empty:
        return apr
    tasks = sorted(set(apr.task_a) | set(apr.task_b))
    matrix = apr.pivot(index="task_a", columns="task_b", values="spearman").reindex(
        index=tasks, columns=tasks)
    cells = matrix.apply(lambda col: col.map(number))
    for task in tasks:
        cells.loc[task, task] = number(1.0)
    return cells.rename_axis(index="task", columns=None).reset_index()


def captions(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Move what repeats on every row out of the table: a constant good rule becomes one line
    under the title, and each row's interval note becomes a `*` on its estimate and one line."""
    lines = []
    if "good_rule" in frame and frame.good_rule.nunique(dropna=False) == 1 and len(frame):
        lines.append(f"good candidates: {frame.good_rule.iloc[0]}")
        frame = frame.drop(columns="good_rule")
    if "interval_note" in frame:
        noted = frame.interval_note.fillna("").astype(str).str.len() > 0
        text = readable(frame.drop(columns="interval_note"))
        if noted.any() and "spearman_good" in text:
            text.loc[noted.to_numpy(), "spearman_good"] += " *"
            lines.append("* no interval: fewer than 5 good candidates (see --format csv)")
        return text, lines
    return readable(frame), lines


def table_text(name: str, frame: pd.DataFrame) -> str:
    """One titled table in the table format."""
    title = f"## {name}: {TITLES[name]}" if name in TITLES else f"## {name}"
    if name == "apr_correlations" and not frame.empty:
        body = apr_matrix(frame)
        note = "\n(intervals: --table apr_correlations --format csv or json)"
        return f"{title}\n{body.to_string(index=False)}{note}"
    if frame.empty:
        return f"{title}\n(no rows)"
    text, lines = captions(frame)
    return "\n".join([title, *lines, text.to_string(index=False)])


def render_analysis(result: Analysis, fmt: str = "table",
                    tables: Sequence[str] | None = None) -> str:
    """Return the selected tables of `result` (default: all, summaries first) as text.

    Args:
        result: what `analyze` returned.
        fmt: table (titled, readable), csv (exactly one table) or json (table name -> rows).
        tables: the tables to show, in this order (default: ORDER, then any others).
    """
    selected = check_selection(tables, fmt)
    names = table_names(result.tables, selected)
    if fmt == "csv":
        return render(result.tables[names[0]], "csv")
    if fmt == "json":
        return json.dumps({name: json.loads(render(result.tables[name], "json"))
                           for name in names}, indent=1)
    return "\n\n".join(table_text(name, result.tables[name]) for name in names)


def _fmt(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def summary_text(db: Database | str | None, study: str) -> str:
    """Return a compact APR and proxy-quality summary of `study` from the views (no bootstrap).

    Args:
        db: an open Database, or a URL / SQLite path.
        study: the study's name.
    """
    database = views.as_database(db)
    views.study_exists(database, study)
    cells = views.candidate_errors(database, study)
    lines = [f"study {study}: {cells.task.nunique()} tasks, {cells.candidate.nunique()} "
             f"candidates with results"]
    lines += _apr_lines(views.imagenet_x_matches(database, study),
                        views.apr_correlations(database, study))
    quality = views.proxy_quality(database, study)
    if not quality.empty:
        lines.append("Proxy quality (r2 | Spearman over good candidates | relative cost):")
        for row in quality.sort_values("r2", ascending=False).itertuples():
            lines.append(f"  {row.proxy} -> {row.target}: r2 {_fmt(row.r2)} | "
                         f"{_fmt(row.spearman_good)} (n_good {row.n_good}/{row.n}) | "
                         f"cost {_fmt(row.relative_cost, 3)}")
    return "\n".join(lines)


def _apr_lines(matches: pd.DataFrame, apr: pd.DataFrame) -> list[str]:
    """The APR part of summary_text: targets against reference and family, else the top pairs."""
    lines = []
    if not matches.empty:
        lines.append("APR, Spearman rho of errors (target: vs reference | vs closest family):")
        for row in matches.itertuples():
            match = f"{row.match} {_fmt(row.rho_match)}" if isinstance(row.match, str) else "n/a"
            lines.append(f"  {row.target}: {row.reference} {_fmt(row.rho_reference)} | {match}")
        lines.append(f"  mean: reference {_fmt(matches.rho_reference.mean())} | "
                     f"family {_fmt(matches.rho_match.mean())}")
    elif not apr.empty:
        lines.append(f"APR, Spearman rho of errors over {apr.n.max()} candidates at most "
                     f"(mean over task pairs {_fmt(apr.spearman.mean())}):")
        top = apr[apr.task_a < apr.task_b].sort_values("spearman", ascending=False)
        for row in top.head(5).itertuples():
            lines.append(f"  {row.task_a} ~ {row.task_b}: {_fmt(row.spearman)} (n={row.n})")
    return lines
