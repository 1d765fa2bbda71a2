"""`report`: the HTML embeds every plot the study's roles allow and says why it skips the rest."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
from analysis_data import fill

from proxystore import __version__
from proxystore.analysis import report as report_module
from proxystore.analysis import report_tables, views
from proxystore.analysis.analyzer import analyze
from proxystore.analysis.importer import import_results
from proxystore.analysis.report import TITLES, build_report, write_report
from proxystore.db import open_database

ROOT = Path(__file__).resolve().parents[1]
PLOTS = ("fig-reference", "fig-family", "fig-matrix", "fig-depth-width", "fig-proxy-cost",
         "fig-epochs")
TABLES = ("table-proxy", "table-imagenet-x")
IMG = '<img src="data:image/png;base64,'


def _sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, flags=re.S))


def test_report_embeds_each_figure_with_its_title(sqlite_db, tmp_path):
    fill(sqlite_db, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "proxystore", "report", "s", "--out",
                             str(tmp_path / "out"), "--boot", "20", "--db", sqlite_db.url],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    sections = _sections(page)
    for anchor in PLOTS:
        assert sections[anchor].count(IMG) == 1, anchor
        assert html.escape(TITLES[anchor]) in sections[anchor]
    assert page.count(IMG) == len(PLOTS)
    table = sections["table-imagenet-x"]
    assert "<table" in table and "tgt_tie" in table and "fam_10" in table
    assert "<table" in sections["table-proxy"] and "px_tie" in sections["table-proxy"]
    assert 'class="skipped"' not in page
    # The generated study misses cells: each figure says so beside it, as analyze does.
    assert '<ul class="warning"><li>px_untimed: ' in sections["fig-proxy-cost"]
    assert '<ul class="warning"><li>warning: apr_correlations: ' in sections["fig-matrix"]
    assert "http://" not in page and "https://" not in page  # self-contained


def test_report_skips_plots_the_study_lacks_roles_for(sqlite_db, tmp_path):
    path = tmp_path / "two.csv"
    pd.DataFrame({"candidate": list("abcde") * 2, "task": ["x"] * 5 + ["y"] * 5,
                  "seed": 0, "error": [0.1, 0.2, 0.3, 0.4, 0.5, 0.3, 0.1, 0.2, 0.5, 0.4]}
                 ).to_csv(path, index=False)
    import_results(sqlite_db, path, "plain")
    page = write_report(sqlite_db, "plain", tmp_path / "r", n_boot=10).read_text()
    sections = _sections(page)
    assert sections["fig-matrix"].count(IMG) == 1
    for anchor in ("fig-reference", "fig-family", "fig-depth-width", "fig-proxy-cost",
                   "fig-epochs", "table-imagenet-x", "table-proxy"):
        assert IMG not in sections[anchor] and "Skipped:" in sections[anchor], anchor


def _cells(table_html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", table_html, flags=re.S)
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in rows]


def test_report_header_and_sections_name_the_study_spec_version_database_and_papers(db_url,
                                                                                    tmp_path):
    # On PostgreSQL (trust) a password in the URL is accepted and must never be printed.
    url = db_url.replace("postgres@", "postgres:s3cret@") if "postgresql" in db_url else db_url
    database = open_database(url)
    fill(database, tmp_path)
    page = build_report(database, "s", n_boot=10)
    database.dispose()
    header = page[page.index('<dl class="header">'):page.index("</dl>")]
    spec = views.query(db_url, "SELECT spec_fingerprint AS label FROM studies").label.iloc[0]
    for text in ("<dd>s</dd>", f"<dd>{spec}</dd>", f"<dd>{__version__}</dd>", " UTC</dd>"):
        assert text in header, text
    assert "s3cret" not in page
    if "postgresql" in db_url:
        assert "postgres:***@" in header
    else:
        assert f"<dd>{db_url}</dd>" in header
    papers = re.findall(r"<h2 id=\"[^\"]+\">(.*?)</h2>", page)
    assert papers[0].startswith("Shleifer &amp; Prokop") and papers[1].startswith("Tuggener et al.")
    assert "seed 1" not in page.lower() and "seed 2" not in page.lower()


def test_table_3_has_a_row_per_target_and_the_average_in_the_papers_layout(sqlite_db, tmp_path):
    fill(sqlite_db, tmp_path)
    matches = views.imagenet_x_matches(sqlite_db, "s")
    rows = _cells(_sections(build_report(sqlite_db, "s", n_boot=0))["table-imagenet-x"])
    assert rows[0] == ["Target", "ρ ref", "Closest family member", "ρ closest member",
                       "Difference"]
    tie = next(r for r in rows if r[0] == "tgt_tie")
    row = matches.set_index("target").loc["tgt_tie"]
    assert tie[1:5] == [f"{row.rho_reference:.3f}", "fam_10", f"{row.rho_match:.3f}",
                        f"{row.rho_match - row.rho_reference:.3f}"]
    both = matches.dropna(subset=["rho_match"])
    assert rows[-1][0] == "Average"
    assert rows[-1][1] == f"{both.rho_reference.mean():.3f}"


def test_tables_2_and_3_use_the_summary_views_and_warn_about_missing_results(
        sqlite_db, tmp_path, monkeypatch):
    fill(sqlite_db, tmp_path)
    real = report_module.analyze

    def with_summaries(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        result.tables["proxy_strategies"] = pd.DataFrame({
            "strategy": ["random", "classes"], "n_targets": [2, 1], "n": [30, 31],
            "n_missing": [0, 4], "r2": [0.5, 0.7], "r2_low": [0.4, 0.6], "r2_high": [0.6, 0.8],
            "spearman_good": [0.1, 0.2], "n_good": [3, 4], "relative_cost": [0.5, 0.25],
            "cost_adjusted_r2": [-0.1, 0.1]})
        result.tables["imagenet_x_summary"] = pd.DataFrame({
            "n_targets": [2], "n": [33], "n_missing": [2], "mean_rho_reference": [0.111],
            "mean_rho_match": [0.333], "mean_difference": [0.222], "ratio": [3.0]})
        return result

    monkeypatch.setattr(report_module, "analyze", with_summaries)
    sections = _sections(build_report(sqlite_db, "s", n_boot=0))
    table2 = _cells(sections["table-proxy"])
    assert table2[0][:5] == ["Proxy creation strategy", "r²", "Spearman (good)",
                             "Cost-adjusted r²", "Relative cost"]
    assert [r[0] for r in table2[1:]] == ["classes", "random"]  # best r² first
    assert table2[1][1] == "0.700 [0.600, 0.800]"
    warning = "classes: 4 of 35 results missing"
    assert warning in sections["table-proxy"] and warning in sections["fig-proxy-cost"]
    assert "random:" not in sections["table-proxy"]
    table3 = _cells(sections["table-imagenet-x"])
    assert table3[-1][:5] == ["Average", "0.111", "", "0.333", "0.222"]
    assert "2 of 35 results missing" in sections["fig-family"]


def test_all_tables_align_numbers_right_and_fold_long_tables(sqlite_db, tmp_path):
    fill(sqlite_db, tmp_path)
    result = analyze(sqlite_db, "s", n_boot=0)
    long = pd.DataFrame({"task": [f"t{i}" for i in range(30)], "n": 5, "rho": 0.5})
    page = report_tables.all_tables({**result.tables, "zz_long": long})
    blocks = re.findall(r"<details( open)?><summary><b>([^:<]+)", page)
    names = [name for _, name in blocks]
    assert names[0] == "proxy_strategies" and names[-2:] == ["apr_correlations", "zz_long"]
    assert dict((name, bool(is_open)) for is_open, name in blocks)["zz_long"] is False
    assert '<td class="label">t0</td><td class="num">5</td><td class="num">0.500</td>' in page
