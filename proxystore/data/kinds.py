"""Subset kinds, one table: each kind's parameters, their checks, its selection, name and seed.

`KINDS` is the only place a subset kind is defined. Everything else looks a kind up here:
`check_params` (a `SubsetDecl` and a study spec's subset both check with it), `select` (which
training examples a kind keeps), `SubsetKind.validation` (what it keeps of the validation side),
`SubsetKind.name` (readable names such as classes-5-s0), `SubsetKind.seeded`, and
`subset_schema`, the `$defs/subset` section of schemas/study.schema.json (a test keeps the file
equal to it; `python -m proxystore.study.schema_sections --write` rewrites it). The flags of
`proxystore data subset` are tested against `param_names()`.

Example:
    >>> check_params("random", {"fraction": 0.5})
    {'fraction': 0.5, 'stratified': False}
    >>> KINDS["random"].name_of({"fraction": 0.5, "stratified": False}, 1, 10)
    'random-0.5-s1'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from proxystore.data import selection
from proxystore.errors import DataError
from proxystore.limits import MAX_CLASSES, MAX_EXAMPLES, MAX_SEED

PARAM_TYPES = ("number", "integer", "boolean", "labels")
SEED_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_SEED}
SCORER_SCHEMA = {
    "type": "object", "required": ["candidate", "task"], "additionalProperties": False,
    "properties": {"candidate": {"type": "string"}, "task": {"type": "string"},
                   "seed": SEED_SCHEMA},
}


class ParamError(DataError):
    """A bad subset parameter: the data layer's sentence, and the field and phrase a spec shows.

    `str(error)` is the sentence (``random count must be an integer from 1 to ...``);
    `at(where)` names a spec's field instead (``tasks.t.subset.count: must be an integer ...``).
    """

    def __init__(self, message: str, field: str | None = None, problem: str | None = None):
        super().__init__(message)
        self.field = field
        self.problem = problem or message

    def at(self, where: str) -> str:
        """The error as a spec reports it, under the subset's path `where`."""
        return f"{where}.{self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"


@dataclass(frozen=True)
class Param:
    """One subset parameter: its type, limits, default and help, and how errors name it.

    Attributes:
        name: the key in a declaration and a spec, and the `data subset` flag (`--val-n`).
        type: number, integer, boolean or labels (a list of distinct class labels).
        help: what it does, for the command line's help.
        what: how an error names it ("random count"); the name where empty.
        low, high, open_low, open_high: the limits of a number or an integer.
        default: filled in when the parameter is not given (None: left out).
        needs: when set, the parameter is required, and this says why ("the cap of ...").
        spec: "optional" or "required" in a study spec, or "absent" (a spec names a scorer task
            instead of `scorer_run`).
        only: what "only a <kind> subset ..." says when another kind is given it.
    """

    name: str
    type: str
    help: str
    what: str = ""
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    default: Any = None
    needs: str = ""
    spec: str = "optional"
    only: str = ""

    def check(self, value: Any) -> Any:
        """Return `value` checked and normalized, or raise ParamError naming this parameter."""
        what = self.what or self.name
        try:
            if self.type == "number":
                return selection.number(value, what, float(self.low or 0), float(self.high or 0),
                                        self.open_low, self.open_high)
            if self.type == "integer":
                return selection.integer(value, what, int(self.low or 0), int(self.high or 0))
            if self.type == "labels":
                return selection.class_labels(value)
        except DataError as error:
            message = str(error)
            problem = message[len(what) + 1:] if message.startswith(f"{what} ") else message
            raise ParamError(message, self.name, problem) from None
        return bool(value)

    def schema(self) -> dict[str, Any]:
        """This parameter's property in the spec schema."""
        if self.type == "boolean":
            return {"type": "boolean"}
        if self.type == "labels":
            return {"type": "array", "minItems": 1, "uniqueItems": True,
                    "items": {"type": "integer", "minimum": 0, "maximum": MAX_CLASSES - 1}}
        return {"type": self.type,
                "exclusiveMinimum" if self.open_low else "minimum": self.low,
                "exclusiveMaximum" if self.open_high else "maximum": self.high}


