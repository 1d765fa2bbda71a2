"""Study specs: YAML validated against schemas/study.schema.json, then checked for meaning.

Every error names the path of the bad field (``tasks.cifar10.subset.fraction: must be in
(0, 1]``) and is raised before anything is written to the database.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from proxystore import yaml_strict
from proxystore.errors import SpecError
from proxystore.fingerprint import fingerprint
from proxystore.resources import schema_text
from proxystore.train.recipe import Recipe

ROLES = ("reference", "family", "target", "proxy", "other")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset as a study names it: its name, source and source options."""

    name: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec:
    """A task: a subset of a dataset, a training regime, and its role in the analysis."""

    label: str
    dataset: str
    subset: dict[str, Any]
    role: str
    proxy_of: str | None
    regime: dict[str, Any]
    strategy: str | None = None

    @property
    def strategy_label(self) -> str:
        """The strategy this task's proxy results pool under (Table 2's row name)."""
        return self.strategy or default_strategy(self.label, self.proxy_of)

    @property
    def scorer(self) -> dict[str, Any] | None:
        """The (candidate, task, seed) whose losses rank examples, for loss-quantile subsets."""
        from proxystore.data.kinds import KINDS

        node: dict[str, Any] | None = self.subset
        while node is not None:
            kind = KINDS.get(node.get("kind", "full"))
            if kind is not None and kind.scored:
                return dict(node["scorer"])
            node = node.get("parent")
        return None


def default_strategy(label: str, proxy_of: str | None) -> str:
    """Return a task's default strategy: its label without a leading "<proxy_of>/"."""
    if proxy_of and label.startswith(f"{proxy_of}/") and len(label) > len(proxy_of) + 1:
        return label[len(proxy_of) + 1:]
    return label


@dataclass(frozen=True)
class AnalysisSettings:
    """A study's `analysis:` settings: what a diverged run counts as, which configs are good.

    good_rule is min_accuracy, relative_to_best or top (None: the default, relative_to_best 0.95,
    see docs/analysis.md); good_value its number.
    """

    diverged: str | None = None
    good_rule: str | None = None
    good_value: float | None = None

    @classmethod
    def from_raw(cls, raw: Any) -> AnalysisSettings:
        """Return the settings of a spec's (schema-checked) `analysis` mapping."""
        raw = raw if isinstance(raw, dict) else {}
        good = raw.get("good") or {}
        rule = next(iter(good), None)
        return cls(diverged=raw.get("diverged"), good_rule=rule,
                   good_value=float(good[rule]) if rule else None)


@dataclass(frozen=True)
class CandidateSpec:
    """A candidate: an architecture (as written in the spec) plus hyperparameter overrides."""

    label: str
    architecture: Any
    hparams: dict[str, Any]


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec."""

    name: str
    text: str
    source: str
    datasets: dict[str, DatasetSpec]
    defaults: dict[str, Any]
    tasks: dict[str, TaskSpec]
    candidates: dict[str, CandidateSpec]
    sampled: dict[str, Any] | None
    seeds: tuple[int, ...]
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)

    @property
    def fingerprint(self) -> str:
        """sha256 of the spec's text."""
        return fingerprint(self.text)

    def recipe(self, task: str, candidate: str) -> Recipe:
        """A cell's effective recipe: defaults, then task regime, then candidate hparams."""
        return Recipe.from_parts(self.defaults, self.tasks[task].regime,
                                 self.candidates[candidate].hparams,
                                 where=f"candidates.{candidate}@tasks.{task}")

    def cell_count(self) -> int:
        """Cells the spec expands to: candidates x tasks x seeds."""
        return len(self.candidates) * len(self.tasks) * len(self.seeds)


