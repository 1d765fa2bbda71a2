"""docs/architecture.md is the map of the code: it names modules that exist and is linked."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "architecture.md"


def test_the_map_has_its_sections_and_the_readme_links_it():
    text = DOC.read_text(encoding="utf-8")
    for heading in ("## Layers", "## The life of one cell", "## Invariants",
                    "## Where to add things"):
        assert heading in text
    for addition in ("A subset kind", "A view", "A recipe field", "A trainer option",
                     "A command"):
        assert f"**{addition}**" in text
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_module_the_map_names_exists():
    """A renamed or deleted module must take the map along."""
    text = DOC.read_text(encoding="utf-8")
    package = ROOT / "proxystore"
    with_folder = set(re.findall(r"`([a-z_]+/[a-z_]+\.py)", text))
    bare = set(re.findall(r"`([a-z_]+\.py)", text))
    assert len(with_folder) > 30 and len(bare) > 20
    missing = sorted(p for p in with_folder if not (package / p).exists()
                     and not (ROOT / p).exists())
    missing += sorted(name for name in bare if not list(package.rglob(name)))
    assert missing == [], f"docs/architecture.md names modules that do not exist: {missing}"
