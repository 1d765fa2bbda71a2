"""The store boundary (issue 17): ORM classes never leave `proxystore/db/`.

Outside `proxystore/db/`, no module imports `proxystore.db.models`, builds a query with
SQLAlchemy's `select`/`insert`/`update`/`delete`, or calls `session.query`: it calls a function
of `proxystore.db.store` instead, which returns plain dataclasses.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "proxystore"
QUERY_BUILDERS = {"select", "insert", "update", "delete"}
# Modules still moving onto the store (issue 17). This list must stay empty: a module may wait
# here only while its move is under way, and leaves as soon as it keeps the rule (the second test
# says which ones already do).
PENDING: set[str] = set()


def _imports_models(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.startswith("proxystore.db.models") for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith("proxystore.db.models") or (
            node.module == "proxystore.db" and any(a.name == "models" for a in node.names))
    return False


def _builds_queries(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
        return any(a.name in QUERY_BUILDERS for a in node.names)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        owner = node.func.value
        if node.func.attr == "query" and isinstance(owner, ast.Name) and "session" in owner.id:
            return True  # session.query(Model)
        if node.func.attr in QUERY_BUILDERS and isinstance(owner, ast.Name) and owner.id in (
                "sa", "sqlalchemy"):
            return True  # sqlalchemy.select(...)
    return False


def offences(path: Path) -> list[str]:
    """What in `path` crosses the store boundary, one line each (empty: nothing)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if _imports_models(node):
            found.append(f"line {node.lineno}: imports proxystore.db.models")
        elif _builds_queries(node):
            found.append(f"line {getattr(node, 'lineno', '?')}: builds an ORM query")
    return found


def _outside_db() -> dict[str, list[str]]:
    """{module path under proxystore/: its offences} for every module outside proxystore/db/."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith(("db/", "migrations/")):
            continue
        if lines := offences(path):
            found[name] = lines
    return found


def test_no_module_outside_db_uses_the_orm():
    broken = {name: lines for name, lines in _outside_db().items() if name not in PENDING}
    assert not broken, ("outside proxystore/db/, call proxystore.db.store instead of the ORM: "
                        + "; ".join(f"{name} {', '.join(lines)}" for name, lines in
                                    broken.items()))


def test_the_pending_list_holds_only_modules_that_still_break_the_rule():
    kept = sorted(PENDING - set(_outside_db()))
    assert not kept, f"these keep the store boundary now; remove them from PENDING: {kept}"


def test_the_check_sees_an_orm_import_and_a_query(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from sqlalchemy import select\nfrom proxystore.db.models import SqlRun\n"
                      "def f(session):\n    return session.query(SqlRun)\n")
    assert offences(module) == ["line 1: builds an ORM query",
                                "line 2: imports proxystore.db.models",
                                "line 4: builds an ORM query"]
    module.write_text("from proxystore.db.store import runs\n")
    assert offences(module) == []