@cache
def _schema() -> dict[str, Any]:
    return json.loads(schema_text("study.schema.json"))


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def _message(error: Any) -> str:
    """Turn a jsonschema error into a short phrase a researcher reads at a glance."""
    kind, value, schema = error.validator, error.validator_value, error.schema
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        left = "[" if "minimum" in schema else "("
        right = "]" if "maximum" in schema else ")"
        if low is not None and high is not None:
            if schema.get("type") == "integer" and left + right == "[]":
                return f"must be an integer from {low} to {high}, got {error.instance!r}"
            return f"must be in {left}{low}, {high}{right}, got {error.instance!r}"
        if low is not None:
            return f"must be {'>=' if left == '[' else '>'} {low}, got {error.instance!r}"
        return f"must be {'<=' if right == ']' else '<'} {high}, got {error.instance!r}"
    if kind == "required":
        missing = [k for k in value if k not in error.instance]
        return f"{missing[0]}: required" if missing else "a required field is missing"
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        return f"{extra[0]}: unknown field" if extra else "unknown field"
    if kind == "enum":
        return f"must be one of {', '.join(map(str, value))}, got {error.instance!r}"
    if kind == "type":
        return f"must be of type {value}, got {type(error.instance).__name__}"
    if kind == "pattern":
        return f"must match {value}, got {error.instance!r}"
    return error.message


def _check_schema(raw: Any) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        error = jsonschema.exceptions.best_match(errors) or errors[0]
        path = _path(error.absolute_path)
        message = _message(error)
        if message.endswith(": required") or message.endswith(": unknown field"):
            name, rest = message.split(": ", 1)
            raise SpecError(f"{path + '.' if error.absolute_path else ''}{name}: {rest}")
        raise SpecError(f"{path}: {message}")


def parse_analysis(raw: Any) -> AnalysisSettings:
    """Validate a spec's `analysis:` mapping on its own (import-results reads only it).

    Raises:
        SpecError: naming the bad field, e.g. ``analysis.diverged: must be one of chance, drop``.
    """
    import jsonschema

    schema = {**_schema()["$defs"]["analysis"], "$defs": _schema()["$defs"]}
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(raw),
                    key=lambda e: len(e.absolute_path))
    if errors:
        where = ".".join(["analysis", *map(str, errors[0].absolute_path)])
        raise SpecError(f"{where}: {_message(errors[0])}")
    return AnalysisSettings.from_raw(raw)


def expand_env(value: str, *, strict: bool) -> str:
    """Replace ${VAR} and ${VAR:-default} from the environment (unset and strict: SpecError)."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        if strict:
            raise SpecError(f"environment variable {name} is not set")
        return match.group(0)

    return _ENV.sub(replace, value)


def load_spec(path: str | Path) -> StudySpec:
    """Read, validate and check a study spec file.

    Args:
        path: a YAML file (usually under jobs/).

    Raises:
        SpecError: the file is missing, is not YAML, or a field is wrong (the message names it).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such study spec") from None
    except OSError as error:
        raise SpecError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        line = error.object.count(b"\n", 0, error.start) + 1
        raise SpecError(f"{path}: not UTF-8 text (line {line}): save the spec as UTF-8") from None
    try:
        return parse_spec(text, source=str(path))
    except SpecError as error:
        raise SpecError(f"{path}: {error}") from None


def parse_spec(text: str, source: str = "<spec>") -> StudySpec:
    """Validate spec text (YAML) and return the StudySpec; SpecError names the bad field."""
    try:
        raw = yaml_strict.load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise SpecError(f"not valid YAML ({where}): {getattr(error, 'problem', error)}") from None
    if not isinstance(raw, dict):
        raise SpecError("(top level): must be a mapping with name, datasets, tasks, candidates")
    _check_schema(raw)
    from proxystore.study.candidates import expand_candidates

    defaults = dict(raw.get("defaults") or {})
    datasets = {
        name: DatasetSpec(name=name, source=d["source"],
                          options={k: v for k, v in d.items() if k != "source"})
        for name, d in raw["datasets"].items()
    }
    tasks: dict[str, TaskSpec] = {}
    for label, t in raw["tasks"].items():
        where = f"tasks.{label}"
        if t["dataset"] not in datasets:
            raise SpecError(f"{where}.dataset: {t['dataset']!r} is not among datasets "
                            f"({', '.join(datasets)})")
        regime = {k: v for k, v in t.items()
                  if k not in ("dataset", "subset", "role", "proxy_of", "strategy")}
        Recipe.from_parts(defaults, regime, where=where)  # range checks with the task's path
        tasks[label] = TaskSpec(label=label, dataset=t["dataset"],
                                subset=dict(t.get("subset") or {"kind": "full"}),
                                role=t.get("role", "other"), proxy_of=t.get("proxy_of"),
                                regime=regime, strategy=t.get("strategy"))
    candidates, sampled = expand_candidates(raw["candidates"], defaults)
    spec = StudySpec(name=raw["name"], text=text, source=source, datasets=datasets,
                     defaults=defaults, tasks=tasks, candidates=candidates, sampled=sampled,
                     seeds=tuple(raw.get("seeds") or (0,)),
                     analysis=AnalysisSettings.from_raw(raw.get("analysis")))
    _check_meaning(spec)
    return spec


