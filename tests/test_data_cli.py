"""`proxystore data ...`: help text, a working round trip, and bad input as one line, exit 2."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proxystore.cli import main
from proxystore.data.commands import DataCommands
from proxystore.data.registry import register_dataset
from proxystore.data.subsets import SubsetDecl, declare_subset
from proxystore.db import open_database
from proxystore.db.models import (
    SqlArchitecture,
    SqlDataset,
    SqlRecipe,
    SqlRun,
    SqlSubset,
    SqlSubsetMember,
)

REPO = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")


def cli(*args: str, db: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PROXYSTORE_CACHE": str(db.parent / "cache")}
    return subprocess.run([sys.executable, "-m", "proxystore", "data", *args, "--db", str(db)],
                          capture_output=True, text=True, env=env, timeout=120)


def counts(db_path: Path) -> tuple[int, int, int]:
    db = open_database(f"sqlite:///{db_path}")
    with db.session() as session:
        result = tuple(session.scalar(select(func.count()).select_from(t))
                       for t in (SqlDataset, SqlSubset, SqlSubsetMember))
    db.dispose()
    return result  # type: ignore[return-value]


def test_every_command_documents_every_parameter() -> None:
    for name, method in inspect.getmembers(DataCommands, inspect.isfunction):
        if name.startswith("_"):
            continue
        doc = inspect.getdoc(method) or ""
        assert doc and doc.splitlines()[0].endswith("."), name
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        args = doc.split("Args:", 1)[1] if "Args:" in doc else ""
        for param in params:
            assert f"\n    {param}:" in args, (name, param)


def run_in_process(capsys, *args: str, db: Path) -> str:  # type: ignore[no-untyped-def]
    """Run a data command in this process (fast) and return what it printed."""
    main(["data", *args, "--db", str(db)])
    return capsys.readouterr().out


def test_add_show_subset_round_trip(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PROXYSTORE_CACHE", str(tmp_path / "cache"))
    db = tmp_path / "p.db"
    added = run_in_process(capsys, "add", "digits", "sklearn:digits", "--val-fraction", "0.2",
                           db=db)
    assert "1438 train / 359 val, 10 classes" in added
    shown = run_in_process(capsys, "show", "digits", "--format", "csv", db=db)
    assert "label,class,train,val" in shown and "\n0,0,142,36" in shown
    made = run_in_process(capsys, "subset", "digits", "classes", "--k", "5", "--seed", "0", db=db)
    assert "classes-5-s0: 721 train / 180 val, 5 classes" in made
    child = run_in_process(capsys, "subset", "digits", "per_class", "--n", "3", "--parent", "1",
                           db=db)
    assert "classes-5-s0/per_class-3-s0: 15 train / 180 val" in child
    named = run_in_process(capsys, "subset", "digits", "classes", "--labels", "1,7", db=db)
    assert "classes-1.7: 289 train / 72 val, 2 classes" in named
    capped = run_in_process(capsys, "subset", "digits", "per_class", "--n", "20", "--val-n", "5",
                            db=db)
    assert "per_class-20-val5-s0: 200 train / 50 val, 10 classes" in capped
    listed = run_in_process(capsys, "list", db=db)
    assert "digits" in listed and "sklearn:digits" in listed
    cached = run_in_process(capsys, "cache", "digits", "--image-size", "8", db=db)
    assert "train (1438, 1, 8, 8)" in cached and str(tmp_path / "cache") in cached


def make_run(db, subset_id: int) -> int:  # type: ignore[no-untyped-def]
    """Insert the minimal architecture, recipe and run rows of a scorer run."""
    with db.session() as session:
        arch = SqlArchitecture(space="test", genome={}, fingerprint="c" * 64)
        recipe = SqlRecipe(fingerprint="c" * 64, spec={}, epochs=1, batch_size=8,
                           optimizer="sgd", lr=0.1, weight_decay=0.0, schedule="cosine",
                           image_size=8, eval_metric="top1")
        session.add_all([arch, recipe])
        session.flush()
        run = SqlRun(cell_key="c" * 64, architecture_id=arch.id, subset_id=subset_id,
                     recipe_id=recipe.id, seed=0, trainer_version="test")
        session.add(run)
        session.flush()
        return run.id


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, int]:
    """A SQLite file with digits registered and a scorer run without scores."""
    path = tmp_path_factory.mktemp("cli") / "p.db"
    db = open_database(f"sqlite:///{path}", create=True)
    register_dataset(db, "digits", "sklearn:digits")
    full = declare_subset(db, "digits", SubsetDecl("full"))
    run_id = make_run(db, full.id)
    db.dispose()
    return path, run_id


BAD = [
    (["add", "x", "idx:/nonexistent/fashion"], "no directory /nonexistent/fashion"),
    (["add", "x", "CORRUPT"], "cannot read"),
    (["add", "x", "nosuch:thing"], "unknown dataset source"),
    (["add", "x", "sklearn:digits", "--val-fraction", "abc"], "--val-fraction must be a finite"),
    (["add", "x", "sklearn:digits", "--seed", "abc"], "seed must be an integer"),
    (["subset", "digits", "random", "--fraction", "1.5"], "must lie in (0, 1]"),
    (["subset", "digits", "classes", "--k", "11"], "cannot keep 11 classes"),
    (["subset", "digits", "per_class", "--n", "0"], "per-class cap n must be an integer"),
    (["subset", "digits", "loss_quantile", "--a", "0", "--b", "0.1", "--scorer-run", "RUN"],
     "has no per-example scores"),
    (["subset", "nodata", "full"], "no dataset named 'nodata'"),
    (["cache", "digits", "--image-size", "abc"], "--image-size must be an integer, got 'abc'"),
    (["cache", "digits", "--image-size", "1000000000"],
     "--image-size must be an integer from 1 to 4096, got 1000000000"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a[:3]) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_nothing_registered(prepared, tmp_path, args, message):  # type: ignore[no-untyped-def]  # noqa: E501
    db, run_id = prepared
    if "CORRUPT" in args:
        for file in FASHION.iterdir():
            (tmp_path / file.name).write_bytes(file.read_bytes()[:1000])
        args = [a.replace("CORRUPT", f"idx:{tmp_path}") for a in args]
    args = [a.replace("RUN", str(run_id)) for a in args]
    before = counts(db)
    result = cli(*args, db=db)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proxystore: error:") and message in lines[0]
    assert counts(db) == before
    assert not (db.parent / "cache").exists()  # no decode cache begun either
