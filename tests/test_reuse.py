"""Reuse you can steer and see: stored architectures in `listed:`, `plan --explain`, `arch list`
and `arch show LABEL --study`, fill's `trained N, reused M`, and the docs' recipe table."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml
from sqlalchemy import func, select

from proxystore.db.models import SqlArchitecture, SqlDataset, SqlRun, SqlStudy, SqlStudyCell
from proxystore.errors import NotFoundError, SpecError
from proxystore.runner.commands import fill_command
from proxystore.runner.execution import ExecutionOptions
from proxystore.runner.fill import fill
from proxystore.space import parse_architecture
from proxystore.space.listing import find, listed
from proxystore.study.plan import plan_study
from proxystore.study.recipe_docs import DEFAULT_TEXT, recipe_table
from proxystore.study.register import register_study
from proxystore.study.spec import load_spec, parse_spec
from proxystore.train.recipe import Recipe
from tests.helpers import REPO
from tests.inprocess import run_main
from tests.studies import GENOME_A, GENOME_B, GENOME_C, tiny_spec, write

CPU = ExecutionOptions(device="cpu")
DOCS = REPO / "docs" / "studies.md"
DEMO = REPO / "jobs" / "demo.yaml"
FULL = "full: {dataset: digits, subset: {kind: full}, role: target}\n"
QUARTER = ("quarter: {dataset: digits, subset: {kind: random, fraction: 0.25, seed: 0}, "
           "role: proxy, proxy_of: full}\n")


def _docs_skeleton() -> str:
    """The complete spec under "## Sections" in docs/studies.md."""
    section = DOCS.read_text().split("## Sections\n", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def _fp(genome: str) -> str:
    return parse_architecture(yaml.safe_load(genome)).fingerprint


def _links(db, study: str) -> dict[tuple[str, str, int], int]:
    with db.session() as session:
        rows = session.execute(
            select(SqlStudyCell.candidate, SqlStudyCell.task, SqlStudyCell.seed,
                   SqlStudyCell.run_id).join(SqlStudy).where(SqlStudy.name == study)).all()
    return {(c, t, s): r for c, t, s, r in rows}


def _count(db, model) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# -- docs: the recipe table ---------------------------------------------------------------------

def test_docs_recipe_table_is_the_recipe_fields_defaults_and_ranges():
    text = DOCS.read_text()
    table = text.split("<!-- recipe-table: generated, do not edit by hand -->\n", 1)[1]
    table = table.split("\n<!-- /recipe-table -->", 1)[0]
    assert table == recipe_table(), "regenerate it: python -m proxystore.study.recipe_docs"
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")]
            for line in table.splitlines()[2:]]
    assert [r[0].strip("`") for r in rows] == list(Recipe.field_names())
    for (quoted, default, _allowed, identity, _what), field in zip(
            rows, dataclasses.fields(Recipe), strict=True):
        name = quoted.strip("`")
        if field.default is dataclasses.MISSING:
            assert default == "required", name
        elif name in DEFAULT_TEXT:
            assert default == DEFAULT_TEXT[name]
        else:  # as a spec would write it, the value is the dataclass default
            assert yaml.safe_load(default) == field.default, name
        assert identity == "yes", name
    assert Recipe(epochs=1, image_size=64).crop_padding == 8  # "image_size // 8"


@pytest.mark.parametrize(("field", "other"), [
    ("epochs", 2), ("image_size", 16), ("eval_metric", "top5"), ("batch_size", 64),
    ("optimizer", "adam"), ("lr", 0.2), ("momentum", 0.5), ("nesterov", False),
    ("weight_decay", 0.001), ("schedule", "constant"), ("warmup_epochs", 0.5),
    ("label_smoothing", 0.1), ("flip_prob", 0.0), ("crop_padding", 3), ("precision", "fp32"),
])
def test_every_field_the_docs_call_identity_changes_the_cell_key(field, other):
    """The table's "changes a cell's identity: yes" is true of the fingerprint itself."""
    base = Recipe(epochs=1, image_size=8)
    assert getattr(base, field) != other
    assert base.replace(**{field: other}).fingerprint != base.fingerprint


