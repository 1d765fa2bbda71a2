"""`report`: the HTML embeds every plot the study's roles allow and says why it skips the rest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
from analysis_data import fill

from proxystore.analysis.importer import import_results
from proxystore.analysis.report import TITLES, write_report

ROOT = Path(__file__).resolve().parents[1]
PLOTS = ("fig-reference", "fig-family", "fig-matrix", "fig-depth-width", "fig-proxy-cost",
         "fig-epochs")
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
        assert TITLES[anchor] in sections[anchor]
    assert page.count(IMG) == len(PLOTS)
    table = sections["table-imagenet-x"]
    assert "<table" in table and "tgt_tie" in table and "fam_10" in table
    assert 'class="skipped"' not in page
    # The generated study misses cells: each figure says so beside it, as analyze does.
    assert '<p class="missing">warning: proxy_strategies: ' in sections["fig-proxy-cost"]
    assert '<p class="missing">warning: apr_correlations: ' in sections["fig-matrix"]
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
                   "fig-epochs", "table-imagenet-x"):
        assert IMG not in sections[anchor] and "Skipped:" in sections[anchor], anchor
