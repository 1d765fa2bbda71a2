"""`import-results` through the command line: idempotent, marked imported, bad input rejected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from analysis_data import make_results, write_csv
from sqlalchemy import func, select

from proxystore.analysis import views
from proxystore.analysis.importer import import_results
from proxystore.analysis.results_file import read_results
from proxystore.db import open_database
from proxystore.db.models import SqlArchitecture, SqlRun, SqlStudyCell, SqlStudyTask
from proxystore.errors import ResultsFileError

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "proxystore", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def _counts(url: str) -> dict[str, int]:
    database = open_database(url, pool=False)
    try:
        with database.session() as session:
            return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                    for model in (SqlRun, SqlStudyCell, SqlArchitecture, SqlStudyTask)}
    finally:
        database.dispose()


def test_second_import_of_the_same_file_changes_nothing(db_url, tmp_path):
    path = write_csv(make_results(12), tmp_path)
    first = _cli("import-results", str(path), "--study", "pub", "--db", db_url)
    assert first.returncode == 0, first.stderr
    counts = _counts(db_url)
    second = _cli("import-results", str(path), "--study", "pub", "--db", db_url)
    assert second.returncode == 0, second.stderr
    assert "0 runs imported, 0 updated" in second.stdout
    assert _counts(db_url) == counts
    database = open_database(db_url, pool=False)
    with database.session() as session:
        runs = session.scalars(select(SqlRun)).all()
        assert runs and all(r.imported and r.status == "done" for r in runs)
        assert {r.trainer_version for r in runs} == {"imported"}
        arch = session.scalars(select(SqlArchitecture)).first()
        assert arch.space == "imported" and arch.genome["study"] == "pub"
    cells = views.cell_errors(database, "pub")
    database.dispose()
    assert len(cells) == counts["runs"] == len(pd.read_csv(path))


def test_roles_option_as_json_and_a_corrected_file_updates_only_changed_runs(db_url, tmp_path):
    frame = make_results(8)[["candidate", "task", "seed", "error"]]
    path = tmp_path / "plain.csv"
    frame.to_csv(path, index=False)
    roles = json.dumps({"ref": "reference", "tgt_tie": "target",
                        "px_tie": {"role": "proxy", "proxy_of": "tgt_tie"}})
    assert _cli("import-results", str(path), "--study", "j", "--roles", roles,
                "--db", db_url).returncode == 0
    frame.loc[0, "error"] = 0.015625
    frame.to_csv(path, index=False)
    summary = import_results(db_url, path, "j", roles=json.loads(roles))
    assert (summary.created, summary.updated) == (0, 1)
    tasks = views.study_tasks(db_url, "j").set_index("label")
    assert tasks.loc["px_tie", "role"] == "proxy" and tasks.loc["px_tie", "proxy_of"] == "tgt_tie"
    assert tasks.loc["fam_10", "role"] == "other"


def test_bad_csv_exits_2_with_one_line_and_writes_nothing(db_url, tmp_path):
    frame = make_results(6)
    path = write_csv(frame, tmp_path)
    frame.astype({"error": object}).assign(
        error=frame.error.astype(object).where(frame.index != 3, "oops")).to_csv(path, index=False)
    before = _counts(db_url)
    result = _cli("import-results", str(path), "--study", "bad", "--db", db_url)
    assert result.returncode == 2
    assert f"{path}: line 5, column 'error': 'oops' is not a number" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _counts(db_url) == before


@pytest.mark.parametrize(("option", "message"), [
    (["--roles", "{imagenet: reference"], "--roles: not valid JSON or YAML (line 1)"),
    (["--roles", "TMP/twice.yaml"],
     "TMP/twice.yaml: not valid JSON or YAML (line 3): duplicate key 't0' (first on line 2)"),
    (["--spec", "TMP/nosuch.yaml"],
     "TMP/nosuch.yaml: cannot read the study spec (No such file or directory)"),
    (["--spec", "TMP/broken.yaml"], "TMP/broken.yaml: not valid JSON or YAML (line 3)"),
])
def test_bad_roles_or_spec_is_one_line_and_writes_nothing(sqlite_db, tmp_path, option, message):
    path = write_csv(make_results(6), tmp_path)
    (tmp_path / "broken.yaml").write_text("tasks:\n  t0: [reference\n  t1: other\n")
    (tmp_path / "twice.yaml").write_text("tasks:\n  t0: reference\n  t0: other\n")
    option = [o.replace("TMP", str(tmp_path)) for o in option]
    before = _counts(sqlite_db.url)
    result = _cli("import-results", str(path), "--study", "bad", *option, "--db", sqlite_db.url)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message.replace("TMP", str(tmp_path)) in lines[0], result.stderr
    assert _counts(sqlite_db.url) == before


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda f: f.drop(columns="error"), "line 1: missing required column(s) error"),
    (lambda f: f.assign(seed=f.seed.astype(object).where(f.index != 0, "1.5")),
     "line 2, column 'seed': '1.5' is not an integer"),
    (lambda f: f.assign(error=f.error.where(f.index != 1, 7.0)),
     "line 3, column 'error': '7.0' is not an error fraction"),
    (lambda f: f.assign(candidate=f.candidate.where(f.index != 2, "")),
     "line 4, column 'candidate': value is missing"),
    (lambda f: pd.concat([f, f.iloc[[0]]]), "already on line 2"),
])
def test_bad_csv_names_file_line_and_column(tmp_path, mutate, message):
    path = tmp_path / "bad.csv"
    mutate(make_results(6)).to_csv(path, index=False)
    with pytest.raises(ResultsFileError) as error:
        read_results(path)
    assert message in str(error.value) and str(path) in str(error.value)


def _text_with(frame: pd.DataFrame, header: str | None = None, last: str | None = None) -> str:
    """The CSV text of `frame`, its header or its last line replaced."""
    lines = frame.to_csv(index=False).splitlines()
    if header is not None:
        lines[0] = header
    if last is not None:
        lines[-1] = last
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda f: _text_with(f, header=",".join([*f.columns, "gpu_second"]),
                          last=f.to_csv(index=False).splitlines()[-1] + ",5"),
     "line 1, column 'gpu_second': unknown column; the known ones are candidate, task, seed"),
    (lambda f: _text_with(f, header=",".join(f.columns).replace("top1_error", "error")),
     "line 1, column 'error': given twice in the header (columns 4 and 5)"),
    (lambda f: _text_with(f, last=f.to_csv(index=False).splitlines()[-1] + ",0.5"),
     "line 7: 10 fields where the header has 9 columns (an extra field '0.5')"),
    (lambda f: _text_with(f.assign(gpu_seconds=f.gpu_seconds.where(f.index != 5, -1.5))),
     "line 7, column 'gpu_seconds': '-1.5' is negative"),
    (lambda f: _text_with(f.assign(epochs=1).assign(epochs=lambda g: g.epochs.where(
        g.index != 5, 0))), "line 7, column 'epochs': '0' is below 1"),
    (lambda f: _text_with(f.assign(seed=f.seed.where(f.index != 5, -1))),
     "line 7, column 'seed': '-1' is negative"),
    (lambda f: _text_with(f.assign(cumulative_depth=f.cumulative_depth.where(f.index != 5, 0))),
     "line 7, column 'cumulative_depth': '0' is below 1"),
    (lambda f: _text_with(f.assign(top5_error=f.error.where(f.index != 5, 1.5))),
     "line 7, column 'top5_error': '1.5' is not an error fraction in [0, 1]"),
    (lambda f: _text_with(f.assign(seed=f.seed.where(f.index != 5, 3_000_000_000))),
     "line 7, column 'seed': '3000000000' is above 2,147,483,647"),
])
def test_a_bad_field_anywhere_is_one_line_and_nothing_is_imported(db_url, tmp_path, edit,
                                                                  message):
    """An unknown column, a column given twice, an extra field and a negative gpu_seconds
    were imported without a word (pandas renamed the second `error` to `error.1` and took an
    extra field for an index); the bad field is on the last row, after five good ones."""
    path = tmp_path / "bad.csv"
    frame = make_results(6).iloc[:6].reset_index(drop=True)
    path.write_text(edit(frame))
    before = _counts(db_url)
    result = _cli("import-results", str(path), "--study", "bad", "--db", db_url)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"proxystore: error: {path}: {message}"), line
    assert _counts(db_url) == before
    path.write_text(frame.to_csv(index=False))  # the same rows, corrected, import
    assert _cli("import-results", str(path), "--study", "bad", "--db", db_url).returncode == 0
    assert _counts(db_url)["runs"] == before["runs"] + 6


def test_a_bad_number_in_the_roles_is_refused(sqlite_db, tmp_path):
    path = write_csv(make_results(6), tmp_path)
    before = _counts(sqlite_db.url)
    for value, shown in ((-3, "-3"), ("many", "'many'")):
        with pytest.raises(ResultsFileError) as error:
            import_results(sqlite_db, path, "r", roles={"ref": {"role": "reference",
                                                                "epochs": value}})
        assert str(error.value) == (f"task 'ref' in the roles: epochs must be a positive "
                                    f"integer, got {shown}")
    assert _counts(sqlite_db.url) == before


def test_blank_lines_and_a_byte_order_mark_are_read_with_true_line_numbers(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfcandidate,task,seed,error\n\na,t,0,0.1\n\nb,t,0,1.5\n")
    with pytest.raises(ResultsFileError) as error:
        read_results(path)
    assert str(error.value) == (f"{path}: line 5, column 'error': '1.5' is not an error "
                                "fraction in [0, 1]")


def test_a_proxy_without_its_target_is_rejected(sqlite_db, tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"candidate": ["a", "b"], "task": ["p", "p"], "seed": [0, 0],
                  "error": [0.1, 0.2]}).to_csv(path, index=False)
    with pytest.raises(ResultsFileError, match="proxy but names no proxy_of"):
        import_results(sqlite_db, path, "x", roles={"p": "proxy"})
    with pytest.raises(ResultsFileError, match="has no rows"):
        import_results(sqlite_db, path, "x", roles={"p": {"role": "proxy", "proxy_of": "t"}})
