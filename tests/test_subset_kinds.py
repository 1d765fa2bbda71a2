"""One table per rule: the subset kinds agree with the spec schema and the `data subset` flags.

The schema's subset section is generated from `proxystore.data.kinds`; the `data subset` flags
are tested against it. A kind or a parameter added to the table but not to the schema or the CLI
(or the other way round) fails here, and so does a limit the code and the schema draw apart.
"""

from __future__ import annotations

import inspect
import typing

import jsonschema
import numpy as np
import pytest

from proxystore.cli_help import parse_doc
from proxystore.data import kinds
from proxystore.data.commands import DataCommands
from proxystore.errors import DataError
from proxystore.study import schema_sections

SCHEMA = schema_sections.current()
def edges(low: float, high: float) -> list[float]:
    """Values on, just inside, and outside the limits `low` and `high`."""
    return [low - 1, low, (low + high) / 2, high, high + 1, low + 1e-9, high - 1e-9]


def schema_accepts(schema: dict, value: object) -> bool:
    """Whether a JSON schema (one property's) accepts `value`."""
    return jsonschema.Draft202012Validator(schema).is_valid(value)


NOT_KIND_FLAGS = ("self", "name", "kind", "seed", "parent", "db")
ANNOTATIONS = {"number": float | None, "integer": int | None, "boolean": bool | None,
               "labels": list[int] | None}


def test_the_schema_file_is_what_the_tables_generate() -> None:
    """Run `python -m proxystore.study.schema_sections --write` after changing a table."""
    assert SCHEMA == schema_sections.generated(SCHEMA)
    text = schema_sections.SCHEMA_FILE.read_text(encoding="utf-8")
    assert text == schema_sections.text(SCHEMA)


def test_every_kind_and_parameter_is_in_the_schema_and_nothing_else() -> None:
    subset = SCHEMA["$defs"]["subset"]
    assert subset["properties"]["kind"]["enum"] == list(kinds.KINDS)
    in_spec = {p.name for kind in kinds.KINDS.values() for p in kind.params if p.spec != "absent"}
    extra = {name for kind in kinds.KINDS.values() for name in kind.spec_fields}
    assert set(subset["properties"]) == in_spec | extra | {"kind", "seed", "parent"}
    required = {rule["if"]["properties"]["kind"]["const"]: rule["then"]["required"]
                for rule in subset["allOf"]}
    assert required == {"per_class": ["n"], "loss_quantile": ["a", "b", "scorer"]}


def test_the_data_subset_flags_are_the_kinds_parameters_with_their_help() -> None:
    signature = inspect.signature(DataCommands.subset)
    hints = typing.get_type_hints(DataCommands.subset)
    flags = [name for name in signature.parameters if name not in NOT_KIND_FLAGS]
    assert sorted(flags) == sorted(kinds.param_names())
    doc = parse_doc(DataCommands.subset).args
    assert doc["kind"] == f"{', '.join(list(kinds.KINDS)[:-1])} or {list(kinds.KINDS)[-1]}."
    for kind in kinds.KINDS.values():
        for param in kind.params:
            assert hints[param.name] == ANNOTATIONS[param.type], param.name
            assert signature.parameters[param.name].default is None, param.name
            assert doc[param.name] == param.help, param.name
            assert kind.name in param.help.split(":")[0] or f"{kind.name}:" in param.help


def test_seeded_kinds_and_names() -> None:
    assert [k for k, kind in kinds.KINDS.items() if kind.seeded] == [
        "random", "classes", "per_class", "balanced"]
    names = [
        ("full", {}, "full"),
        ("random", {"fraction": 0.25}, "random-0.25-s1"),
        ("random", {"count": 30, "stratified": True}, "random-strat-n30-s1"),
        ("classes", {"k": 5}, "classes-5-s1"),
        ("classes", {"labels": [0, 2], "complement": True}, "classes-0.2-other"),
        ("per_class", {"n": 5, "val_n": 2}, "per_class-5-val2-s1"),
        ("balanced", {}, "balanced-s1"),
        ("loss_quantile", {"a": 0, "b": 0.1, "scorer_run": 12}, "hard-0.0-0.1-by-run12"),
        ("loss_quantile", {"drop_hardest": 0.05, "scorer_run": 3},
         "hard-0.0-1.0-drop0.05-by-run3"),
    ]
    for kind, params, name in names:
        checked = kinds.check_params(kind, params)
        assert kinds.KINDS[kind].name_of(checked, 1, 5) == name