# -- the docs' skeleton and the demo ------------------------------------------------------------

def test_the_docs_skeleton_reuses_the_demo_cells(db, tmp_path):
    """A spec written from docs/studies.md's skeleton shares its seed-0 cells with the demo."""
    register_study(db, load_spec(DEMO))
    plan = plan_study(db, load_spec(write(tmp_path, "skeleton", _docs_skeleton())), explain=True)
    by_task = {t.task: t for t in plan.tasks}
    # a000/default and a003/default (from_study) and best/default (the demo's a005 by
    # fingerprint), seed 0, on every task the demo has too.
    for task in ("full", "digits-5", "random-50", "epochs-2"):
        assert (by_task[task].reused, by_task[task].studies) == (3, (("demo", 3),)), task
        assert by_task[task].cells == 36
    assert by_task["easy-50"].note.startswith("waits for its scorer (a000/default on full")
    assert _count(db, SqlStudy) == 1  # plan registered nothing


def test_plan_explain_names_the_recipe_fields_that_differ(db, tmp_path):
    """The skeleton without batch_size and weight_decay: nothing reused, and plan says why."""
    register_study(db, load_spec(DEMO))
    text = "\n".join(line for line in _docs_skeleton().splitlines()
                     if not line.lstrip().startswith(("batch_size:", "weight_decay:")))
    plan = plan_study(db, load_spec(write(tmp_path, "nodefaults", text)), explain=True)
    full = next(t for t in plan.tasks if t.task == "full")
    assert full.reused == 0
    assert full.note == ("nothing reused: demo has 6 runs on this subset with these "
                         "architectures, but batch_size: 128 here, 64 in demo; "
                         "weight_decay: 0.00005 here, 0.0005 in demo")
    epochs2 = next(t for t in plan.tasks if t.task == "epochs-2")  # compared with demo's 2-epoch
    assert "epochs" not in epochs2.note and "batch_size: 128 here" in epochs2.note
    lines = "\n".join(plan.lines())
    assert "  full       36 cells: nothing reused: demo has 6 runs" in lines


def test_plan_explain_names_seeds_or_says_what_is_missing(db):
    register_study(db, parse_spec(tiny_spec("one", FULL)))
    seeds = plan_study(db, parse_spec(tiny_spec("two", FULL, seeds="[1, 2]")), explain=True)
    assert seeds.tasks[0].note == ("nothing reused: one has 2 runs on this subset with these "
                                   "architectures, but seeds: [1, 2] here, [0] in one")
    archs = plan_study(db, parse_spec(tiny_spec("three", FULL, archs={"c": GENOME_C})),
                       explain=True)
    assert archs.tasks[0].note == ("nothing reused: the runs on this subset (one) are of other "
                                   "architectures")
    subset = plan_study(db, parse_spec(tiny_spec("four", QUARTER.replace(
        "role: proxy, proxy_of: full", "role: target"))), explain=True)
    assert subset.tasks[0].note == "nothing reused: no other study has runs on this subset"
    same = plan_study(db, parse_spec(tiny_spec("five", FULL)), explain=True)
    assert (same.tasks[0].reused, same.tasks[0].studies) == (2, (("one", 2),))
    assert "2 of 2 cells exist already (0 done), from one 2" in "\n".join(same.lines())
    own = plan_study(db, parse_spec(tiny_spec("one", FULL)), explain=True)  # registered already
    assert "2 of 2 cells exist already (0 done), this study's own" in "\n".join(own.lines())
    register_study(db, parse_spec(tiny_spec("five", FULL)))
    both = plan_study(db, parse_spec(tiny_spec("five", FULL)), explain=True)
    assert "2 of 2 cells exist already (0 done), also in one 2" in "\n".join(both.lines())


# -- listed: stored architectures ---------------------------------------------------------------

