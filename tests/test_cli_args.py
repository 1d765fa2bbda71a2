"""The command line refuses a typo before it works: every command, every flag, every type.

Commands are discovered from the Proxystore class and its groups (cli_commands.command_paths), so a
command or flag added later is walked too. The walk calls cli.main in this process (fast); one
subprocess check runs the real `python -m proxystore`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import text

from proxystore.cli import Proxystore, main
from proxystore.cli_args import read
from proxystore.cli_commands import Command, Param, command_paths, describe, group_class
from proxystore.db import open_database
from proxystore.errors import UsageError
from tests.helpers import REPO, run_cli

COMMANDS = [describe(Proxystore, path) for path in command_paths(Proxystore)]
DUMMY = {"int": "8", "float": "0.5", "text": "x", "choice": "csv", "bool": "true"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """cli.main in this process: (exit code, stdout, stderr)."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _required(command: Command) -> list[str]:
    """Plausible values for the command's required positional arguments."""
    return [DUMMY[p.kind] for p in command.params if p.required]


def _with_db(command: Command, db_url: str) -> list[str]:
    return ["--db", db_url] if any(p.name == "db" for p in command.params) else []


def _state(db_url: str, root: Path) -> dict[str, Any]:
    """Every file under root (with its bytes' hash) and, on PostgreSQL, every table's row count."""
    files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file()}
    tables: dict[str, int] = {}
    if db_url.startswith("postgresql"):
        database = open_database(db_url)
        with database.engine.connect() as conn:
            names = conn.execute(text("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = current_schema() "
                                      "AND table_type = 'BASE TABLE'")).scalars().all()
            for name in names:
                tables[name] = conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            tables["version"] = hash(conn.execute(text(
                "SELECT version_num FROM alembic_version")).scalar_one())
        database.dispose()
    return {"files": files, "tables": tables}


def _misspelt(param: Param) -> str:
    """The flag with its last letter doubled: --max-cellss, --kk."""
    return param.flag + param.flag[-1]


def _bad_values(param: Param) -> list[str]:
    return {"int": ["abc", "1.5"], "float": ["abc", "inf"], "bool": ["maybe"],
            "choice": ["xml"]}.get(param.kind, [])


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, so ./proxystore.db, mlflow.db or a cache would show."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("PROXYSTORE_DB", raising=False)
    return cwd


def test_the_walk_finds_every_kind_of_command_and_flag():
    names = {c.name for c in COMMANDS}
    assert {"fill", "plan", "analyze", "import-results", "sql", "db upgrade", "data subset",
            "spec check", "launch slurm", "mlflow sync", "arch sample"} <= names
    kinds = {p.kind for c in COMMANDS for p in c.params}
    assert {"int", "float", "bool", "text", "choice"} <= kinds


def test_every_misspelt_flag_is_one_line_with_a_suggestion_and_changes_nothing(
        db_url, tmp_path, workdir, capsys):
    before = _state(db_url, tmp_path)
    walked = 0
    for command in COMMANDS:
        for param in command.params:
            if param.variadic:
                continue
            value = [] if param.kind == "bool" else [DUMMY[param.kind]]
            argv = [*command.path, *_required(command), *_with_db(command, db_url),
                    _misspelt(param), *value]
            code, out, err = _run(capsys, *argv)
            where = " ".join(argv)
            assert code == 2, where
            assert err.count("\n") == 1 and not out, where
            assert err.startswith(f"proxystore: error: unknown flag {_misspelt(param)}; "
                                  f"did you mean {param.flag}?"), (where, err)
            assert f"proxystore {command.name} --help" in err, err
            walked += 1
    assert walked > 100
    assert _state(db_url, tmp_path) == before  # no database rows, no file created or changed