@pytest.mark.parametrize("param", [p for kind in kinds.KINDS.values() for p in kind.params
                                   if p.type in ("number", "integer")],
                         ids=lambda p: p.name)
def test_each_parameter_accepts_what_theschema_accepts(param: kinds.Param) -> None:
    """The limits the code checks are the limits a spec's schema states, edge by edge."""
    assert param.low is not None and param.high is not None
    for value in edges(param.low, param.high):
        if param.type == "integer" and not float(value).is_integer():
            continue
        value = int(value) if param.type == "integer" else value
        try:
            param.check(value)
            accepted = True
        except kinds.ParamError as error:
            accepted = False
            assert error.field == param.name and "\n" not in str(error)
        assert accepted == schema_accepts(param.schema(), value), (param.name, value)


def test_a_spec_and_a_declaration_refuse_the_same_way() -> None:
    with pytest.raises(kinds.ParamError) as info:
        kinds.check_params("random", {"fraction": 0.5, "val_n": 3})
    assert str(info.value).startswith("a random subset takes no parameter val_n (it takes: ")
    assert info.value.at("tasks.t.subset") == (
        "tasks.t.subset.val_n: only a per_class subset caps its validation side")
    with pytest.raises(kinds.ParamError) as info:
        kinds.check_params("classes", {"count": 3, "k": 2})
    assert info.value.at("w") == "w.count: only a random subset takes count"
    with pytest.raises(kinds.ParamError) as info:
        kinds.check_params("random", {})
    assert info.value.at("w") == "w: a random subset takes exactly one of fraction and count"
    with pytest.raises(kinds.ParamError, match="^a per_class subset needs n, the cap"):
        kinds.check_params("per_class", {})
    with pytest.raises(kinds.ParamError, match="^a loss_quantile subset needs scorer_run"):
        kinds.check_params("loss_quantile", {"a": 0.1, "b": 0.2})
    assert kinds.check_params("loss_quantile", {"a": 0.1, "b": 0.2}, spec=True) == {
        "a": 0.1, "b": 0.2, "drop_hardest": 0.0}
    with pytest.raises(DataError, match="^unknown subset kind 'x': choose one of full, random"):
        kinds.check_params("x", {})


def test_selection_is_the_kinds_own() -> None:
    indices, labels = np.arange(20), np.repeat([0, 1], 10)
    kept = kinds.select("per_class", {"n": 3}, 0, indices, labels)
    assert len(kept) == 6 and np.all(np.diff(kept) > 0)
    assert np.array_equal(kinds.select("full", {}, None, indices[::-1], labels), indices)
    with pytest.raises(DataError, match="needs the scorer run's losses"):
        kinds.select("loss_quantile", {"a": 0.0, "b": 1.0, "drop_hardest": 0.0}, None, indices,
                     labels)


@pytest.mark.parametrize(("subset", "message"), [
    ("{kind: classes, k: 2, count: 5}", "tasks.t.subset.count: only a random subset takes count"),
    ("{kind: random, fraction: 0.5, count: 5}",
     "tasks.t.subset: a random subset takes exactly one of fraction and count"),
    ("{kind: random}", "tasks.t.subset: a random subset takes exactly one of fraction and count"),
    ("{kind: full, parent: {kind: per_class, n: 5, k: 2}}",
     "tasks.t.subset.parent.k: only a classes subset takes k"),
])
def test_a_spec_subset_is_checked_by_its_kinds_table_before_anything_runs(subset, message) -> None:
    """A classes subset with a count passed `spec check` and failed only at registration."""
    from proxystore.errors import SpecError
    from proxystore.study.spec import parse_spec
    from tests.studies import tiny_spec

    with pytest.raises(SpecError) as info:
        parse_spec(tiny_spec("kinds", f"t: {{dataset: digits, subset: {subset}}}"))
    assert str(info.value) == message
