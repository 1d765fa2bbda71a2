"""The command line's grammar, read from each command's signature: commands, flags and types.

`read` checks a whole command line before anything runs: an unknown command or flag, a value of
the wrong type, too many or too few arguments each raise one UsageError line with a suggestion.
The values come back converted as the annotations ask (int, float, bool, str, `X | None`,
Literal choices, list[X]; Any stays text), so a command receives what the user typed: fire on
its own reads `--study 1e3` as the float 1000.0, `--seed 007` as the text "007" and `--dry-run
maybe` as a true value. Commands are found by introspection, so a new one needs no entry here.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from proxystore.errors import UsageError

# Dashes a PDF or a word processor puts where the user meant "--".
TYPOGRAPHIC_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
HELP_FLAGS = ("--help", "-h")
TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")
NUMBER = re.compile(r"[+-]?(?=\.?\d)(\d+(_\d+)*)?(\.\d*)?([eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+(_\d+)*")


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


def suggestion(word: str, options: list[str]) -> str:
    """'; did you mean X?' for the closest option, or ''."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def read(root: type, argv: list[str]) -> Call | Help:
    """Check a whole command line against the command it names and return what to run.

    Args:
        root: the CLI's root class (its methods are commands, its properties groups).
        argv: the arguments after `proxystore`, --debug already removed.

    Raises:
        UsageError: naming the unknown command or flag, the bad value, or the missing argument.
    """
    cut = argv.index("--") if "--" in argv else len(argv)
    before, after = argv[:cut], argv[cut + 1:]
    wants_help = any(t in HELP_FLAGS for t in before)
    words = [t for t in before if t not in HELP_FLAGS]
    if words[:1] == ["help"]:
        wants_help, words = True, words[1:]
    for token in words:
        _refuse_typographic_dash(token)
    path, rest = _resolve(root, words)
    complete = bool(path) and (len(path) == 2 or not isinstance(members(root)[path[0]], property))
    if wants_help or (not complete and not rest and not after):
        return Help(path)
    if not complete:
        where = f"proxystore {dashed(path[0])}" if path else "proxystore"
        raise UsageError(f"{where}: give a command before {(rest or ['--'])[0]} "
                         f"(`{where} --help` lists them)")
    command = describe(root, path)
    return _bind(command, rest, after)


def _refuse_typographic_dash(token: str) -> None:
    if token[:1] and token[0] in TYPOGRAPHIC_DASHES:
        fixed = "--" + token.lstrip(TYPOGRAPHIC_DASHES + "-")
        raise UsageError(f"{token!r} starts with a typographic dash ({token[0]}), as pasted "
                         f"from a PDF; type two plain dashes: {fixed}")


