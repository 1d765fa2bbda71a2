"""Specs are bounded: YAML aliases of collections, integers past their columns, and timm keyword
arguments that load weights are each refused by `spec check` in one line."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
import yaml

from proxystore.analysis.results_file import load_roles
from proxystore.errors import ResultsFileError, SpecError
from proxystore.limits import MAX_CLASSES, MAX_EPOCHS, MAX_NESTING, MAX_SEED
from proxystore.study.spec import load_spec, parse_spec
from tests.helpers import REPO, run_cli

DEMO = REPO / "jobs" / "demo.yaml"
HUGE = 10**23

BOMB = textwrap.dedent("""\
    name: lol
    a: &a [x, x, x, x, x, x, x, x, x]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
""")


def _demo() -> dict:
    return yaml.safe_load(DEMO.read_text())


def _error(raw: dict) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(yaml.safe_dump(raw))
    return str(info.value)


def _check(path: Path, text: str) -> str:
    """`spec check` on `text` written to `path`: exit 2, one line; return it."""
    path.write_text(text)
    result = run_cli("spec", "check", str(path), cwd=path.parent, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


# -- YAML ---------------------------------------------------------------------------------------

def test_an_alias_bomb_is_refused_at_once_naming_file_and_line(tmp_path) -> None:
    """Nine anchor lines made `spec check` use more than 4 GB for 46 s."""
    path = tmp_path / "bomb.yaml"
    started = time.monotonic()
    line = _check(path, BOMB)
    assert time.monotonic() - started < 30
    assert line == (f"proxystore: error: {path}: not valid YAML (line 3): alias *a repeats a "
                    "list: aliases of mappings and lists are not allowed (write the value out)")


@pytest.mark.parametrize(("text", "line", "kind"), [
    ("base: &b {x: 1}\nother:\n  <<: *b\n", 3, "mapping"),
    ("name: x\nscorer: &s\n  candidate: a\nagain: *s\n", 4, "mapping"),
])
def test_aliases_of_mappings_merges_included_are_refused(text, line, kind) -> None:
    with pytest.raises(SpecError, match=rf"not valid YAML \(line {line}\): alias \*\w repeats a "
                                        f"{kind}"):
        parse_spec(text)


def test_aliases_of_single_values_are_fine() -> None:
    with pytest.raises(SpecError) as raised:  # the spec is incomplete, but it is YAML
        parse_spec("name: &n demo\ndescription: *n\n")
    assert "not valid YAML" not in str(raised.value)


def test_nesting_beyond_the_bound_is_one_line(tmp_path) -> None:
    path = tmp_path / "deep.yaml"
    line = _check(path, "name: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert line == (f"proxystore: error: {path}: not valid YAML (line 1): nested more than "
                    f"{MAX_NESTING} levels deep")


def test_a_role_file_with_an_alias_bomb_names_file_and_line(tmp_path) -> None:
    roles = tmp_path / "roles.yaml"
    roles.write_text(BOMB)
    with pytest.raises(ResultsFileError, match=rf"^{roles}: not valid JSON or YAML \(line 3\): "
                                               r"alias \*a repeats a list"):
        load_roles(roles, tmp_path / "results.csv")


def test_the_shipped_specs_use_no_aliases_and_keep_their_cells() -> None:
    """proxy_datasets.yaml repeated its scorers with &id001/*id001; written out, it is the same."""
    for spec in sorted((REPO / "jobs").glob("*.yaml")):
        text = spec.read_text()
        assert "*id0" not in text and "&id0" not in text, spec
        load_spec(spec)
    spec = load_spec(REPO / "jobs" / "proxy_datasets.yaml")
    assert spec.cell_count() == 644
    hard = spec.tasks["imagewoof/hard-0.0-0.1"]
    assert hard.subset["scorer"] == {"candidate": "default", "task": "imagewoof"}
    assert sum(t.scorer is not None for t in spec.tasks.values()) == 18


# -- integers -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "where", "rule"), [
    (lambda r, v: r["defaults"].update(epochs=v), "defaults.epochs", f"1 to {MAX_EPOCHS}"),
    (lambda r, v: r["tasks"]["full"].update(epochs=v), "tasks.full.epochs", f"1 to {MAX_EPOCHS}"),
    (lambda r, v: r.update(seeds=[0, v]), "seeds.1", f"0 to {MAX_SEED}"),
    (lambda r, v: r["datasets"]["digits"].update(seed=v), "datasets.digits.seed",
     f"0 to {MAX_SEED}"),
    (lambda r, v: r["tasks"]["digits-5"]["subset"].update(seed=v), "tasks.digits-5.subset.seed",
     f"0 to {MAX_SEED}"),
    (lambda r, v: r["tasks"]["digits-5"]["subset"].update(k=v), "tasks.digits-5.subset.k",
     f"1 to {MAX_CLASSES}"),
    (lambda r, v: r["tasks"]["random-50"]["subset"].update(count=v, fraction=None),
     "tasks.random-50.subset.count", "1 to 2147483647"),
    (lambda r, v: r["tasks"]["full"].update(subset={"kind": "per_class", "n": v}),
     "tasks.full.subset.n", "1 to 2147483647"),
    (lambda r, v: r["tasks"]["easy-50"]["subset"]["scorer"].update(seed=v),
     "tasks.easy-50.subset.scorer.seed", f"0 to {MAX_SEED}"),
    (lambda r, v: r["defaults"].update(batch_size=v), "defaults.batch_size", "1 to 1048576"),
    (lambda r, v: r["defaults"].update(crop_padding=v), "defaults.crop_padding", "0 to 4096"),
    (lambda r, v: r["candidates"].update(hyperparameters={"big": {"epochs": v}}),
     "candidates.hyperparameters.big.epochs", f"1 to {MAX_EPOCHS}"),
    (lambda r, v: r["candidates"]["architectures"]["sampled"].update(seed=v),
     "candidates.architectures.sampled.seed", f"0 to {MAX_SEED}"),
    (lambda r, v: r["candidates"]["architectures"]["sampled"].update(num_classes=v),
     "candidates.architectures.sampled.num_classes", f"1 to {MAX_CLASSES}"),
    (lambda r, v: r["candidates"]["architectures"]["sampled"].update(max_draws=v),
     "candidates.architectures.sampled.max_draws", "1 to 1000000000"),
])
def test_every_integer_of_a_spec_is_bounded(change, where, rule) -> None:
    """epochs 1e23 and seeds [1e23] passed `spec check`; `fill` then raised OverflowError."""
    raw = _demo()
    change(raw, HUGE)
    raw["tasks"]["random-50"]["subset"] = {k: v for k, v in
                                           raw["tasks"]["random-50"]["subset"].items()
                                           if v is not None}
    assert _error(raw) == f"{where}: must be an integer from {rule}, got {HUGE}"


@pytest.mark.parametrize(("key", "value"), [("epochs", HUGE), ("batch_size", HUGE),
                                             ("crop_padding", HUGE)])
def test_integers_a_schema_cannot_see_are_bounded_by_the_recipe(key, value) -> None:
    """A task's recipe field and a one-factor grid's values are checked by the recipe."""
    raw = _demo()
    raw["tasks"]["full"][key] = value
    assert f"tasks.full.{key}: must be an integer from" in _error(raw)


def test_spec_check_refuses_huge_epochs_and_seeds_in_one_line(tmp_path) -> None:
    text = DEMO.read_text().replace("  epochs: 6\n", "  epochs: 99999999999999999999999\n")
    path = tmp_path / "epochs.yaml"
    assert _check(path, text) == (
        f"proxystore: error: {path}: defaults.epochs: must be an integer from 1 to {MAX_EPOCHS}, "
        "got 99999999999999999999999")
    raw = _demo()
    raw["seeds"] = [HUGE]
    assert _check(path, yaml.safe_dump(raw)) == (
        f"proxystore: error: {path}: seeds.0: must be an integer from 0 to {MAX_SEED}, got {HUGE}")


# -- timm keyword arguments ---------------------------------------------------------------------

def _timm(kwargs: dict) -> dict:
    raw = _demo()
    raw["candidates"]["architectures"]["listed"] = {"x": {"timm": "resnet10t", "kwargs": kwargs}}
    return raw


@pytest.mark.parametrize("kwarg", ["checkpoint_path", "pretrained", "pretrained_cfg",
                                   "pretrained_cfg_overlay", "pretrained_strict", "cache_dir",
                                   "features_only", "pruned", "hf_hub_id", "weights_url"])
def test_weight_loading_kwargs_are_refused_naming_candidate_and_kwarg(kwarg) -> None:
    """checkpoint_path loaded weights into 'training from scratch'; the key hashed the path."""
    message = _error(_timm({kwarg: "WEIGHTS.pth" if "path" in kwarg else True}))
    assert message.startswith(f"candidates.architectures.listed.x: timm:resnet10t: kwargs may "
                              f"not set {kwarg} (proxystore trains from scratch")


@pytest.mark.parametrize("value", ["WEIGHTS.pth", "hf-hub:timm/resnet10t.a1_in1k",
                                   "https://example.org/w.safetensors", "/data/w"])
def test_a_kwarg_value_naming_a_file_or_download_is_refused(value) -> None:
    assert "names a file or a download" in _error(_timm({"stem_type": value}))


def test_one_factor_arch_overrides_are_checked_too() -> None:
    spec = textwrap.dedent("""
        name: ofat
        datasets: {d: {source: "sklearn:digits"}}
        defaults: {image_size: 8, epochs: 2}
        tasks: {t: {dataset: d}}
        candidates:
          one_factor:
            base: {architecture: "timm:resnet10t"}
            vary: {arch.checkpoint_path: [a.pth]}
    """)
    with pytest.raises(SpecError, match=r"^candidates.one_factor.vary.arch.checkpoint_path.0: "
                                        "timm:resnet10t: kwargs may not set checkpoint_path"):
        parse_spec(spec)


@pytest.mark.parametrize(("value", "shown"), [(HUGE, "must be at most 2,147,483,647 in size"),
                                              (float("inf"), "must be finite")])
def test_kwarg_numbers_are_bounded(value, shown) -> None:
    assert shown in _error(_timm({"stem_width": value}))


def test_ordinary_kwargs_pass() -> None:
    raw = _timm({"stem_width": 32, "stem_type": "deep", "drop_path_rate": 0.1})
    spec = parse_spec(yaml.safe_dump(raw))
    assert spec.candidates["x"].architecture.kwargs_dict["stem_type"] == "deep"


# -- the data commands' integers ----------------------------------------------------------------

def test_subset_and_split_seeds_and_counts_are_bounded(db) -> None:
    """A subset seed of 1e23 reached the INSERT (an overflow there); --count abc a ValueError."""
    from sqlalchemy import func, select

    from proxystore.data.registry import register_dataset
    from proxystore.data.subsets import SubsetDecl, declare_subset
    from proxystore.db.models import SqlDataset, SqlSubset
    from proxystore.errors import DataError

    with pytest.raises(DataError, match=f"^seed must be an integer from 0 to {MAX_SEED}, got "
                                        f"{HUGE}$"):
        register_dataset(db, "digits", "sklearn:digits", seed=HUGE)
    register_dataset(db, "digits", "sklearn:digits")
    with pytest.raises(DataError, match=f"^seed must be an integer from 0 to {MAX_SEED}"):
        declare_subset(db, "digits", SubsetDecl("random", {"fraction": 0.5}, seed=HUGE))
    for params, message in (({"count": HUGE}, "random count must be an integer from 1 to "),
                            ({"count": "abc"}, "random count must be an integer from 1 to "),
                            ({"count": 10.5}, "random count must be an integer from 1 to ")):
        with pytest.raises(DataError, match=f"^{message}"):
            SubsetDecl("random", params)
    with pytest.raises(DataError, match=f"number of classes k must be an integer from 1 to "
                                        f"{MAX_CLASSES}"):
        SubsetDecl("classes", {"k": MAX_CLASSES + 1})
    assert SubsetDecl("random", {"count": "12"}).params["count"] == 12  # from the command line
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SqlSubset)) == 0
        assert session.scalar(select(func.count()).select_from(SqlDataset)) == 1