Selector = Callable[[np.ndarray, np.ndarray, dict, np.random.Generator, "np.ndarray | None"],
                    np.ndarray]
Namer = Callable[[dict, "int | None", int], str]
Validation = Callable[[np.ndarray, np.ndarray, np.ndarray, dict, "int | None"], np.ndarray]


def _parents_validation(val: np.ndarray, y_val: np.ndarray, kept: np.ndarray, params: dict,
                        seed: int | None) -> np.ndarray:
    """The default validation side: all of the parent's."""
    return val


@dataclass(frozen=True)
class SubsetKind:
    """A subset kind: what it takes, what it keeps, how it is named.

    Attributes:
        name: the kind, as declarations, specs and the `subsets.kind` column spell it.
        params: its parameters, in the order they are checked and stored.
        select: (indices, labels, params, rng, losses) -> the kept training indices, sorted.
        name_of: (params, seed, kept classes) -> the subset's own readable name.
        seeded: whether a seed enters the choice (then it defaults to 0; else it is None).
        one_of: names of which a declaration gives exactly one.
        rule: checks that relate parameters (raises ParamError), after each is checked.
        validation: (val indices, their labels, kept classes, params, seed) -> kept val indices.
        scored: whether it ranks examples by a scorer run's losses (`scorer_run`).
        spec_fields: extra properties a spec gives instead of `absent` ones (the scorer).
    """

    name: str
    params: tuple[Param, ...]
    select: Selector
    name_of: Namer
    seeded: bool = False
    one_of: tuple[str, ...] = ()
    rule: Callable[[dict], None] | None = None
    validation: Validation = _parents_validation
    scored: bool = False
    spec_fields: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def param_names(self) -> tuple[str, ...]:
        """Names of its parameters, in order."""
        return tuple(p.name for p in self.params)

    def spec_required(self) -> list[str]:
        """What a spec's subset of this kind must give besides `kind`."""
        return [p.name for p in self.params if p.spec == "required"] + list(self.spec_fields)


def _num(x: float) -> str:
    return repr(float(x))


def _and(names: tuple[str, ...] | list[str]) -> str:
    """'a, b and c'."""
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


# -- the kinds ------------------------------------------------------------------------------------

def _full(indices: np.ndarray, labels: np.ndarray, params: dict, rng: np.random.Generator,
          losses: np.ndarray | None) -> np.ndarray:
    return np.sort(indices)


def _random(indices: np.ndarray, labels: np.ndarray, params: dict, rng: np.random.Generator,
            losses: np.ndarray | None) -> np.ndarray:
    return selection.random_subset(indices, labels, params, rng)


def _random_name(p: dict, seed: int | None, kept: int) -> str:
    size = f"{p['fraction']:g}" if "fraction" in p else f"n{p['count']}"
    return f"random-{'strat-' if p['stratified'] else ''}{size}-s{seed}"


def _classes(indices: np.ndarray, labels: np.ndarray, params: dict, rng: np.random.Generator,
             losses: np.ndarray | None) -> np.ndarray:
    return np.sort(indices[np.isin(labels, selection.choose_classes(labels, params, rng))])


def _classes_name(p: dict, seed: int | None, kept: int) -> str:
    other = "-other" if p["complement"] else ""
    if "labels" in p:  # named classes: no seed involved
        return f"classes-{'.'.join(str(c) for c in p['labels'])}{other}"
    return f"classes-{kept}{other}-s{seed}"


def _kept_classes_only(val: np.ndarray, y_val: np.ndarray, kept: np.ndarray, params: dict,
                       seed: int | None) -> np.ndarray:
    return val[np.isin(y_val, kept)]


def _per_class(indices: np.ndarray, labels: np.ndarray, params: dict, rng: np.random.Generator,
               losses: np.ndarray | None) -> np.ndarray:
    return selection.per_class_subset(indices, labels, params["n"], rng)


def _per_class_name(p: dict, seed: int | None, kept: int) -> str:
    val = f"-val{p['val_n']}" if "val_n" in p else ""
    return f"per_class-{p['n']}{val}-s{seed}"


