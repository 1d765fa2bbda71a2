"""study/ and data/ reach the database only through proxystore/db/store (issue 17)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "proxystore"
QUERY_BUILDERS = {"select", "insert", "update", "delete"}


def _modules() -> list[Path]:
    return sorted([*PACKAGE.joinpath("study").glob("*.py"), *PACKAGE.joinpath("data").glob("*.py")])


@pytest.mark.parametrize("path", _modules(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_orm_outside_the_store(path: Path) -> None:
    """No import of the ORM classes, of the query builders, or of the bulk helpers."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {alias.name for alias in node.names}
            assert node.module not in ("proxystore.db.models", "proxystore.db.bulk",
                                       "proxystore.db.upsert"), f"{path.name}: {node.module}"
            if node.module == "sqlalchemy":
                assert not names & QUERY_BUILDERS, f"{path.name}: sqlalchemy {names}"
        if isinstance(node, ast.Import):
            assert all(not a.name.startswith("proxystore.db.models") for a in node.names)
