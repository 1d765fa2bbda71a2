"""docs/reproduction.md stays honest: every number it quotes is `analyze`'s on the committed CSVs.

The committed exports (docs/reproduction/*.csv with their .yaml roles) are imported into a fresh
SQLite database and analysed with the seed and resample count the document names; each quoted
number (listed, with where it comes from, in the document's `numbers` comment) must equal the
analysis at its printed precision, appear in the text, and every decimal in the claims tables'
"proxystore" column must be one of them. Trains nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from scipy import stats

from proxystore.analysis.analyzer import Analysis, analyze
from proxystore.analysis.importer import import_results

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reproduction.md"
BLOCK = re.compile(r"<!-- numbers\n(.*?)-->", re.S)
DECIMAL = re.compile(r"(?<![\w.-])-?\d+\.\d+")  # not the 0.5 of a name like All Classes-0.5


def numbers_block() -> dict[str, Any]:
    """Return the document's machine-readable list of quoted numbers."""
    match = BLOCK.search(DOC.read_text(encoding="utf-8"))
    assert match, "docs/reproduction.md has no <!-- numbers ... --> block"
    return yaml.safe_load(match.group(1))


def _rows(table: pd.DataFrame, where: dict[str, Any] | None) -> pd.DataFrame:
    for column, value in (where or {}).items():
        table = table[table[column].astype(str) == str(value)]
    return table


def quote(analyses: dict[str, Analysis], entry: dict[str, Any]) -> str:
    """Return the text a numbers entry prints: value, or value [low, high], at its digits.

    `agg: mean` averages the column over the selected rows; `agg: spearman_with: COLUMN` is the
    rank correlation of the column with another over them (no interval for either).
    """
    table = _rows(analyses[entry["study"]].tables[entry["table"]], entry.get("where"))
    column, digits, agg = entry["column"], entry.get("digits", 2), entry.get("agg")
    text = f"{{:.{digits}f}}"
    if agg == "mean":
        return text.format(table[column].astype(float).mean())
    if isinstance(agg, dict):
        rho = stats.spearmanr(table[column], table[agg["spearman_with"]]).statistic
        return text.format(rho)
    assert len(table) == 1, f"{entry}: selects {len(table)} rows"
    row = table.iloc[0]
    value = text.format(row[column])
    if entry.get("interval", True) and f"{column}_low" in table.columns:
        value += f" [{text.format(row[column + '_low'])}, {text.format(row[column + '_high'])}]"
    return value


@pytest.fixture(scope="module")
def analyses(tmp_path_factory) -> dict[str, Analysis]:  # type: ignore[no-untyped-def]
    block = numbers_block()
    url = f"sqlite:///{tmp_path_factory.mktemp('repro') / 'repro.db'}"
    out = {}
    for study in block["studies"]:
        import_results(url, ROOT / "docs" / "reproduction" / f"{study}.csv", study)
        out[study] = analyze(url, study, n_boot=block["boot"], seed=block["seed"])
    return out


def test_every_quoted_number_is_analyzes_output(analyses):
    body = BLOCK.sub("", DOC.read_text(encoding="utf-8"))
    wrong = []
    for entry in numbers_block()["quotes"]:
        computed = quote(analyses, entry)
        if computed != entry["text"]:
            wrong.append(f"{entry['text']!r} is {computed!r} now ({entry})")
        elif entry["text"] not in body:
            wrong.append(f"{entry['text']!r} is listed but not quoted in the text")
    assert not wrong, "\n".join(wrong)


def test_every_decimal_in_the_proxystore_column_is_a_checked_quote():
    body = BLOCK.sub("", DOC.read_text(encoding="utf-8"))
    quotes = sorted((e["text"] for e in numbers_block()["quotes"]), key=len, reverse=True)
    unchecked = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 5 or cells[0] in ("claim", "---"):
            continue
        ours = cells[2]
        for text in quotes:
            ours = ours.replace(text, "")
        unchecked += [f"{cells[0][:40]}: {n}" for n in DECIMAL.findall(ours)]
    assert not unchecked, unchecked