def test_listed_by_fingerprint_and_from_study_reuse_the_exact_cells(db):
    first = parse_spec(tiny_spec("first", FULL))
    assert len(fill(first, db, CPU, quiet=True).summary.done) == 2
    archs = {"mine": f"{{fingerprint: '{_fp(GENOME_A)[:8]}'}}",
             "old": "{from_study: first, candidates: [b]}"}
    second = parse_spec(tiny_spec("second", FULL, archs=archs))
    assert set(second.candidates) == {"mine", "b"}
    result = fill(second, db, CPU, quiet=True)
    assert result.summary.done == [] and result.registration.new_runs == 0
    before, after = _links(db, "first"), _links(db, "second")
    assert after[("mine", "full", 0)] == before[("a", "full", 0)]
    assert after[("b", "full", 0)] == before[("b", "full", 0)]
    with db.session() as session:
        assert session.scalars(select(SqlRun.attempts)).all() == [1, 1]


def test_a_stored_scorer_is_resolved_where_workers_add_easy_and_hard_cells(db):
    """A worker re-reads the spec from the database to add the easy task's cells: the stored
    reference of its scorer is resolved there too."""
    from proxystore.runner.worker import WorkerConfig, run_worker

    register_study(db, parse_spec(tiny_spec("first", FULL, archs={"a": GENOME_A})))
    tasks = FULL + ("easy: {dataset: digits, subset: {kind: loss_quantile, a: 0.5, b: 1.0, "
                    "scorer: {candidate: mine, task: full}}, role: proxy, proxy_of: full}\n")
    spec = parse_spec(tiny_spec("second", tasks, archs={
        "mine": "{from_study: first, candidate: a}"}))
    assert register_study(db, spec).deferred_tasks == ["easy"]
    summary = run_worker(db, WorkerConfig(db_url=db.url, worker="w", device="cpu",
                                          study="second", idle_wait_seconds=0.1))
    assert len(summary.done) == 2  # the scorer (first's cell a@full), then easy
    links = _links(db, "second")
    assert links[("mine", "full", 0)] == _links(db, "first")[("a", "full", 0)]
    assert ("mine", "easy", 0) in links


def test_one_factor_takes_a_stored_architecture_with_its_overrides(db):
    register_study(db, parse_spec(tiny_spec("first", FULL)))
    raw = yaml.safe_load(tiny_spec("grid", FULL))
    raw["candidates"] = {"one_factor": {
        "base": {"architecture": {"from_study": "first", "candidate": "a"},
                 "arch.stem_width": 16},
        "vary": {"lr": [0.2], "architecture": [{"fingerprint": _fp(GENOME_B)[:10]}]}}}
    spec = parse_spec(yaml.safe_dump(raw))
    plan = plan_study(db, spec)
    assert plan.total == 3 and plan.new == 3
    from proxystore.study.stored import resolve_stored

    resolved = resolve_stored(db, spec).candidates
    a16 = dataclasses.replace(parse_architecture(yaml.safe_load(GENOME_A)), stem_width=16)
    assert resolved["default"].architecture.fingerprint == a16.fingerprint
    assert resolved["lr=0.2"].architecture.fingerprint == a16.fingerprint
    b16 = dataclasses.replace(parse_architecture(yaml.safe_load(GENOME_B)), stem_width=16)
    assert resolved["architecture=0"].architecture.fingerprint == b16.fingerprint