def test_every_wrong_typed_value_is_one_line_and_changes_nothing(db_url, tmp_path, workdir,
                                                                 capsys):
    before = _state(db_url, tmp_path)
    seen: set[str] = set()
    for command in COMMANDS:
        for param in command.params:
            for bad in _bad_values(param):
                if param.positional and param.required:
                    values = [bad if p is param else DUMMY[p.kind]
                              for p in command.params if p.required]
                    argv, shown = [*command.path, *values], param.metavar
                else:
                    argv = [*command.path, *_required(command), f"{param.flag}={bad}"]
                    shown = param.flag
                argv += _with_db(command, db_url)
                code, out, err = _run(capsys, *argv)
                where = " ".join(argv)
                assert code == 2, where
                assert err.count("\n") == 1 and not out, (where, err)
                assert err.startswith(f"proxystore: error: {shown} must be "), (where, err)
                assert repr(bad) in err, err
                seen.add(param.kind)
    assert seen == {"int", "float", "bool", "choice"}
    assert _state(db_url, tmp_path) == before


@pytest.mark.parametrize(("argv", "message"), [
    (["fill", "--max-cell", "0"],
     "unknown flag --max-cell; did you mean --max-cells?"),
    (["analyze", "demo", "--fromat", "csv"], "unknown flag --fromat; did you mean --format?"),
    (["plan", "s.yaml", "--dbb", "x"], "unknown flag --dbb; did you mean --db?"),
    (["analyze", "demo", "--boot", "abc"], "--boot must be an integer, got 'abc'"),
    (["fill", "--workers", "1.5"], "--workers must be an integer, got '1.5'"),
    (["fill", "--dry-run", "maybe"], "--dry-run must be true or false, got 'maybe'"),
    (["fill", "--dry-run", "jobs/demo.yaml"], "(a switch: --dry-run alone, --dry-run=false"),
    (["analyze", "demo", "--format", "jsn"],
     "--format must be one of table, csv, json, got 'jsn'; did you mean json?"),
    (["fil"], "unknown command 'fil'; did you mean fill?"),
    (["FILL"], "unknown command 'FILL'; did you mean fill?"),
    (["fill", "--Max-Cells", "0"], "unknown flag --Max-Cells; did you mean --max-cells?"),
    (["upgrade"], "unknown command 'upgrade'; did you mean db upgrade?"),
    (["db", "upgrad"], "unknown command 'db upgrad'; did you mean db upgrade?"),
    (["import_result", "x.csv"], "did you mean import-results?"),
    (["--db", "x.db", "fill"], "give a command after `proxystore`, before --db; "),
    (["--max-cells", "0"], "before --max-cells (--max-cells is a flag of fill); `proxystore"),
    (["db", "--db", "x.db"], "give a command after `proxystore db`, before --db; `proxystore db "
                             "--help` lists them"),
    (["spec", "check", "--specs=a.yaml"], "SPECS... are arguments, not a flag: proxystore spec "
                                          "check a.yaml ..."),
    (["analyze"], "missing STUDY (--study) (usage: proxystore analyze STUDY [flags])"),
    (["report", "demo"], "missing OUT (--out) (usage: proxystore report STUDY OUT [flags])"),
    (["analyze", "demo", "csv"], "too many arguments: 'csv' (usage: proxystore analyze"),
    (["fill", "a.yaml", "--spec", "b.yaml"], "too many arguments: 'a.yaml'"),
    (["fill", "--max-cells"], "--max-cells needs a value (int)"),
    (["fill", "--max-cells", "--dry-run"], "--max-cells needs a value (int)"),
    (["fill", "--max-cells="], "--max-cells needs a value (int), got an empty one"),
    (["fill", "--db="], "--db needs a value (text), got an empty one"),
    (["fill", "--max-cells", "1", "--max_cells", "2"], "--max-cells is given twice"),
    (["fill", "--dry-run", "--no-dry-run"], "--dry-run is given twice"),
    (["fill", "--no-dry-run=true"], "--no-dry-run takes no value"),
    (["fill", "--no-workers"], "unknown flag --no-workers"),
    (["fill", "-max-cells", "0"], "unknown flag -max-cells: flags start with two dashes; "
                                  "did you mean --max-cells?"),
    (["fill", "\u2014max-cells", "0"], "'\u2014max-cells' starts with a typographic dash"),
    (["fill", "\u2013\u2013max-cells", "0"], "type two plain dashes: --max-cells"),
    (["fill", "--max-cells", "\u22121"], "type a plain minus: -1"),
    (["fill", "--", "--db", "x"], "--db comes after '--', which makes it an argument"),
    (["fill", "--max-cells", "1e999"], "--max-cells must be an integer, got '1e999'"),
    (["fill", "--max-cells", "9" * 5000], "--max-cells must be an integer"),
    (["worker", "--lease", "nan"], "--lease must be a finite number, got 'nan'"),
    (["worker", "--lease", "1e400"], "--lease must be a finite number, got '1e400'"),
])
def test_bad_command_lines_are_refused_with_one_clear_line(argv, message):
    with pytest.raises(UsageError) as caught:
        _read(argv)
    assert message in str(caught.value)


