"""Study specs: the demo validates; every bad field is reported with its path, before any write."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from proxystore.errors import SpecError
from proxystore.limits import MAX_IMAGE_SIZE, MAX_SAMPLED_COUNT
from proxystore.resources import schema_text
from proxystore.study.spec import load_spec, parse_spec
from tests.helpers import REPO, run_cli

DEMO = REPO / "jobs" / "demo.yaml"


def _demo() -> dict:
    return yaml.safe_load(DEMO.read_text())


def _error(raw: dict) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(yaml.safe_dump(raw))
    return str(info.value)


def _check_fails(path: Path, text: str) -> str:
    """Write `text` to `path`, run `spec check` on it, expect exit 2 and return its stderr."""
    path.write_text(text)
    result = run_cli("spec", "check", str(path), cwd=path.parent, timeout=60)
    assert result.returncode == 2, result.stderr
    return result.stderr.strip()


def test_demo_spec_expands_to_candidates_times_tasks():
    spec = load_spec(DEMO)
    assert len(spec.candidates) == 12
    assert len(spec.tasks) == 11
    assert spec.cell_count() == 132
    assert spec.tasks["easy-50"].scorer == {"candidate": "a000", "task": "full"}
    assert spec.tasks["full"].role == "reference"
    assert spec.recipe("epochs-2", "a000").epochs == 2
    assert spec.recipe("full", "a000").epochs == 6


def test_sampled_candidates_are_reproducible():
    a, b = load_spec(DEMO), load_spec(DEMO)
    assert [c.architecture.fingerprint for c in a.candidates.values()] == [
        c.architecture.fingerprint for c in b.candidates.values()]
    assert len({c.architecture.fingerprint for c in a.candidates.values()}) == 12


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r["tasks"]["random-50"]["subset"].update(fraction=1.5),
         "tasks.random-50.subset.fraction: must be in (0, 1], got 1.5"),
        (lambda r: r["tasks"]["random-50"]["subset"].update(fraction=0),
         "tasks.random-50.subset.fraction: must be in (0, 1], got 0"),
        (lambda r: r["tasks"]["full"].update(dataset="cifar10"),
         "tasks.full.dataset: 'cifar10' is not among datasets"),
        (lambda r: r["tasks"]["full"].update(epochz=3),
         "tasks.full.epochz: unknown recipe field"),
        (lambda r: r["tasks"]["random-25"].pop("proxy_of"),
         "tasks.random-25.proxy_of: required for a proxy"),
        (lambda r: r["tasks"]["random-25"].update(proxy_of="nope"),
         "tasks.random-25.proxy_of: 'nope' is not another task"),
        (lambda r: r["tasks"]["easy-50"]["subset"].update(a=0.7, b=0.5),
         "tasks.easy-50.subset.b: must be greater than a (0.7), got 0.5"),
        (lambda r: r["tasks"]["easy-50"]["subset"]["scorer"].update(candidate="zzz"),
         "tasks.easy-50.subset.scorer.candidate: 'zzz' is not a candidate"),
        (lambda r: r["tasks"]["easy-50"]["subset"].pop("scorer"),
         "tasks.easy-50.subset.scorer: required"),
        (lambda r: r["defaults"].update(lr=-1),
         "defaults.lr: must be > 0, got -1"),
        (lambda r: r["defaults"].update(optimizer="lamb"),
         "defaults.optimizer: must be one of sgd, adam, rmsprop"),
        (lambda r: r["tasks"]["digits-5"]["subset"].update(kind="sometimes"),
         "tasks.digits-5.subset.kind: must be one of full, random"),
        (lambda r: r["tasks"]["digits-5"]["subset"].update(labels=[0, 1]),
         "tasks.digits-5.subset: a classes subset takes exactly one of k, fraction and labels"),
        (lambda r: r["tasks"]["digits-5"]["subset"].update(labels=[0, 0], k=None),
         "tasks.digits-5.subset.labels: [0, 0] has non-unique elements"),
        (lambda r: r["tasks"]["random-50"]["subset"].update(val_n=10),
         "tasks.random-50.subset.val_n: only a per_class subset caps its validation side"),
        (lambda r: r["tasks"]["digits-5"].update(role="reference"),
         ".role: only one reference task is allowed"),
        (lambda r: r.update(colour="blue"), "colour: unknown field"),
        (lambda r: r.pop("tasks"), "tasks: required"),
        (lambda r: r["candidates"]["architectures"]["sampled"].update(band=[9e9, 1e10],
                                                                       max_draws=20000),
         "candidates.architectures.sampled:"),
        (lambda r: r["candidates"]["architectures"].update(listed={"x": {"depths": [1]}}),
         "candidates.architectures.listed.x:"),
        (lambda r: r["candidates"]["architectures"].update(listed={"x": {
            "depths": [1], "widths": [8], "bottleneck_ratios": [1], "group_widths": [8],
            "strides": [1], "stem_type": "tiny"}}),
         "candidates.architectures.listed.x: stem: stem_type must be one of standard, small, "
         "got 'tiny'"),
    ],
)
def test_bad_fields_are_named_by_path(change, expected):
    raw = _demo()
    change(raw)
    assert expected in _error(raw)


def test_not_yaml_and_missing_file():
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec("name: [unclosed")
    with pytest.raises(SpecError, match="no such study spec"):
        load_spec("/no/such/spec.yaml")


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    """YAML's default keeps the last of two equal keys: a copy-pasted task would vanish."""
    text = DEMO.read_text()
    lines = text.splitlines()
    first = next(n for n, t in enumerate(lines, start=1) if t.startswith("name:"))
    twice = tmp_path / "twice.yaml"
    twice.write_text(text + "name: demo-copy\n")
    result = run_cli("spec", "check", str(twice), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"proxystore: error: {twice}: not valid YAML (line {len(lines) + 1}): "
        f"duplicate key 'name' (first on line {first})")
    with pytest.raises(SpecError, match=r"line 3\): duplicate key 'full' \(first on line 2\)"):
        parse_spec("tasks:\n  full: {dataset: digits}\n  full: {dataset: digits}\n")
    # merge keys may be overridden: that is not a duplicate
    with pytest.raises(SpecError) as error:
        parse_spec("base: &b {x: 1}\nother:\n  <<: *b\n  x: 2\n")
    assert "duplicate" not in str(error.value)


