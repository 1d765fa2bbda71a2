"""`analyze` output: summaries first, three decimals, intervals beside estimates, one-table csv."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from analysis_data import fill
from helpers import run_cli

from proxystore.analysis.analyzer import Analysis
from proxystore.analysis.render import ORDER, check_selection, readable, render_analysis
from proxystore.errors import UsageError


def _analysis() -> Analysis:
    apr = pd.DataFrame({"task_a": ["a", "b"], "task_b": ["b", "a"], "n": [12, 12],
                        "spearman": [0.51234, 0.51234], "spearman_low": [0.2, 0.2],
                        "spearman_high": [0.8, 0.8]})
    quality = pd.DataFrame({"target": ["a"], "proxy": ["b"], "n": [12], "r2": [0.81234],
                            "r2_low": [0.71], "r2_high": [0.9], "relative_cost": [0.05348],
                            "n_good": [3]})
    strategies = pd.DataFrame({"strategy": ["random"], "n_targets": [2], "r2": [1.0]})
    tables = {"zz_extra": pd.DataFrame({"x": [1.5]}), "apr_correlations": apr,
              "proxy_quality": quality, "proxy_strategies": strategies}
    return Analysis(study="s", n_boot=10, seed=0, tables=tables)


def _headings(text: str) -> list[str]:
    return [line[3:].split(":")[0] for line in text.splitlines() if line.startswith("## ")]


def test_default_order_leads_with_the_summaries_and_ends_with_apr_then_extras():
    assert _headings(render_analysis(_analysis())) == [
        "proxy_strategies", "proxy_quality", "apr_correlations", "zz_extra"]
    assert ORDER[0] == "proxy_strategies" and ORDER[-1] == "apr_correlations"


def test_table_format_merges_intervals_at_three_decimals():
    text = render_analysis(_analysis(), tables=["proxy_quality"])
    assert "0.812 [0.710, 0.900]" in text
    assert "0.053" in text and "0.05348" not in text
    assert "r2_low" not in text and " 12 " in text  # counts stay whole
    frame = readable(_analysis()["proxy_quality"])
    assert list(frame.columns) == ["target", "proxy", "n", "r2", "relative_cost", "n_good"]
    assert readable(_analysis()["proxy_strategies"]).r2.tolist() == ["1.000"]


def test_apr_is_a_task_by_task_matrix_in_the_table_format():
    lines = render_analysis(_analysis(), tables=["apr_correlations"]).splitlines()
    assert lines[1].split() == ["task", "a", "b"]
    assert lines[2].split() == ["a", "1.000", "0.512"]
    assert lines[3].split() == ["b", "0.512", "1.000"]


def test_csv_and_json_keep_the_interval_columns():
    frame = pd.read_csv(io.StringIO(render_analysis(_analysis(), "csv", ["proxy_quality"])))
    assert frame.loc[0, "r2"] == pytest.approx(0.81234)
    assert (frame.loc[0, "r2_low"], frame.loc[0, "r2_high"]) == (0.71, 0.9)
    data = json.loads(render_analysis(_analysis(), "json", ["apr_correlations", "proxy_quality"]))
    assert list(data) == ["apr_correlations", "proxy_quality"]
    assert data["apr_correlations"][0]["spearman_low"] == 0.2


@pytest.mark.parametrize(("tables", "fmt", "message"), [
    (None, "csv", "--format csv writes exactly one table: add --table NAME"),
    (["proxy_quality", "seed_noise"], "csv", "--format csv writes exactly one table"),
    (["proxy_qualty"], "table", "unknown --table proxy_qualty; did you mean proxy_quality?"),
])
def test_a_bad_selection_is_refused_before_any_work(tables, fmt, message):
    with pytest.raises(UsageError, match=message.replace("?", r"\?")):
        check_selection(tables, fmt)


def test_cli_selects_tables_and_writes_csv_pandas_loads(db, tmp_path):
    fill(db, tmp_path)
    url = db.url
    out = run_cli("analyze", "s", "--table", "proxy_quality", "--format", "csv", "--boot", "10",
                  "--db", url)
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(io.StringIO(out.stdout))
    assert set(frame.proxy) == {"px_timed", "px_untimed", "px_tie"}
    assert {"r2_low", "r2_high"} <= set(frame.columns)
    assert "cost_adjusted_r2" not in frame  # fitted over Table 2's strategy rows only
    pooled = run_cli("analyze", "s", "--table", "proxy_strategies", "--format", "csv", "--boot",
                     "10", "--db", url)
    assert pooled.returncode == 0, pooled.stderr
    strategies = pd.read_csv(io.StringIO(pooled.stdout))
    assert {"strategy", "r2_low", "r2_high", "cost_adjusted_r2"} <= set(strategies.columns)
    both = run_cli("analyze", "s", "--table", "imagenet_x_matches", "--table", "proxy_quality",
                   "--boot", "0", "--db", url)
    assert both.returncode == 0, both.stderr
    assert _headings(both.stdout) == ["imagenet_x_matches", "proxy_quality"]
    default = run_cli("analyze", "s", "--boot", "10", "--db", url)
    names = _headings(default.stdout)
    assert names[:3] == ["proxy_strategies", "imagenet_x_summary", "proxy_quality"]  # answers
    assert names[-1] == "apr_correlations"
    assert max(len(line) for line in default.stdout.splitlines()) <= 160


def test_cli_csv_without_table_fails_in_one_line_before_opening_the_study(tmp_path):
    # The study does not exist: the csv rule must be what stops the command, before any query.
    missing = tmp_path / "nothing.db"
    result = run_cli("analyze", "nope", "--format", "csv", "--db", str(missing))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--format csv writes exactly one table" in result.stderr
    assert not missing.exists()
