"""`--help` on stdout with every flag, readable types and an example; the docs spell flags right."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxystore.cli import Proxystore, main
from proxystore.cli_args import _lookup, _resolve, read
from proxystore.cli_commands import Call, command_paths, describe
from proxystore.cli_help import parse_doc
from proxystore.errors import UsageError
from tests.helpers import REPO, run_cli

COMMANDS = [describe(Proxystore, path) for path in command_paths(Proxystore)]
IDS = [c.name for c in COMMANDS]
GROUPS = {c.path[0] for c in COMMANDS if len(c.path) == 2}
COMMAND_WORDS = {c.name.split(" ")[0] for c in COMMANDS}


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    main(list(argv))  # help returns normally: exit code 0
    out = capsys.readouterr()
    assert out.err == "", out.err
    return out.out


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_every_flag_of_every_command_is_in_its_help(command, capsys):
    shown = _help(capsys, *command.name.split(), "--help")
    assert shown.startswith(f"usage: {command.usage()}\n")
    flat = " ".join(shown.split())
    for param in command.params:
        if param.variadic:
            assert param.metavar in shown
            continue
        spelled = f"{param.flag} {param.type_name}" if param.kind != "bool" else param.flag
        assert re.search(rf"^  {re.escape(spelled)}( |$)", shown, re.M) or (
            f"(or {param.flag} {param.metavar})" in flat), f"{param.flag} of {command.name}"
    body = shown.split("\nWrite --name value")[0]  # the note names the other spelling once
    assert not re.search(r"--\w+_", body), "flags are spelled with dashes, as the README does"
    assert "Optional[" not in shown and "INFO:" not in shown
    assert "example:\n  proxystore " + command.name in shown


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_every_example_in_a_help_page_is_a_valid_command_line(command):
    for line in parse_doc(command.function).example:
        words = re.findall(r'"[^"]*"|\S+', line)
        call = read(Proxystore, [w.strip('"') for w in words[1:]])
        assert isinstance(call, Call) and call.command.path == command.path, line


def test_dash_h_and_help_command_print_the_same_page(capsys):
    page = _help(capsys, "data", "subset", "--help")
    assert _help(capsys, "data", "subset", "-h") == page
    assert _help(capsys, "help", "data", "subset") == page
    assert _help(capsys, "data", "subset", "digits", "--fraction", "abc", "-h") == page
    assert "--fraction number" in page and "--k int" in page and "--stratified " in page
    assert "--no-stratified turns it off" in page


def test_types_and_defaults_are_readable(capsys):
    page = _help(capsys, "fill", "--help")
    assert re.search(r"^  --max-cells int +stop after training", page, re.M)
    entry = r"(?:.*\n {24})*.*"  # a description may wrap; "(default: X)" is never split
    assert re.search(rf"^  --workers int {entry}\(default: 1\)", page, re.M)
    assert re.search(rf"^  --device text {entry}\(default: auto\)", page, re.M)
    assert not re.search(r"\(default:$", page, re.M)
    assert re.search(r"^  --dry-run +print the plan", page, re.M)
    assert "(default: false)" in page and "--max_cells" in page  # the other spelling, once
    assert "--format table|csv|json" in _help(capsys, "analyze", "-h")
    assert "--lease number" in _help(capsys, "worker", "-h")


def test_root_help_lists_every_command_with_its_summary(capsys):
    page = _help(capsys, "--help")
    assert _help(capsys) == page and _help(capsys, "help") == page
    for command in COMMANDS:
        summary = parse_doc(command.function).summary
        row = re.search(rf"^  {re.escape(command.name)} +(.*)$", page, re.M)
        assert row and summary.startswith(row.group(1).strip()), command.name


def test_a_group_without_a_command_shows_its_commands(capsys):
    page = _help(capsys, "db")
    assert page == _help(capsys, "db", "--help")
    assert re.search(r"^  upgrade +Upgrade the database schema", page, re.M)


def test_help_of_an_unknown_command_is_the_usual_one_line_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["fil", "--help"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == ("proxystore: error: unknown command 'fil'; did you mean "
                                       "fill? (`proxystore --help` lists them)\n")


def test_help_from_the_real_command_has_no_pager_and_no_fire_line(tmp_path):
    result = run_cli("fill", "--help", cwd=tmp_path, env={"PAGER": "false", "TERM": "xterm"})
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: proxystore fill [SPEC] [flags]\n")
    assert "--max-cells int" in result.stdout and "INFO" not in result.stdout
    assert list(tmp_path.iterdir()) == []


def _doc_command_lines(path: Path) -> Iterator[tuple[str, str]]:
    """(a proxystore command line, where) for each one in a doc's code blocks and code spans."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        where = f"{path.name}:{number}"
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            for match in re.finditer(r"(?:^|&& )(?:python -m )?(proxystore [^#&|>]*)", line):
                yield match.group(1), where
        elif line.startswith("| `proxystore "):  # a table row: the command, then its flags
            spans = line.split("`")[1::2]
            flags = [s for s in spans[1:] if s.startswith("--")]
            yield " ".join([spans[0], *flags]), where
            for span in spans[1:]:  # `fill SPEC --max-cells 0` in another command's row
                if span.split(" ")[0] in COMMAND_WORDS:
                    yield "proxystore " + span, where
        else:
            for span in re.findall(r"`(?:python -m )?(proxystore [^`]*)`", line):
                yield span, where


def test_the_docs_spell_every_flag_as_the_cli_accepts_it():
    checked = 0
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for command_line, where in _doc_command_lines(path):
            words = command_line.split()[1:]
            words = words[1:] if words[:1] == ["help"] else words
            if words and words[0].isupper():  # `proxystore COMMAND --help`
                continue
            try:
                found, _ = _resolve(Proxystore, words)
            except UsageError as error:
                raise AssertionError(f"{where}: `{command_line}`: {error}") from None
            if not found or (len(found) == 1 and found[0] in GROUPS):
                continue
            command = describe(Proxystore, found)
            for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", command_line):
                if flag in ("--help", "--debug"):
                    continue
                assert _lookup(command, flag[2:])[0] is not None, (
                    f"{where}: `proxystore {command.name}` has no flag {flag}")
                checked += 1
    assert checked > 40
