"""Storing architectures (SQLite and PostgreSQL) and the `arch` commands."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proxystore.db.models import SqlArchitecture, SqlArchitectureStage
from proxystore.db.store import architectures as architectures_store
from proxystore.errors import GenomeError, NotFoundError
from proxystore.space import TimmModel, named_genome, sample_genomes
from proxystore.space import store as store_module
from proxystore.space.commands import ArchCommands
from proxystore.space.store import get_architecture, save_architectures

ROOT = Path(__file__).resolve().parents[1]


def _count(db, table) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_save_dedups_by_fingerprint_and_writes_stages(db):
    genomes = list(sample_genomes(5, seed=0).genomes)
    regnet = named_genome("RegNetX-400MF")
    ids = save_architectures(db, [*genomes, regnet, genomes[0]], 224, 1000)
    assert len(set(ids)) == 6 and ids[0] == ids[-1]
    again = save_architectures(db, [regnet.canonical(), "RegNetX-400MF", genomes[2]], 224, 1000)
    assert again == [ids[5], ids[5], ids[2]]
    assert _count(db, SqlArchitecture) == 6
    assert _count(db, SqlArchitectureStage) == 6 * 4

    record = get_architecture(db, ids[5])
    assert record.name == "RegNetX-400MF" and record.space == "anynetx"
    assert (record.flops, record.params, record.acts) == (397_678_568, 5_157_512, 3_143_272)
    assert (record.cumulative_depth, record.cumulative_width) == (22, 640)
    assert (record.stem_width, record.stem_type, record.num_stages) == (32, "standard", 4)
    assert [s["width"] for s in record.stages] == [32, 64, 160, 384]
    assert record.architecture == regnet
    assert get_architecture(db, regnet.fingerprint[:8]).id == ids[5]
    with pytest.raises(NotFoundError):
        get_architecture(db, "ffffffff0000")


def test_small_stem_is_another_architecture(db):
    regnet = named_genome("RegNetX-200MF")
    ids = save_architectures(db, [regnet, regnet.replace(stem_type="small")], 32, 10)
    assert ids[0] != ids[1]
    assert get_architecture(db, ids[1]).stem_type == "small"


def test_losing_the_insert_race_to_another_process_is_harmless(db, monkeypatch):
    """Another writer stores the same genome between our SELECT and our INSERT."""
    genome = named_genome("RegNetX-200MF")
    real_row = store_module._row
    raced = []

    def row_then_race(arch, *args):
        built = real_row(arch, *args)
        if not raced:  # the other process commits its row first
            raced.append(True)
            other = real_row(arch, *args)
            stored = architectures_store.insert_architectures(db, [other], [other.fingerprint])
            raced.append(stored[other.fingerprint])
        return built

    monkeypatch.setattr(store_module, "_row", row_then_race)
    ids = save_architectures(db, [genome], 224, 1000)
    assert ids == [raced[1]]
    assert _count(db, SqlArchitecture) == 1


def test_timm_models_are_stored_with_measured_complexity(sqlite_db):
    model = TimmModel("resnet18d")
    [arch_id] = save_architectures(sqlite_db, ["timm:resnet18d"], 32, 10)
    record = get_architecture(sqlite_db, arch_id)
    assert record.space == "timm" and record.genome == {"timm": "resnet18d", "kwargs": {}}
    assert record.params == model.complexity(32, 10).params and record.stages == ()


def test_timm_keyword_arguments_timm_asserts_on_are_one_line(sqlite_db):
    """resnet18 with base_width 10**9 was an AssertionError traceback (exit 1) at `plan`."""
    bad = {"timm": "resnet18", "kwargs": {"base_width": 10**9}}
    with pytest.raises(GenomeError, match=r"^timm:resnet18: bad keyword arguments "
                       r"\{'base_width': 1000000000\}: BasicBlock does not support changing"):
        save_architectures(sqlite_db, [bad], 32, 10)
    assert _count(sqlite_db, SqlArchitecture) == 0


def _cli(*args, stdin=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "proxystore", *args], input=stdin,
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_cli_complexity_reads_jsonl_and_names_a_malformed_line(tmp_path):
    good = {**named_genome("RegNetX-200MF").canonical(), "image_size": 224,
            "num_classes": 1000, "id": "a"}
    del good["stem_type"]
    path = tmp_path / "genomes.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "in_channels": 1}) + "\n")
    result = _cli("arch", "complexity", str(path))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["flops"] == 199_040_872 and lines[0]["id"] == "a"
    assert lines[1]["params"] == 2_684_792 - 2 * 9 * 32  # two fewer input channels in the stem

    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "widths": [24, 56, 150, 368]})
                    + "\n")
    result = _cli("arch", "complexity", "-", stdin=path.read_text())
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "proxystore: error: <stdin>: line 2: stage 3")
    assert _cli("arch", "complexity", "-", stdin="{not json\n").returncode == 2

    latin1 = json.dumps({**good, "id": "caf\u00e9"}, ensure_ascii=False).encode("latin-1")
    path.write_bytes(json.dumps(good).encode() + b"\n" + latin1 + b"\n")
    result = _cli("arch", "complexity", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"proxystore: error: {path}: line 2: not UTF-8 text"


@pytest.mark.parametrize("change,message", [
    ({"depths": 1e30}, "line 2: stage 1: depths must be a positive integer up to 1000, "
                       "got 1e+30"),
    ({"depths": 10**30}, "line 2: stage 1: depths must be a positive integer up to 1000, "
                         "got 1e+30"),
    ({"image_size": 1e30}, "line 2: image_size must be a positive integer, got 1e+30"),
    ({"num_classes": float("nan")}, "line 2: num_classes must be a positive integer, got nan"),
    ({"in_channels": float("inf")}, "line 2: in_channels must be a positive integer, got inf"),
])
def test_cli_complexity_refuses_an_absurd_genome_at_once_naming_file_line_and_field(
        tmp_path, change, message):
    """Depth 1e30 passed validation and hung the count; NaN or inf image sizes were tracebacks."""
    good = {**named_genome("RegNetX-200MF").canonical(), "image_size": 224, "num_classes": 1000}
    bad = dict(good)
    if "depths" in change:
        bad["depths"] = [change["depths"], *good["depths"][1:]]
    else:
        bad.update(change)
    path = tmp_path / "genomes.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    result = _cli("arch", "complexity", str(path), "--out", str(tmp_path / "out.jsonl"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"proxystore: error: {path}: {message}"
    assert not (tmp_path / "out.jsonl").exists()


def test_cli_complexity_refuses_an_integer_too_long_for_python(tmp_path):
    good = {**named_genome("RegNetX-200MF").canonical(), "image_size": 224, "num_classes": 1000}
    path = tmp_path / "genomes.jsonl"
    path.write_text(json.dumps(good).replace('"depths": [1', '"depths": [' + "9" * 5000, 1))
    result = _cli("arch", "complexity", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith(f"proxystore: error: {path}: line 1: not valid JSON")
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_complexity_refuses_an_image_size_above_the_bound(tmp_path):
    """image_size 10**9 in a JSON line was counted (numbers of 25 digits, nobody meant them)."""
    good = {**named_genome("RegNetX-200MF").canonical(), "num_classes": 1000}
    path = tmp_path / "genomes.jsonl"
    path.write_text(json.dumps({**good, "image_size": 4096}) + "\n"
                    + json.dumps({**good, "image_size": 10**9}) + "\n")
    result = _cli("arch", "complexity", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (f"proxystore: error: {path}: line 2: image_size must be an "
                                     "integer from 1 to 4096, got 1000000000")
    assert result.stdout == ""  # nothing written when a line is bad


def test_cli_sample_save_and_show(tmp_path):
    db = str(tmp_path / "cli.db")
    out = tmp_path / "sample.jsonl"
    result = _cli("arch", "sample", "--count", "3", "--flops", "360e6,400e6", "--seed", "4",
                  "--out", str(out), "--save", "--db", db)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and all(360e6 <= r["flops"] <= 400e6 for r in rows)
    shown = _cli("arch", "show", rows[1]["fingerprint"][:12], "--db", db)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["genome"]["depths"] == rows[1]["depths"]
    missing = _cli("arch", "show", "999", "--db", db)
    assert missing.returncode == 2 and "no architecture" in missing.stderr


@pytest.mark.parametrize(("option", "message"), [
    (("--count", "abc"), "--count must be an integer, got 'abc'"),
    (("--count", "0"), "--count must be an integer >= 1, got 0"),
    (("--image-size", "big"), "--image-size must be an integer, got 'big'"),
    (("--seed", "1.5"), "--seed must be an integer, got '1.5'"),
    (("--count", "1000000000"), "--count must be an integer from 1 to 100000, got 1000000000"),
    (("--image-size", "1000000000"),
     "--image-size must be an integer from 1 to 4096, got 1000000000"),
])
def test_cli_sample_refuses_an_option_that_is_not_an_integer(option, message):
    """`--count abc` was a ValueError traceback."""
    result = _cli("arch", "sample", *option)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"proxystore: error: {message}"


def test_every_arch_command_documents_every_parameter():
    for name, method in inspect.getmembers(ArchCommands, inspect.isfunction):
        if name.startswith("_"):
            continue
        doc = inspect.getdoc(method) or ""
        assert doc and "Args:" in doc, name
        for param in list(inspect.signature(method).parameters)[1:]:
            assert f"    {param}:" in doc or f"\n{param}:" in doc, (name, param)