def test_an_unknown_stored_architecture_is_one_line_and_writes_nothing(db):
    where = "candidates.architectures.listed.x"
    nowhere = parse_spec(tiny_spec("s", FULL, archs={"x": "{from_study: nope, candidate: a}"}))
    with pytest.raises(SpecError) as error:
        register_study(db, nowhere)
    assert str(error.value) == (f"{where}.from_study: no study named 'nope' in the database "
                                "(studies: none yet)")
    assert _count(db, SqlDataset) == 0 and _count(db, SqlStudy) == 0  # failed before any write

    register_study(db, parse_spec(tiny_spec("first", FULL)))
    label = parse_spec(tiny_spec("s", FULL, archs={"x": "{from_study: first, candidates: [b, z]}"}))
    with pytest.raises(SpecError) as error:
        plan_study(db, label)
    assert str(error.value) == (f"{where}.candidates.1: study first has no candidate 'z' "
                                "(its candidates: a, b)")
    unknown = parse_spec(tiny_spec("s", FULL, archs={"x": "{fingerprint: 'deadbeef00'}"}))
    with pytest.raises(SpecError) as error:
        register_study(db, unknown)
    assert str(error.value).startswith(f"{where}.fingerprint: no architecture with id or "
                                       "fingerprint deadbeef00")
    with db.session() as session:  # two stored architectures share a prefix
        session.add_all([SqlArchitecture(space="anynetx", genome={},
                                         fingerprint="abcdef01" + c * 56) for c in "01"])
    ambiguous = parse_spec(tiny_spec("s", FULL, archs={"x": "{fingerprint: 'abcdef01'}"}))
    with pytest.raises(SpecError) as error:
        register_study(db, ambiguous)
    assert "matches several architectures" in str(error.value)
    with db.session() as session:  # import-results stores a label, not a genome
        session.add(SqlArchitecture(space="imported", name="r50", fingerprint="fe" * 32,
                                    genome={"label": "r50", "study": "elsewhere"}))
    imported = parse_spec(tiny_spec("s", FULL, archs={"x": "{fingerprint: 'fefefefe'}"}))
    with pytest.raises(SpecError) as error:
        plan_study(db, imported)
    assert str(error.value).startswith(f"{where}: fingerprint fefefefe is architecture "
                                       "fefefefefefe of space imported, which cannot be trained")
    assert _count(db, SqlStudy) == 1


@pytest.mark.parametrize(("entry", "message"), [
    ("{fingerprint: '3f2a'}", "x.fingerprint: must be 8 to 64 hex digits (a unique prefix of a "
                              "stored fingerprint), got '3f2a'"),
    ("{fingerprint: '3f2a3f2g'}", "x.fingerprint: must be 8 to 64 hex digits"),
    ("{fingerprint: 01234567}", "x.fingerprint: write it in quotes; YAML read it as the number "
                                "342391"),
    ("{from_study: demo}", "x: give candidate (one label, kept as x) or candidates"),
    ("{from_study: demo, candidate: a, candidates: [b]}", "x: give candidate"),
    ("{fingerprint: '3f2a3f2a', from_study: demo}", "x.from_study: a fingerprint reference "
                                                    "takes no other field"),
    ("{from_study: demo, candidates: [a], extra: 1}", "x.extra: unknown field"),
    ("{from_study: demo, candidates: []}", "x.candidates: "),
])
def test_a_malformed_stored_reference_is_named_by_spec_check(entry, message):
    with pytest.raises(SpecError) as error:
        parse_spec(tiny_spec("s", FULL, archs={"x": entry}))
    assert f"candidates.architectures.listed.{message}" in str(error.value)


def test_a_label_listed_twice_is_refused():
    with pytest.raises(SpecError) as error:
        parse_spec(tiny_spec("s", FULL, archs={"a": GENOME_A,
                                               "d": "{from_study: demo, candidates: [a]}"}))
    assert str(error.value) == "candidates.architectures.listed.d: label a is listed twice"


# -- arch list / arch show ----------------------------------------------------------------------

def test_arch_show_takes_a_label_of_a_study_and_arch_list_shows_its_candidates(db):
    register_study(db, parse_spec(tiny_spec("first", FULL)))
    label, record = find(db, "b", "first")
    assert (label, record.fingerprint) == ("b", _fp(GENOME_B))
    assert find(db, record.fingerprint[:10], "first")[1].id == record.id  # a fingerprint too
    with pytest.raises(NotFoundError) as error:
        find(db, "b", None)
    assert str(error.value).endswith("b is a candidate label in first: give --study first")
    with pytest.raises(NotFoundError) as error:
        find(db, "z", "first")
    assert "study first has no candidate 'z'" in str(error.value)

    frame = listed(db, "first")
    assert list(frame["label"]) == ["a", "b"]
    a = frame.iloc[0]
    genome = parse_architecture(yaml.safe_load(GENOME_A))
    cx = genome.complexity(8, 10, 1)  # the study's reference resolution: digits at 8 px
    assert (a["fingerprint"], a["space"], a["stages"]) == (
        genome.fingerprint[:12], "anynetx", "d 1,1 w 16,32")
    assert (a["flops"], a["params"], a["acts"], a["at"]) == (cx.flops, cx.params, cx.acts,
                                                             "8px/10cls")
    assert (a["cumulative_depth"], a["cumulative_width"]) == (2, 48)
    everything = listed(db, None)
    assert "label" not in everything.columns and len(everything) == 2


