"""The command line's grammar, read from each command's signature: commands, flags and types.

`read` checks a whole command line before anything runs: an unknown command or flag, a value of
the wrong type, too many or too few arguments each raise one UsageError line with a suggestion.
The values come back converted as the annotations ask (int, float, bool, str, `X | None`,
Literal choices, list[X]; Any stays text), so a command receives what the user typed: fire on
its own reads `--study 1e3` as the float 1000.0, `--seed 007` as the text "007" and `--dry-run
maybe` as a true value. The commands and their parameters come from cli_commands.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

from proxystore.cli_commands import (
    Call,
    Command,
    Help,
    Param,
    command_paths,
    dashed,
    describe,
    group_class,
    members,
)
from proxystore.errors import UsageError

# Dashes a PDF or a word processor puts where the user meant "--".
TYPOGRAPHIC_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
HELP_FLAGS = ("--help", "-h")
TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")
NUMBER = re.compile(r"[+-]?(?=\.?\d)(\d+(_\d+)*)?(\.\d*)?([eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+(_\d+)*")


def suggestion(word: str, options: list[str]) -> str:
    """'; did you mean X?' for the closest option, or ''."""
    close = closest(word, options)
    return f"; did you mean {close}?" if close else ""


def closest(word: str, options: list[str], cutoff: float = 0.6) -> str | None:
    """The option most like `word` (case aside, `_` read as `-`), if any is close enough."""
    close = difflib.get_close_matches(dashed(word.lower()), options, n=1, cutoff=cutoff)
    return close[0] if close else None


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
        raise UsageError(_no_command(root, path, (rest or ["--"])[0]))
    command = describe(root, path)
    return _bind(command, rest, after)


def _no_command(root: type, path: tuple[str, ...], token: str) -> str:
    """The line for flags given before any command: name the commands that take the flag."""
    where = " ".join(["proxystore", *map(dashed, path)])
    paths = [p for p in command_paths(root) if p[:len(path)] == path]
    owners = [" ".join(map(dashed, p)) for p in paths if _is_flag(token)
              and _lookup(describe(root, p), token[2:].partition("=")[0])[0] is not None]
    which = f" ({token} is a flag of {', '.join(owners)})" if 0 < len(owners) <= 3 else ""
    return f"give a command after `{where}`, before {token}{which}; `{where} --help` lists them"


def _refuse_typographic_dash(token: str) -> None:
    if token[:1] and token[0] in TYPOGRAPHIC_DASHES:
        rest = token.lstrip(TYPOGRAPHIC_DASHES + "-")
        fixed = ("a plain minus: -" if rest[:1].isdigit() or rest[:1] == "." else
                 "two plain dashes: --") + rest
        raise UsageError(f"{token!r} starts with a typographic dash ({token[0]}), as pasted "
                         f"from a PDF; type {fixed}")


def _resolve(root: type, words: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Split the leading command words (one, or group and subcommand) from the rest."""
    if not words or words[0].startswith("-"):
        return (), words
    top = members(root)
    name = words[0].replace("-", "_")
    if name not in top:
        hint = suggestion(name, [dashed(n) for n in top])
        if not hint:  # `proxystore upgrade` -> db upgrade
            full = {dashed(p[-1]): " ".join(map(dashed, p)) for p in command_paths(root)
                    if len(p) == 2}
            close = closest(name, list(full), cutoff=0.75)
            hint = f"; did you mean {full[close]}?" if close else ""
        raise UsageError(f"unknown command {words[0]!r}{hint} (`proxystore --help` lists them)")
    if not isinstance(top[name], property):
        return (name,), words[1:]
    if len(words) < 2 or words[1].startswith("-"):
        return (name,), words[1:]
    subs = members(group_class(root, name))
    sub = words[1].replace("-", "_")
    if sub not in subs:
        close = closest(sub, [dashed(s) for s in subs])
        hint = f"; did you mean {dashed(name)} {close}?" if close else ""
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
    close = closest(name, list(flags))
    return f"; did you mean {flags[close]}?" if close else ""


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
        variadic = next((p for p in command.params if p.variadic), None)
        if param is None and variadic is not None and name.replace("-", "_") == variadic.name:
            raise UsageError(f"{variadic.metavar} are arguments, not a flag: "
                             f"proxystore {command.name} {text or 'FILE'} ...")
        if param is None:
            raise UsageError(f"unknown flag --{name}{_flag_hint(command, name)} {see}")
        shown = "--" + name
        if param.name in values and not param.many:  # a list flag may repeat: --table a --table b
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
            value = convert(param, text, shown)
            values[param.name] = values.get(param.name, []) + value if param.many else value
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
    if param.kind in ("int", "float", "bool"):
        text = text.strip()
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
