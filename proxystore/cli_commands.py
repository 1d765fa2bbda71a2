"""The commands of the command line, found by introspection and read from their signatures.

Every public method of the CLI's root class is a command, every property a group whose methods
are its commands; each parameter's annotation says how its value is read (int, float, bool,
Literal choices, list[X], `X | None`; anything else is text). A command or flag someone adds is
covered by the checks and the help without an entry anywhere.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One parameter of a command as the command line sees it."""

    name: str
    kind: str  # int, float, bool, text, choice
    choices: tuple[Any, ...] = ()
    many: bool = False  # list[X] / tuple[X, ...]: comma-separated values
    default: Any = None
    required: bool = False
    positional: bool = False
    variadic: bool = False

    @property
    def flag(self) -> str:
        """The spelling the README uses, e.g. --max-cells."""
        return "--" + self.name.replace("_", "-")

    @property
    def metavar(self) -> str:
        """The placeholder of a positional argument, e.g. SPEC or SPECS..."""
        return self.name.upper() + ("..." if self.variadic else "")

    @property
    def type_name(self) -> str:
        """A readable type: int, number, true/false, text, or the choices."""
        one = {"int": "int", "float": "number", "bool": "true/false", "text": "text",
               "choice": "|".join(str(c) for c in self.choices)}[self.kind]
        return f"{one},{one},..." if self.many else one


@dataclass(frozen=True)
class Command:
    """A command: its path below `proxystore` (Python names), function and parameters."""

    path: tuple[str, ...]
    function: Callable[..., Any]
    params: tuple[Param, ...]

    @property
    def name(self) -> str:
        """The command as typed, e.g. `db upgrade` or `import-results`."""
        return " ".join(dashed(part) for part in self.path)

    def usage(self) -> str:
        """One line: proxystore NAME POSITIONALS [flags]."""
        words = []
        for p in self.params:
            if p.positional:
                words.append(p.metavar if p.required else f"[{p.metavar}]")
        if any(not p.positional for p in self.params):
            words.append("[flags]")
        return " ".join(["proxystore", self.name, *words])


@dataclass(frozen=True)
class Call:
    """A checked command line: the command and the values its function receives."""

    command: Command
    values: dict[str, Any]
    varargs: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Help:
    """A request for help on the root (path ()), a group (path (group,)) or a command."""

    path: tuple[str, ...]


def dashed(name: str) -> str:
    """A Python name as the command line spells it: import_results -> import-results."""
    return name.replace("_", "-")


def members(cls: type) -> dict[str, Any]:
    """Public methods and properties (groups) of a class, base classes' first, in source order."""
    order = [k for k in cls.__mro__[1:] if k is not object] + [cls]
    found: dict[str, Any] = {}
    for klass in order:
        for name in vars(klass):
            member = inspect.getattr_static(cls, name)
            if not name.startswith("_") and (isinstance(member, property)
                                             or inspect.isfunction(member)):
                found[name] = member
    return found


def group_class(root: type, name: str) -> type:
    """The class behind a group property of the root (its module is imported only now)."""
    return type(getattr(root(), name))


def command_paths(root: type) -> list[tuple[str, ...]]:
    """Every command's path, groups expanded, in help order."""
    paths: list[tuple[str, ...]] = []
    for name, member in members(root).items():
        if isinstance(member, property):
            paths += [(name, sub) for sub in members(group_class(root, name))]
        else:
            paths.append((name,))
    return paths


def describe(root: type, path: tuple[str, ...]) -> Command:
    """Read a command's parameters from its signature and annotations."""
    owner = group_class(root, path[0]) if len(path) == 2 else root
    function = members(owner)[path[-1]]
    hints = typing.get_type_hints(function)
    params = [p for p in inspect.signature(function).parameters.values() if p.name != "self"]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        raise TypeError(f"proxystore {' '.join(path)}: **kwargs can't be checked; name the flags")
    varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    required = [p.name for p in params if p.default is p.empty and p.kind is not p.VAR_POSITIONAL]
    # Positional: the required parameters; with none, the first one (`fill SPEC`, `db upgrade
    # REVISION`). The rest are flags only, so `analyze demo csv` can't set --format by position.
    positional = set(required) if required or varargs or not params else {params[0].name}
    out = []
    for p in params:
        kind, choices, many = _kind(hints.get(p.name, str))
        out.append(Param(name=p.name, kind=kind, choices=choices, many=many,
                         default=None if p.default is p.empty else p.default,
                         required=p.name in required,
                         positional=(p.name in positional and kind != "bool")
                         or p.kind is p.VAR_POSITIONAL,
                         variadic=p.kind is p.VAR_POSITIONAL))
    return Command(path=path, function=function, params=tuple(out))


def _kind(hint: Any) -> tuple[str, tuple[Any, ...], bool]:
    """(kind, choices, many) for an annotation; anything unknown (Any, Path, unions) is text."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _kind(rest[0]) if len(rest) == 1 else ("text", (), False)
    if origin is typing.Literal:
        return "choice", args, False
    if origin in (list, tuple) and args and (origin is list or args[1:] in ((), (...,))):
        kind, choices, _ = _kind(args[0])
        return kind, choices, True
    names = {bool: "bool", int: "int", float: "float"}
    return names.get(hint, "text"), (), False
