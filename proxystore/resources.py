"""Files that ship inside the package: the Alembic migrations and the schemas (views, spec schema).

In a checkout they are the top-level `alembic/` and `schemas/` folders, linked into the package as
`proxystore/migrations` and `proxystore/schemas`; the wheel carries copies at the same place, so
checkout and installed wheel find them the same way, through importlib.resources.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path


@contextlib.contextmanager
def migrations_dir() -> Iterator[Path]:
    """Yield a filesystem path of the Alembic script directory."""
    with resources.as_file(resources.files("proxystore").joinpath("migrations")) as path:
        yield Path(path)


def schema_text(name: str) -> str:
    """Return the text of a file under schemas/ (e.g. ``study.schema.json``, ``views/x.sql``)."""
    node = resources.files("proxystore").joinpath("schemas")
    for part in name.split("/"):
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")