def test_a_huge_depth_or_integer_in_a_spec_is_refused_by_spec_check(tmp_path):
    """A depth of 10**12 passed `spec check` and hung `plan`; 5000 digits were a traceback."""
    raw = _demo()
    raw["candidates"]["architectures"]["listed"] = {"x": {
        "depths": [10**12], "widths": [8], "bottleneck_ratios": [1], "group_widths": [8],
        "strides": [1]}}
    huge = tmp_path / "huge.yaml"
    assert _check_fails(huge, yaml.safe_dump(raw)) == (
        f"proxystore: error: {huge}: candidates.architectures.listed.x: stage 1: depths must be "
        "a positive integer up to 1000, got 1000000000000")
    raw = _demo()
    raw["candidates"]["architectures"]["sampled"]["max_depth"] = 10**20
    assert _error(raw) == ("candidates.architectures.sampled.max_depth: must be an integer from "
                           "1 to 1000, got 100000000000000000000")
    line = _check_fails(huge, yaml.safe_dump(raw).replace("100000000000000000000", "9" * 5000))
    assert line.startswith(f"proxystore: error: {huge}: not valid YAML (line ")
    assert line.endswith("integer of 5,000 digits is too large")


@pytest.mark.parametrize(("change", "where"), [
    (lambda r, v: r["defaults"].update(image_size=v), "defaults.image_size"),
    (lambda r, v: r["tasks"]["full"].update(image_size=v), "tasks.full.image_size"),
    (lambda r, v: r["candidates"].update(hyperparameters={"big": {"image_size": v}}),
     "candidates.hyperparameters.big.image_size"),
    (lambda r, v: r["candidates"]["architectures"]["sampled"].update(image_size=v),
     "candidates.architectures.sampled.image_size"),
])
def test_an_image_size_above_the_bound_is_named_by_path(change, where):
    """image_size 10**9 passed `spec check`: a decode cache of exabytes, overflowing counts."""
    raw = _demo()
    change(raw, 10**9)
    assert _error(raw) == f"{where}: must be an integer from 1 to 4096, got 1000000000"
    raw = _demo()
    change(raw, MAX_IMAGE_SIZE)
    if "sampled" not in where:  # the demo's band is for its own resolution
        parse_spec(yaml.safe_dump(raw))


def test_spec_check_refuses_a_huge_image_size_in_one_line(tmp_path):
    raw = _demo()
    raw["tasks"]["full"]["image_size"] = 10**9
    path = tmp_path / "huge.yaml"
    assert _check_fails(path, yaml.safe_dump(raw)) == (
        f"proxystore: error: {path}: tasks.full.image_size: must be an integer from 1 to 4096, "
        "got 1000000000")