def _resolve(root: type, words: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Split the leading command words (one, or group and subcommand) from the rest."""
    if not words or words[0].startswith("-"):
        return (), words
    top = members(root)
    name = words[0].replace("-", "_")
    if name not in top:
        hint = suggestion(dashed(name), [dashed(n) for n in top])
        if not hint:  # `proxystore upgrade` -> db upgrade
            full = {dashed(p[-1]): " ".join(map(dashed, p)) for p in command_paths(root)
                    if len(p) == 2}
            close = difflib.get_close_matches(dashed(name), list(full), n=1, cutoff=0.75)
            hint = f"; did you mean {full[close[0]]}?" if close else ""
        raise UsageError(f"unknown command {words[0]!r}{hint} (`proxystore --help` lists them)")
    if not isinstance(top[name], property):
        return (name,), words[1:]
    if len(words) < 2 or words[1].startswith("-"):
        return (name,), words[1:]
    subs = members(group_class(root, name))
    sub = words[1].replace("-", "_")
    if sub not in subs:
        close = difflib.get_close_matches(dashed(sub), [dashed(s) for s in subs], n=1, cutoff=0.6)
        hint = f"; did you mean {dashed(name)} {close[0]}?" if close else ""
        raise UsageError(f"unknown command '{words[0]} {words[1]}'{hint} "
                         f"(`proxystore {words[0]} --help` lists them)")
    return (name, sub), words[2:]


def _lookup(command: Command, name: str) -> tuple[Param | None, bool]:
    """The parameter a flag names (either spelling) and whether it is a --no-/--no form."""
    key = name.replace("-", "_")
    by_name = {p.name: p for p in command.params if not p.variadic}
    if key in by_name:
        return by_name[key], False
    for prefix in ("no_", "no"):
        base = by_name.get(key[len(prefix):]) if key.startswith(prefix) else None
        if base is not None and base.kind == "bool":
            return base, True
    return None, False


def _flag_hint(command: Command, name: str) -> str:
    """'; did you mean --X?' for the flag closest to `name`, or ''."""
    flags = {p.flag[2:]: p.flag for p in command.params if not p.variadic}
    close = difflib.get_close_matches(dashed(name), list(flags), n=1, cutoff=0.6)
    return f"; did you mean {flags[close[0]]}?" if close else ""


def _is_flag(token: str) -> bool:
    return token.startswith("--") and len(token) > 2


def _bind(command: Command, rest: list[str], after: list[str]) -> Call:
    """Assign flags and positional arguments to the command's parameters, converted."""
    see = f"(`proxystore {command.name} --help` lists its flags)"
    values: dict[str, Any] = {}
    positionals: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        i += 1
        if not _is_flag(token):
            if token.startswith("-") and token != "-" and not NUMBER.fullmatch(token):
                raise UsageError(f"unknown flag {token}: flags start with two dashes"
                                 f"{_flag_hint(command, token.lstrip('-'))} {see}")
            positionals.append(token)
            continue
        name, equals, text = token[2:].partition("=")
        param, negated = _lookup(command, name)
        if param is None:
            raise UsageError(f"unknown flag --{name}{_flag_hint(command, name)} {see}")
        shown = "--" + name
        if param.name in values:
            raise UsageError(f"{param.flag} is given twice {see}")
        if negated:
            if equals:
                raise UsageError(f"{shown} takes no value (write {param.flag}={text} instead)")
            values[param.name] = False
        elif param.kind == "bool" and not equals:
            if i < len(rest) and not _is_flag(rest[i]):  # fire's `--dry-run false`
                text, i = rest[i], i + 1
                values[param.name] = convert(param, text, shown, switch=True)
            else:
                values[param.name] = True
        else:
            if not equals:
                if i >= len(rest) or _is_flag(rest[i]):
                    raise UsageError(f"{shown} needs a value ({param.type_name}) {see}")
                text, i = rest[i], i + 1
            values[param.name] = convert(param, text, shown)
    for text in after:  # fire's `-- --flag` habit: after "--" a flag is only text
        if _is_flag(text) and _lookup(command, text[2:].partition("=")[0])[0] is not None:
            raise UsageError(f"{text} comes after '--', which makes it an argument, not a flag; "
                             f"drop the '--' (usage: {command.usage()})")
    return _assign(command, values, positionals + after)


def _assign(command: Command, values: dict[str, Any], positionals: list[str]) -> Call:
    """Fill the positional slots not given as flags, then check nothing is missing or extra."""
    slots = [p for p in command.params if p.positional and not p.variadic
             and p.name not in values]
    for param, text in zip(slots, positionals, strict=False):
        values[param.name] = convert(param, text, param.metavar)
    extra = positionals[len(slots):]
    variadic = next((p for p in command.params if p.variadic), None)
    varargs: tuple[Any, ...] = ()
    if extra and variadic is not None:
        varargs = tuple(convert(variadic, text, variadic.metavar) for text in extra)
    elif extra:
        listed = " ".join(repr(t) for t in extra)
        raise UsageError(f"too many arguments: {listed} (usage: {command.usage()})")
    missing = [p for p in command.params if p.required and p.name not in values]
    if missing:
        names = " and ".join(f"{p.metavar} ({p.flag})" for p in missing)
        raise UsageError(f"missing {names} (usage: {command.usage()})")
    return Call(command=command, values=values, varargs=varargs)


def convert(param: Param, text: str, shown: str, switch: bool = False) -> Any:
    """The value a parameter receives for `text`, or a UsageError naming `shown`."""
    if text == "":
        raise UsageError(f"{shown} needs a value ({param.type_name}), got an empty one")
    if param.many:
        one = replace(param, many=False)
        return [convert(one, part.strip(), shown) for part in text.split(",")]
    value = _scalar(param, text)
    if value is not _BAD:
        return value
    if param.kind == "choice":
        options = [str(c) for c in param.choices]
        hint = suggestion(text, options)
        raise UsageError(f"{shown} must be one of {', '.join(options)}, got {text!r}{hint}")
    wanted = {"int": "an integer", "float": "a finite number", "bool": "true or false"}
    message = f"{shown} must be {wanted[param.kind]}, got {text!r}"
    if switch:
        message += f" (a switch: {param.flag} alone, {param.flag}=false, or put arguments first)"
    raise UsageError(message)


_BAD = object()


def _scalar(param: Param, text: str) -> Any:
    """Convert one value, or return _BAD."""
    if param.kind == "int":
        if INTEGER.fullmatch(text):
            try:
                return int(text)
            except ValueError:  # more digits than Python converts
                return _BAD
        if NUMBER.fullmatch(text):  # 1e3 is 1000; 1.5 is not an integer
            number = Decimal(text.replace("_", ""))
            if number.adjusted() <= 100 and number == number.to_integral_value():
                return int(number)
        return _BAD
    if param.kind == "float":
        if NUMBER.fullmatch(text):
            real = float(text.replace("_", ""))
            return real if math.isfinite(real) else _BAD
        return _BAD
    if param.kind == "bool":
        word = text.lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else _BAD
    if param.kind == "choice":
        return next((c for c in param.choices if str(c) == text), _BAD)
    return text
