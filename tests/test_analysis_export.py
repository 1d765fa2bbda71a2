"""`export-results`: a study's results leave as CSV + roles and come back with the same views."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from analysis_data import fill
from sqlalchemy import select

from proxystore.analysis import views
from proxystore.analysis.analyzer import analyze
from proxystore.analysis.exporter import export_results
from proxystore.analysis.importer import cell_key, import_results
from proxystore.db import open_database
from proxystore.db.models import SqlRun, SqlStudy, SqlStudyTask

ROOT = Path(__file__).resolve().parents[1]
# Every view but epoch_correlations, whose per-epoch errors (run_epochs) an export leaves behind.
CARRIED = [name for name in views.VIEWS if name != "epoch_correlations"]
STRATEGIES = {"px_timed": "All Classes-1.0-ep2", "px_untimed": "hard-0.0-0.5",
              "px_tie": "hard-0.0-0.5"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "proxystore", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def _study(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Fill study `s` (seeds, missing cells, a failed run, best epochs), then add to it a
    diverged run, Table 2 strategies on the proxies and analysis settings of its own."""
    fill(db, tmp_path)
    with db.session() as session:
        key = cell_key("s", "c002", "fam_10", 0)
        run = session.scalar(select(SqlRun).where(SqlRun.cell_key == key))
        run.status, run.failure = "failed", "diverged"
        run.final_top1_error = run.final_top5_error = run.best_top1_error = None
        for task in session.scalars(select(SqlStudyTask)):
            task.strategy = STRATEGIES.get(task.label, task.strategy)
        study = session.scalar(select(SqlStudy).where(SqlStudy.name == "s"))
        study.good_rule, study.good_value = "top", 10.0


def _views(url: str) -> dict[str, pd.DataFrame]:
    database = open_database(url, pool=False)
    try:
        return {name: views.view(database, name, "s").drop(columns="study") for name in CARRIED}
    finally:
        database.dispose()


def test_export_then_import_gives_every_view_the_same_rows(db, db_url, second_db_url, tmp_path):
    _study(db, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    summary = export_results(db, "s", out / "s.csv")
    assert summary.diverged == 1 and (out / "s.yaml").is_file()
    import_results(second_db_url, out / "s.csv", "s")
    before, after = _views(db_url), _views(second_db_url)
    assert len(before["cell_errors"]) == summary.rows
    assert before["cell_errors"].diverged.sum() == 1
    assert set(before["proxy_strategies"].strategy) == set(STRATEGIES.values())
    for name in CARRIED:
        pd.testing.assert_frame_equal(before[name], after[name], check_dtype=False, obj=name)


def test_export_then_import_gives_the_same_analyze_tables(db, second_db_url, tmp_path):
    _study(db, tmp_path)
    export_results(db, "s", tmp_path / "s.csv")
    import_results(second_db_url, tmp_path / "s.csv", "s")
    original, copy = analyze(db, "s", n_boot=0), analyze(second_db_url, "s", n_boot=0)
    for name, table in original.tables.items():
        if name in ("epoch_correlations", "epoch_order"):  # per-epoch rows stay behind
            continue
        pd.testing.assert_frame_equal(table, copy.tables[name], check_dtype=False, obj=name)
    assert views.analysis_settings(second_db_url, "s").good_top == 10


def test_export_files_hold_the_diverged_row_and_the_roles(sqlite_db, tmp_path):
    _study(sqlite_db, tmp_path)
    export_results(sqlite_db, "s", tmp_path / "s.csv")
    with (tmp_path / "s.csv").open() as handle:
        rows = {(r["candidate"], r["task"], r["seed"]): r for r in csv.DictReader(handle)}
    assert rows[("c002", "fam_10", "0")]["status"] == "diverged"
    assert rows[("c002", "fam_10", "0")]["error"] == ""
    assert ("c001", "ref", "0") not in rows  # a failed run is no result
    roles = yaml.safe_load((tmp_path / "s.yaml").read_text())
    assert roles["analysis"] == {"good": {"top": 10}}
    assert roles["tasks"]["px_timed"] == {
        "role": "proxy", "proxy_of": "tgt_near", "train_count": 900, "epochs": 2,
        "eval_metric": "top1", "strategy": "All Classes-1.0-ep2"}
    assert roles["tasks"]["tgt_tie"]["num_classes"] == 30


def test_cli_exports_and_refuses_bad_input_in_one_line(sqlite_db, tmp_path):
    _study(sqlite_db, tmp_path)
    url = str(sqlite_db.engine.url)
    done = _cli("export-results", str(tmp_path / "r.csv"), "--study", "s", "--db", url)
    assert done.returncode == 0, done.stderr
    assert "1 diverged" in done.stdout and (tmp_path / "r.yaml").is_file()
    for args, message in [(["x.csv", "--study", "nope"], "no study named 'nope'"),
                          ([str(tmp_path / "r.txt"), "--study", "s"], "must end in .csv"),
                          ([str(tmp_path / "no" / "r.csv"), "--study", "s"], "does not exist")]:
        bad = _cli("export-results", *args, "--db", url)
        assert bad.returncode == 2, bad.stderr
        assert message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
