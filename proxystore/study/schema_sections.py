"""The parts of schemas/study.schema.json that are generated from proxystore's tables.

`$defs/subset` comes from the subset kinds (`proxystore.data.kinds`), `$defs/recipe` and the
recipe fields a task repeats (epochs, image_size, eval_metric) from the recipe fields
(`proxystore.train.fields`). tests/test_subset_kinds.py fails while the file differs from
`generated()`; after changing a table, rewrite the file with

    python -m proxystore.study.schema_sections --write

Example:
    >>> generated(current())["$defs"]["subset"]["properties"]["kind"]["enum"][0]
    'full'
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from proxystore.data.kinds import subset_schema
from proxystore.resources import schema_text
from proxystore.train.fields import FIELDS, recipe_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "study.schema.json"
TASK_RECIPE_FIELDS = ("epochs", "image_size", "eval_metric")


def current() -> dict[str, Any]:
    """The schema file as it is."""
    return json.loads(schema_text("study.schema.json"))


def generated(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its generated sections replaced by what the tables say."""
    out = copy.deepcopy(schema)
    defs = out["$defs"]
    defs["subset"] = subset_schema()
    defs["recipe"]["properties"] = recipe_schema()
    for name in TASK_RECIPE_FIELDS:
        defs["task"]["properties"][name] = FIELDS[name].schema()
    return out


def text(schema: dict[str, Any]) -> str:
    """The file's text for `schema` (two-space JSON, as the file is written)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Print the generated schema, or with --write rewrite the file; exit 0."""
    new = text(generated(current()))
    if "--write" in argv:
        SCHEMA_FILE.write_text(new, encoding="utf-8")
    else:
        sys.stdout.write(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
