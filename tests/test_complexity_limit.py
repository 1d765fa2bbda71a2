"""ruff's C901 limit in pyproject.toml holds for the package (CI runs pytest, not ruff), and no
package function is longer than 60 lines (issue 17)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_no_function_is_more_branchy_than_the_configured_limit():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lint = config["tool"]["ruff"]["lint"]
    assert "C901" in lint["select"] and lint["mccabe"]["max-complexity"] <= 15
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "C901",
                           "--output-format", "concise", "proxystore", "alembic"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "No module named ruff" not in proc.stderr, "ruff is a dev dependency: .[dev]"
    assert proc.returncode == 0, proc.stdout + proc.stderr


MAX_FUNCTION_LINES = 60


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """'path:line name (N lines)' for every function or method in `root` longer than `limit`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} "
                                 f"({lines} lines)")
    return found


def test_no_package_function_is_longer_than_60_lines():
    assert long_functions(ROOT / "proxystore") == []


def test_the_length_check_finds_a_long_function(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    (package / "m.py").write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}",
                                  encoding="utf-8")
    assert long_functions(package) == ["pkg/m.py:5 long (61 lines)"]