def test_a_sampled_count_above_the_bound_is_one_line(tmp_path):
    """count 10**9 was sampled until max_draws (20 million genomes scored) before failing."""
    raw = _demo()
    raw["candidates"]["architectures"]["sampled"]["count"] = 10**9
    path = tmp_path / "many.yaml"
    assert _check_fails(path, yaml.safe_dump(raw)) == (
        f"proxystore: error: {path}: candidates.architectures.sampled.count: must be an integer "
        "from 1 to 100000, got 1000000000")


def test_schema_bounds_are_the_limits_constants():
    """The JSON schema repeats the bounds for editors; they must not drift from limits.py."""
    schema = json.loads(schema_text("study.schema.json"))
    defs = schema["$defs"]
    for name in ("task", "recipe", "sampler"):
        assert defs[name]["properties"]["image_size"]["maximum"] == MAX_IMAGE_SIZE, name
    assert defs["sampler"]["properties"]["count"]["maximum"] == MAX_SAMPLED_COUNT
    # Every integer a spec carries has its bound (tests/test_spec_bounds.py).
    from proxystore import limits
    from proxystore.space import genome

    def maximum(*path: str) -> int:
        node = schema
        for key in path:
            node = node[key]
        return node["maximum"]

    seeds = [("properties", "seeds", "items"), ("$defs", "dataset", "properties", "seed"),
             ("$defs", "subset", "properties", "seed"),
             ("$defs", "subset", "properties", "scorer", "properties", "seed"),
             ("$defs", "sampler", "properties", "seed")]
    assert {maximum(*p) for p in seeds} == {limits.MAX_SEED}
    assert maximum("$defs", "task", "properties", "epochs") == limits.MAX_EPOCHS
    recipe = defs["recipe"]["properties"]
    assert (recipe["epochs"]["maximum"], recipe["warmup_epochs"]["maximum"],
            recipe["batch_size"]["maximum"], recipe["crop_padding"]["maximum"]) == (
        limits.MAX_EPOCHS, limits.MAX_EPOCHS, limits.MAX_BATCH_SIZE, MAX_IMAGE_SIZE)
    subset = defs["subset"]["properties"]
    assert (subset["count"]["maximum"], subset["n"]["maximum"], subset["k"]["maximum"]) == (
        limits.MAX_EXAMPLES, limits.MAX_EXAMPLES, limits.MAX_CLASSES)
    assert (subset["val_n"]["maximum"], subset["labels"]["items"]["maximum"]) == (
        limits.MAX_EXAMPLES, limits.MAX_CLASSES - 1)
    sampler = defs["sampler"]["properties"]
    assert {k: sampler[k]["maximum"] for k in ("num_classes", "num_stages", "max_depth",
                                               "max_width", "max_group_width", "stem_width",
                                               "max_draws")} == {
        "num_classes": limits.MAX_CLASSES, "num_stages": genome.MAX_STAGES,
        "max_depth": genome.MAX_DEPTH, "max_width": genome.MAX_WIDTH,
        "max_group_width": genome.MAX_WIDTH, "stem_width": genome.MAX_WIDTH,
        "max_draws": limits.MAX_SAMPLER_DRAWS}
    assert sampler["strides"]["items"]["maximum"] == genome.MAX_STRIDE


def test_a_spec_that_is_not_utf8_is_one_line_naming_file_and_line(tmp_path):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(DEMO.read_bytes().replace(b"description: Digits",
                                                 b"description: Chiffres \xe9crits"))
    line = next(n for n, text in enumerate(DEMO.read_text().splitlines(), start=1)
                if text.startswith("description:"))
    result = run_cli("spec", "check", str(latin1), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"proxystore: error: {latin1}: not UTF-8 text (line {line}): save the spec as UTF-8")


def test_environment_variables_in_roots_are_expanded_at_registration(monkeypatch):
    from proxystore.study.spec import expand_env

    monkeypatch.setenv("DATA_ROOT", "/data")
    assert expand_env("${DATA_ROOT}/imagenet", strict=True) == "/data/imagenet"
    assert expand_env("${UNSET_ROOT:-/fallback}", strict=True) == "/fallback"
    monkeypatch.delenv("UNSET_ROOT", raising=False)
    with pytest.raises(SpecError, match="UNSET_ROOT is not set"):
        expand_env("${UNSET_ROOT}", strict=True)
    assert expand_env("${UNSET_ROOT}", strict=False) == "${UNSET_ROOT}"