def _per_class_validation(val: np.ndarray, y_val: np.ndarray, kept: np.ndarray, params: dict,
                          seed: int | None) -> np.ndarray:
    if "val_n" not in params:
        return val
    # Its own random stream, so adding val_n never changes which training examples are kept.
    return selection.per_class_subset(val, y_val, params["val_n"],
                                      np.random.default_rng([seed or 0, 1]))


def _balanced(indices: np.ndarray, labels: np.ndarray, params: dict, rng: np.random.Generator,
              losses: np.ndarray | None) -> np.ndarray:
    return selection.balanced_subset(indices, labels, rng)


def _quantile(indices: np.ndarray, labels: np.ndarray, params: dict, rng: np.random.Generator,
              losses: np.ndarray | None) -> np.ndarray:
    if losses is None:
        raise DataError("a loss_quantile subset needs the scorer run's losses")
    return selection.quantile_subset(indices, losses, params)


def _quantile_name(p: dict, seed: int | None, kept: int) -> str:
    drop = f"-drop{_num(p['drop_hardest'])}" if p["drop_hardest"] else ""
    return f"hard-{_num(p['a'])}-{_num(p['b'])}{drop}-by-run{p['scorer_run']}"


def _quantile_rule(params: dict) -> None:
    a, b = params["a"], params["b"]
    if not a < b:
        raise ParamError(f"loss quantile range needs 0 ≤ a < b ≤ 1, got a={a}, b={b}", "b",
                         f"must be greater than a ({a}), got {b}")


FRACTION_HELP = "random: share of training examples; classes: share of classes; in (0, 1]."
_KINDS = (
    SubsetKind("full", (), _full, lambda p, seed, kept: "full"),
    SubsetKind("random", (
        Param("fraction", "number", FRACTION_HELP, "random fraction", 0, 1, open_low=True),
        Param("count", "integer", "random: number of training examples.", "random count", 1,
              MAX_EXAMPLES),
        Param("stratified", "boolean", "random: keep each class's share.", default=False),
    ), _random, _random_name, seeded=True, one_of=("fraction", "count")),
    SubsetKind("classes", (
        Param("k", "integer", "classes: number of classes to keep.", "number of classes k", 1,
              MAX_CLASSES),
        Param("fraction", "number", FRACTION_HELP, "fraction of classes", 0, 1, open_low=True),
        Param("labels", "labels", "classes: the class labels to keep, e.g. 0,2,4,6 (instead of "
              "k or fraction).", "classes labels"),
        Param("complement", "boolean", "classes: keep the classes the same seed (or labels) "
              "would leave out.", default=False),
    ), _classes, _classes_name, seeded=True, one_of=("k", "fraction", "labels"),
        validation=_kept_classes_only),
    SubsetKind("per_class", (
        Param("n", "integer", "per_class: at most this many training examples per class.",
              "per-class cap n", 1, MAX_EXAMPLES, needs="the cap of training examples per class",
              spec="required"),
        Param("val_n", "integer", "per_class: also keep at most this many validation examples "
              "per class.", "per-class validation cap val_n", 1, MAX_EXAMPLES,
              only="caps its validation side"),
    ), _per_class, _per_class_name, seeded=True, validation=_per_class_validation),
    SubsetKind("balanced", (), _balanced, lambda p, seed, kept: f"balanced-s{seed}", seeded=True),
    SubsetKind("loss_quantile", (
        Param("a", "number", "loss_quantile: start of the kept range, 0 = hardest.",
              "loss quantile start a", 0, 1, default=0.0, spec="required"),
        Param("b", "number", "loss_quantile: end of the kept range, 1 = easiest.",
              "loss quantile end b", 0, 1, default=1.0, spec="required"),
        Param("drop_hardest", "number", "loss_quantile: share of hardest examples dropped "
              "before ranking.", "drop_hardest", 0, 1, open_high=True, default=0.0),
        Param("scorer_run", "integer", "loss_quantile: id of the run whose per-example losses "
              "rank examples.", "scorer_run", 1, MAX_EXAMPLES,
              needs="the run whose losses rank it", spec="absent"),
    ), _quantile, _quantile_name, rule=_quantile_rule, scored=True,
        spec_fields={"scorer": SCORER_SCHEMA}),
)
KINDS: Mapping[str, SubsetKind] = {kind.name: kind for kind in _KINDS}


