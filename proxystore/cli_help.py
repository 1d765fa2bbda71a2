"""`--help` for the command line, from docstrings: usage, flags with readable types, an example.

Printed to stdout by proxystore itself (fire's help opens a pager, prints an INFO line, shows
`Optional['str | None']` and spells flags --max_cells).
"""

from __future__ import annotations

import inspect
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from typing import Any

from proxystore import cli_commands
from proxystore.cli_commands import dashed, members

SECTION = re.compile(r"^(Args|Arguments|Examples?|Raises|Returns|Yields|Notes?):\s*$")
ARG = re.compile(r"^\s{2,8}\**(\w+)(?: \([^)]*\))?:\s*(.*)$")


@dataclass(frozen=True)
class Doc:
    """A Google-style docstring in parts."""

    summary: str
    body: str
    args: dict[str, str] = field(default_factory=dict)
    example: tuple[str, ...] = ()


def parse_doc(obj: Any) -> Doc:
    """Split an object's docstring into summary, body, Args descriptions and Example lines."""
    lines = (inspect.getdoc(obj) or "").splitlines()
    summary = lines[0].strip() if lines else ""
    body: list[str] = []
    args: dict[str, str] = {}
    example: list[str] = []
    section, current = "", ""
    for line in lines[1:]:
        header = SECTION.match(line)
        if header:
            section = header.group(1).rstrip("s").lower()
            continue
        if section in ("", "note"):
            body.append(line)
        elif section in ("arg", "argument"):
            match = ARG.match(line)
            if match:
                current = match.group(1)
                args[current] = match.group(2).strip()
            elif current and line.strip():
                args[current] += " " + line.strip()
        elif section == "example" and line.strip():
            example.append(line.strip())
    return Doc(summary=summary, body="\n".join(body).strip(), args=args, example=tuple(example))


def _wrap(text: str, width: int) -> list[str]:
    """textwrap.wrap that never breaks a --flag-name at its dashes, nor "(default: X)"."""
    keep = "\u00a0"  # a no-break space holds "(default:" to its value while wrapping
    lines = textwrap.wrap(text.replace("(default: ", f"(default:{keep}"), width,
                          break_on_hyphens=False)
    return [line.replace(keep, " ") for line in lines]


def _width() -> int:
    return max(60, min(100, shutil.get_terminal_size((100, 24)).columns))


def _rows(rows: list[tuple[str, str]], width: int, indent: int = 2) -> list[str]:
    """Two columns: names padded, descriptions wrapped beneath each other."""
    column = min(max((len(name) for name, _ in rows), default=0) + 2, 30)
    out = []
    for name, text in rows:
        lead = " " * indent + name
        wrapped = _wrap(text, width - indent - column) or [""]
        if len(name) + 2 > column:
            out.append(lead)
            out += [" " * (indent + column) + w for w in wrapped]
        else:
            out.append(lead.ljust(indent + column) + wrapped[0])
            out += [" " * (indent + column) + w for w in wrapped[1:]]
    return out


def _default(param: cli_commands.Param, text: str) -> str:
    """`text` with the default appended, unless it says it already."""
    if param.required or param.variadic or param.default is None:
        return text
    if re.search(r"(\(|; )default\b", text, re.I):  # "(default $PROXYSTORE_DB, ...)"
        return text
    value = param.default
    shown = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{text} (default: {shown})".strip()


def _note(flags: list[cli_commands.Param]) -> str:
    """How to write flags, with this command's own flags as the examples."""
    note = "Write --name value or --name=value."
    long = next((p for p in flags if "_" in p.name), None)
    if long is not None:
        note += f" {long.flag} may also be written --{long.name}."
    switch = next((p.flag for p in flags if p.kind == "bool"), None)
    if switch:
        note += (f" A switch such as {switch} takes no value; {switch}=false or --no-"
                 f"{switch[2:]} turns it off.")
    return note


def command_help(command: cli_commands.Command) -> str:
    """The --help page of one command."""
    width = _width()
    doc = parse_doc(command.function)
    out = [f"usage: {command.usage()}", "", *_wrap(doc.summary, width)]
    if doc.body:
        out += [""] + [w for para in doc.body.split("\n\n")
                       for w in _wrap(" ".join(para.split()), width) + [""]][:-1]
    positionals = [p for p in command.params if p.positional]
    flags = [p for p in command.params if not p.positional]
    if positionals:
        out += ["", "arguments:"]
        out += _rows([(f"{p.metavar} {p.type_name}",
                       _default(p, doc.args.get(p.name, "")
                                + ("" if p.variadic else f" (or {p.flag} {p.metavar})")))
                      for p in positionals], width)
    out += ["", "flags:"]
    rows = []
    for p in flags:
        name = p.flag if p.kind == "bool" else f"{p.flag} {p.type_name}"
        rows.append((name, _default(p, doc.args.get(p.name, "") + (" [required]" if p.required
                                                                   else ""))))
    rows += [("--debug", "show the traceback instead of a one-line error"),
             ("-h, --help", "show this help")]
    out += _rows(rows, width)
    out += ["", *_wrap(_note(flags), width)]
    if doc.example:
        out += ["", "example:", *("  " + line for line in doc.example)]
    return "\n".join(out)


def group_help(root: type, name: str) -> str:
    """The --help page of a command group such as `proxystore db`."""
    width = _width()
    cls = cli_commands.group_class(root, name)
    prop = members(root)[name]
    out = [f"usage: proxystore {dashed(name)} COMMAND [ARGUMENTS] [flags]", "",
           *_wrap(parse_doc(prop.fget).summary, width), "", "commands:"]
    out += _rows([(dashed(sub), parse_doc(fn).summary) for sub, fn in members(cls).items()],
                 width)
    out += ["", f"`proxystore {dashed(name)} COMMAND --help` shows a command's arguments, flags "
            "and an example."]
    return "\n".join(out)


def root_help(root: type) -> str:
    """`proxystore --help`: every command with its one-line summary."""
    width = _width()
    doc = parse_doc(root)
    out = ["usage: proxystore COMMAND [ARGUMENTS] [flags]", "", *_wrap(doc.summary, width),
           "", "commands:"]
    rows = []
    for path in cli_commands.command_paths(root):
        command = cli_commands.describe(root, path)
        rows.append((command.name, parse_doc(command.function).summary))
    out += _rows(rows, width)
    if doc.body:
        out += ["", *_wrap(" ".join(doc.body.split()), width)]
    out += ["", *_wrap("`proxystore COMMAND --help` (or `proxystore help COMMAND`) shows "
                               "a command's arguments, flags and an example.", width)]
    return "\n".join(out)


def help_text(root: type, path: tuple[str, ...]) -> str:
    """The help page for a path: () the root, (group,) a group, else a command."""
    if not path:
        return root_help(root)
    if len(path) == 1 and isinstance(members(root)[path[0]], property):
        return group_help(root, path[0])
    return command_help(cli_commands.describe(root, path))