def _read(argv: list[str]) -> Any:
    return read(Proxystore, argv)


def _recording(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[dict[str, Any]]:
    """Replace a command by one with its signature that records what it receives."""
    calls: list[dict[str, Any]] = []
    original = getattr(owner, name)

    signature = inspect.signature(original)

    @functools.wraps(original)
    def record(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs).arguments
        calls.append({k: v for k, v in bound.items() if k != "self"})

    monkeypatch.setattr(owner, name, record)
    return calls


def _owner(path: tuple[str, ...]) -> type:
    return group_class(Proxystore, path[0]) if len(path) == 2 else Proxystore


@pytest.mark.parametrize(("argv", "expected"), [
    (["fill", "s.yaml", "--gpus", "0,1", "--max_cells", "007"],
     {"spec": "s.yaml", "gpus": "0,1", "max_cells": 7}),
    (["fill", "--gpus", "0"], {"gpus": "0"}),
    (["fill", "--dry-run"], {"dry_run": True}),
    (["fill", "--dry_run=false"], {"dry_run": False}),
    (["fill", "--dry-run", "FALSE", "--quiet", "yes"], {"dry_run": False, "quiet": True}),
    (["fill", "--no-dry-run"], {"dry_run": False}),
    (["fill", "--nodry_run"], {"dry_run": False}),
    (["fill", "--max-cells=0", "--db=sqlite:///a=b.db"],
     {"max_cells": 0, "db": "sqlite:///a=b.db"}),
    (["arch", "sample", "--count", "1e3", "--flops", "360e6,400e6"],
     {"count": 1000, "flops": "360e6,400e6"}),
    (["arch", "complexity", "-"], {"file": "-"}),
    (["import-results", "r.csv", "2024", "--roles", '{"a": "reference"}'],
     {"file": "r.csv", "study": "2024", "roles": '{"a": "reference"}'}),
    (["analyze", "1e3", "--seed", "007", "--boot=0"], {"study": "1e3", "seed": 7, "boot": 0}),
    (["analyze", "d", "--table", "proxy_quality", "--table=seed_noise,apr_correlations"],
     {"study": "d", "table": ["proxy_quality", "seed_noise", "apr_correlations"]}),  # repeats
    (["status", "--study", "123"], {"study": "123"}),
    (["arch", "show", "1234e5"], {"key": "1234e5"}),  # a fingerprint prefix, not 123400000.0
    (["status", "--study", "it's #1 \\ \"q\" caf\u00e9"], {"study": "it's #1 \\ \"q\" caf\u00e9"}),
    (["data", "subset", "d", "random", "--fraction", ".5", "--seed", "-1", "--no-stratified"],
     {"name": "d", "kind": "random", "fraction": 0.5, "seed": -1, "stratified": False}),
    (["worker", "--lease", "30"], {"lease": 30.0}),
    (["sql", "SELECT 1 -- note", "--format", "json"],
     {"query": "SELECT 1 -- note", "format": "json"}),
    (["spec", "check", "a.yaml", "2024"], {"specs": ("a.yaml", "2024")}),
    (["db", "upgrade", "--", "-1"], {"revision": "-1"}),
])
def test_each_command_receives_exactly_what_was_typed(monkeypatch, capsys, argv, expected):
    """Through fire: `--gpus 0,1` stays "0,1", `--seed 007` is 7, a study named 2024 stays text."""
    call = _read(argv)
    calls = _recording(monkeypatch, _owner(call.command.path), call.command.path[-1])
    code, _, err = _run(capsys, *argv)
    assert code == 0, err
    assert len(calls) == 1
    got = calls[0]
    for name, value in expected.items():
        assert got[name] == value and type(got[name]) is type(value), (name, got[name])
    defaults = {p.name: p.default for p in call.command.params}
    for name in set(got) - set(expected):  # nothing else was set: defaults stay defaults
        assert got[name] == defaults[name] or (got[name] == () and name == "specs"), name


def test_debug_shows_the_traceback_of_a_usage_error(capsys):
    with pytest.raises(UsageError, match="unknown flag --max-cell"):
        main(["fill", "--max-cell", "0", "--debug"])


def test_a_refused_command_line_imports_nothing_heavy(tmp_path):
    """Checking argv must not start torch, pandas or a database driver (a typo costs nothing)."""
    probe = ("import sys\nfrom proxystore.cli import main\ntry:\n    main(['fill', '--max-cell', "
             "'0'])\nexcept SystemExit as stop:\n    print(stop.code, sorted(m for m in ('torch', "
             "'pandas', 'sqlalchemy', 'mlflow', 'fire') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.stdout == "2 []\n", result.stderr


def test_a_typo_in_fill_exits_2_at_once_and_creates_nothing(tmp_path):
    """The real `python -m proxystore`: nothing trained, no database, no mlflow.db, no cache."""
    result = run_cli("fill", "--max-cell", "0", cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr == ("proxystore: error: unknown flag --max-cell; did you mean "
                             "--max-cells? (`proxystore fill --help` lists its flags)\n")
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\n")
    planned = run_cli("plan", str(spec), "--dbb", "x", cwd=tmp_path, timeout=120)
    assert planned.returncode == 2 and "did you mean --db?" in planned.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["s.yaml"]


class _Group:
    """A group as another engineer might add one."""

    def go(self, names: list[int], mode: Literal["a", "b"] = "a", where: Path | None = None,
           strict: bool | None = None, *, scale: float = 1.0) -> None:
        """Go."""


class _Root:
    """A root with one command and one group, to read signatures no command has yet."""

    @property
    def grp(self) -> _Group:
        """A group."""
        return _Group()

    def top(self, first: int | None = None, second: str = "x") -> None:
        """Top."""

    def loose(self, **options: Any) -> None:
        """Takes anything: can't be checked."""


def test_signatures_a_new_command_may_use_are_read_from_their_annotations():
    call = read(_Root, ["grp", "go", "1,2", "--mode", "b", "--where", "0", "--strict",
                        "--scale=1e-3"])
    assert call.values == {"names": [1, 2], "mode": "b", "where": "0", "strict": True,
                           "scale": 0.001}
    assert read(_Root, ["grp", "go", "3", "--no-strict"]).values == {"names": [3],
                                                                     "strict": False}
    assert read(_Root, ["top", "5"]).values == {"first": 5}  # the first parameter, by position
    for argv, message in [(["grp", "go", "1,x"], "NAMES must be an integer, got 'x'"),
                          (["grp", "go", "1", "--mode", "c"], "--mode must be one of a, b"),
                          (["grp", "go"], "missing NAMES (--names)"),
                          (["top", "5", "y"], "too many arguments: 'y'")]:
        with pytest.raises(UsageError, match=re.escape(message)):
            read(_Root, argv)
    with pytest.raises(TypeError, match=r"\*\*kwargs can't be checked"):
        read(_Root, ["loose", "--anything", "1"])


def test_a_reader_that_stops_early_ends_the_command_quietly(sqlite_db, tmp_path):
    """`proxystore sql ... | head -1`: exit 141 without a BrokenPipeError traceback."""
    query = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
             "SELECT x FROM c")
    process = subprocess.Popen([sys.executable, "-m", "proxystore", "sql", query, "--format",
                                "csv", "--db", sqlite_db.url], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline() == "x\n"
    process.stdout.close()
    assert process.wait(timeout=120) == 141
    assert process.stderr.read() == ""