def _check_meaning(spec: StudySpec) -> None:
    references = [t.label for t in spec.tasks.values() if t.role == "reference"]
    if len(references) > 1:
        raise SpecError(f"tasks.{references[1]}.role: only one reference task is allowed "
                        f"({references[0]} is one already)")
    for task in spec.tasks.values():
        where = f"tasks.{task.label}"
        if task.role == "proxy" and not task.proxy_of:
            raise SpecError(f"{where}.proxy_of: required for a proxy (the target it stands in for)")
        if task.strategy is not None and task.role != "proxy":
            raise SpecError(f"{where}.strategy: only a task with role proxy has a strategy "
                            f"(the Table 2 row its proxy results pool under)")
        if task.proxy_of is not None:
            if task.role != "proxy":
                raise SpecError(f"{where}.proxy_of: only a task with role proxy names a target")
            if task.proxy_of not in spec.tasks or task.proxy_of == task.label:
                raise SpecError(f"{where}.proxy_of: {task.proxy_of!r} is not another task")
        _check_subset(spec, task.subset, f"{where}.subset")
        for candidate in spec.candidates:
            spec.recipe(task.label, candidate)


def _check_scored(scorer_task: TaskSpec, subset: dict[str, Any], where: str) -> None:
    """Refuse a loss quantile of the whole dataset scored by a run that saw only a subset.

    The scorer records losses of its own training examples; ranking every example of the
    dataset then stopped `fill` at registration, after the scorer had trained.
    """
    if subset.get("parent") is None and scorer_task.subset.get("kind", "full") != "full":
        raise SpecError(f"{where}.parent: the scorer task {scorer_task.label!r} trains on a "
                        f"{scorer_task.subset['kind']} subset and scores only its examples; rank "
                        "within them (parent: the same subset as that task's)")


def _check_subset(spec: StudySpec, subset: dict[str, Any], where: str) -> None:
    """The subset kinds' own rules (kinds.check_params), then the scorer a ranking names."""
    from proxystore.data.kinds import ParamError, check_params, subset_kind

    kind = subset_kind(subset["kind"])  # the schema allows only known kinds
    params = {k: v for k, v in subset.items() if k not in ("kind", "seed", "parent",
                                                           *kind.spec_fields)}
    try:
        check_params(kind.name, params, spec=True)
    except ParamError as error:
        raise SpecError(error.at(where)) from None
    if kind.scored:
        _check_scorer(spec, subset, where)
    if "parent" in subset:
        _check_subset(spec, subset["parent"], f"{where}.parent")


def _check_scorer(spec: StudySpec, subset: dict[str, Any], where: str) -> None:
    scorer = subset["scorer"]
    if scorer["candidate"] not in spec.candidates:
        raise SpecError(f"{where}.scorer.candidate: {scorer['candidate']!r} is not a "
                        "candidate of this study")
    task = spec.tasks.get(scorer["task"])
    if task is None:
        raise SpecError(f"{where}.scorer.task: {scorer['task']!r} is not a task")
    if task.scorer is not None:
        raise SpecError(f"{where}.scorer.task: {scorer['task']!r} is itself a loss-quantile "
                        "task; a scorer must train on a subset that exists before training")
    seed = scorer.get("seed", spec.seeds[0])
    if seed not in spec.seeds:
        raise SpecError(f"{where}.scorer.seed: {seed} is not among the study's seeds")
    _check_scored(task, subset, where)