def subset_kind(kind: str) -> SubsetKind:
    """Return the kind called `kind`, or raise DataError naming the known ones."""
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise DataError(f"unknown subset kind {kind!r}: choose one of {', '.join(KINDS)}") from None


def param_names() -> tuple[str, ...]:
    """Every parameter of any kind, each once, in table order (the `data subset` flags)."""
    return tuple(dict.fromkeys(p.name for kind in _KINDS for p in kind.params))


def takers(name: str) -> list[str]:
    """The kinds that take parameter `name`."""
    return [kind.name for kind in _KINDS if name in kind.param_names()]


# -- checking a declaration -------------------------------------------------------------------

def _check_names(kind: SubsetKind, given: dict[str, Any]) -> None:
    unknown = sorted(set(given) - set(kind.param_names()))
    if not unknown:
        return
    message = (f"a {kind.name} subset takes no parameter {', '.join(unknown)} "
               f"(it takes: {', '.join(kind.param_names()) or 'none'})")
    owners = takers(unknown[0])
    if not owners:
        raise ParamError(message, unknown[0], "unknown subset parameter")
    param = next(p for p in KINDS[owners[0]].params if p.name == unknown[0])
    raise ParamError(message, unknown[0], f"only a {' or '.join(owners)} subset "
                     f"{param.only or 'takes ' + param.name}")


def _check_given(kind: SubsetKind, given: dict[str, Any], spec: bool) -> None:
    if kind.one_of and sum(name in given for name in kind.one_of) != 1:
        raise ParamError(f"a {kind.name} subset takes exactly one of {' and '.join(kind.one_of)}",
                         None, f"a {kind.name} subset takes exactly one of {_and(kind.one_of)}")
    for param in kind.params:
        if param.needs and param.name not in given and not (spec and param.spec == "absent"):
            raise ParamError(f"a {kind.name} subset needs {param.name}, {param.needs}",
                             param.name, "required")


def check_params(kind: str, params: Mapping[str, Any], *, spec: bool = False) -> dict[str, Any]:
    """Return `params` checked and normalized (defaults filled in), or raise `DataError`.

    Args:
        kind: the subset kind.
        params: its parameters; None means not given.
        spec: check a study spec's subset, which names no `scorer_run` (`spec="absent"`).

    Raises:
        ParamError: a parameter is wrong, missing or not one this kind takes.
        DataError: the kind is unknown.
    """
    entry = subset_kind(kind)
    given = {k: v for k, v in params.items() if v is not None}
    _check_names(entry, given)
    _check_given(entry, given, spec)
    out: dict[str, Any] = {}
    for param in entry.params:
        if param.name in given:
            out[param.name] = param.check(given[param.name])
        elif param.default is not None:
            out[param.name] = param.default
    if entry.rule is not None:
        entry.rule(out)
    return out


def select(kind: str, params: dict, seed: int | None, indices: np.ndarray, labels: np.ndarray,
           losses: np.ndarray | None = None) -> np.ndarray:
    """Return the training indices a subset of `kind` keeps out of its parent's `indices`."""
    return KINDS[kind].select(indices, labels, params, np.random.default_rng(seed), losses)


# -- the spec schema's subset section ----------------------------------------------------------

def subset_schema() -> dict[str, Any]:
    """`$defs/subset` of schemas/study.schema.json, as the table defines it."""
    properties: dict[str, Any] = {"kind": {"enum": list(KINDS)}, "seed": SEED_SCHEMA}
    for kind in _KINDS:
        for param in kind.params:
            if param.spec == "absent":
                continue
            if properties.setdefault(param.name, param.schema()) != param.schema():
                raise AssertionError(f"subset parameter {param.name} differs between kinds")
        properties.update(kind.spec_fields)
    properties["parent"] = {"$ref": "#/$defs/subset"}
    required = [{"if": {"properties": {"kind": {"const": kind.name}}},
                 "then": {"required": kind.spec_required()}}
                for kind in _KINDS if kind.spec_required()]
    return {"type": "object", "required": ["kind"], "properties": properties,
            "additionalProperties": False, "allOf": required}