def test_one_factor_grid_is_defaults_plus_each_value():
    text = textwrap.dedent("""
        name: ofat
        datasets: {d: {source: "sklearn:digits"}}
        defaults: {image_size: 8, epochs: 2}
        tasks: {t: {dataset: d}}
        candidates:
          architectures:
            listed:
              r18: "timm:resnet18d"
              r50: "timm:resnet50d"
          one_factor:
            base: {architecture: r50, lr: 0.003, optimizer: adam, flip_prob: 0.5,
                   arch.stem_width: 32}
            vary:
              lr: [0.001, 0.003, 0.007, 0.01, 0.1]
              optimizer: [adam, sgd, rmsprop]
              flip_prob: [0.0, 0.25, 0.5]
              architecture: [r18, r50]
              arch.stem_width: [16, 32, 48]
        seeds: [0, 1]
    """)
    spec = parse_spec(text)
    # 1 default + 4 lr + 2 optimizers + 2 flips + 1 architecture + 2 stem widths
    assert len(spec.candidates) == 12
    assert spec.cell_count() == 24
    assert spec.candidates["lr=0.1"].hparams["lr"] == 0.1
    assert spec.candidates["lr=0.1"].hparams["optimizer"] == "adam"
    assert spec.candidates["arch.stem_width=48"].architecture.kwargs_dict["stem_width"] == 48
    assert spec.candidates["architecture=r18"].architecture.kwargs_dict["stem_width"] == 32
    fps = {c.architecture.fingerprint for c in spec.candidates.values()}
    assert len(fps) == 4  # r50/32 (default), r50/16, r50/48, r18/32


def test_spec_check_command(tmp_path):
    ok = run_cli("spec", "check", str(DEMO), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "132 cells" in ok.stdout
    raw = _demo()
    raw["tasks"]["random-50"]["subset"]["fraction"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = run_cli("spec", "check", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"proxystore: error: {bad}: tasks.random-50.subset.fraction: must be in (0, 1], got 2")


def test_paper_studies_validate_without_their_data(monkeypatch):
    for var in ("IMAGENET_ROOT", "CIFAR_ROOT", "IMAGENETTE_ROOT", "IMAGEWOOF_ROOT"):
        monkeypatch.delenv(var, raising=False)
    seed2 = load_spec(REPO / "jobs" / "imagenet_as_basis.yaml")
    assert len(seed2.candidates) == 500 and seed2.cell_count() == 500 * 14
    assert seed2.tasks["imagenet"].role == "reference"
    assert sorted(t for t, s in seed2.tasks.items() if s.role == "family") == [
        "imagenet-10", "imagenet-100", "imagenet-2", "imagenet-5"]
    assert seed2.recipe("cifar100", "a000").eval_metric == "top5"
    assert seed2.recipe("imagenet-10", "a000").epochs == 40
    flops = [c.architecture.complexity(224, 1000).flops for c in seed2.candidates.values()]
    assert all(360e6 <= f <= 400e6 for f in flops)
    seed1 = load_spec(REPO / "jobs" / "proxy_datasets.yaml")
    assert seed1.cell_count() == len(seed1.candidates) * 46
    assert seed1.tasks["imagenette/hard-0.9-1.0"].scorer == {"candidate": "default",
                                                            "task": "imagenette"}
    assert seed1.recipe("imagenette/all-classes-1.0-ep5", "lr=0.1").epochs == 5
    result = run_cli("spec", "check", str(REPO / "jobs" / "imagenet_as_basis.yaml"))
    assert result.returncode == 0 and "7000 cells" in result.stdout


def test_a_whole_dataset_loss_quantile_scored_on_a_subset_is_refused_by_spec_check(tmp_path):
    # The scorer scores only its own (per-class) examples: without `parent`, fill used to stop
    # at registration, after the scorer had trained ("lacks scores for 58000 of 60000").
    from tests.studies import tiny_spec, write

    scored = "{kind: loss_quantile, a: 0.5, b: 1.0, scorer: {candidate: a, task: small}%s}"
    tasks = """\
small: {dataset: digits, subset: {kind: per_class, n: 50, seed: 0}, role: target}
easy: {dataset: digits, role: proxy, proxy_of: small, subset: %s}
"""
    bad = write(tmp_path, "bad", tiny_spec("bad", tasks % (scored % "")))
    done = run_cli("spec", "check", str(bad))
    assert done.returncode == 2
    assert "tasks.easy.subset.parent: the scorer task 'small' trains on a per_class subset" \
        in done.stderr and len(done.stderr.strip().splitlines()) == 1
    parent = ", parent: {kind: per_class, n: 50, seed: 0}"
    parse_spec(tiny_spec("good", tasks % (scored % parent)))  # ranked within: accepted