def test_a_label_that_is_also_a_fingerprint_prefix_is_not_guessed(db):
    prefix = _fp(GENOME_A)[:6]
    register_study(db, parse_spec(tiny_spec("s", FULL, archs={prefix: GENOME_B})))
    register_study(db, parse_spec(tiny_spec("t", FULL, archs={"a": GENOME_A})))
    with pytest.raises(NotFoundError) as error:
        find(db, prefix, None)
    assert f"{prefix} is a candidate label in s and a fingerprint prefix of" in str(error.value)
    assert find(db, prefix, "s")[1].fingerprint == _fp(GENOME_B)


# -- fill's last line ---------------------------------------------------------------------------

def test_fill_ends_with_trained_and_reused(db_url, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("proxystore.tracking.tracking_uri", lambda *args, **kwargs: None)

    def last_line(name: str, text: str, **options) -> str:
        path = write(tmp_path, name, text)
        assert fill_command(str(path), db_url, ExecutionOptions(device="cpu", **options),
                            quiet=True) == 0
        return capsys.readouterr().out.strip().splitlines()[-1]

    first = tiny_spec("first", FULL)
    assert last_line("first", first, max_cells=1) == (
        "trained 1, reused 0: 1 of 2 runs of study first done")
    assert last_line("first", first) == "trained 1, reused 1: 2 of 2 runs of study first done"
    assert last_line("first", first) == (
        "trained 0, reused 2 - nothing to train: 2 of 2 runs of study first done")
    second = tiny_spec("second", FULL, archs={"a": GENOME_A, "c": GENOME_C})
    assert last_line("second", second) == "trained 1, reused 1: 2 of 2 runs of study second done"


# -- the command line ---------------------------------------------------------------------------

def test_cli_plan_explain_arch_list_show_and_spec_check(tmp_path):
    db = str(tmp_path / "cli.db")
    first = write(tmp_path, "first", tiny_spec("first", FULL))
    registered = run_main("fill", str(first), "--db", db, "--max-cells", "0", cwd=tmp_path)
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.strip().splitlines()[-1] == (
        "trained 0, reused 0: 0 of 2 runs of study first done")

    spec = write(tmp_path, "second", tiny_spec("second", FULL + QUARTER, archs={
        "old": "{from_study: first, candidates: [a, b]}"}))
    checked = run_main("spec", "check", str(spec), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert ("not resolved yet (no database here): first's a, first's b; `plan` and `fill` look "
            "them up in the database") in checked.stdout
    plan = run_main("plan", str(spec), "--db", db, "--explain", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "  full     2 of 2 cells exist already (0 done), from first 2" in plan.stdout
    assert "  quarter  2 cells: nothing reused: no other study has runs on this subset" in (
        plan.stdout)

    shown = run_main("arch", "show", "a", "--study", "first", "--db", db, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["study"], record["candidate"], record["fingerprint"]) == (
        "first", "a", _fp(GENOME_A))
    table = run_main("arch", "list", "--study", "first", "--format", "json", "--db", db,
                     cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert [r["label"] for r in json.loads(table.stdout)] == ["a", "b"]

    bad = write(tmp_path, "bad", tiny_spec("bad", FULL, archs={
        "x": "{from_study: frist, candidate: a}"}))
    refused = run_main("plan", str(bad), "--db", db, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "proxystore: error: candidates.architectures.listed.x.from_study: no study named "
        "'frist' in the database (studies: first)")
    missing = run_main("arch", "show", "a", "--db", db, cwd=tmp_path)
    assert missing.returncode == 2
    assert "a is a candidate label in first: give --study first" in missing.stderr
