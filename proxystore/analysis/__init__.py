"""Analysis over the SQL views: correlations, confidence intervals, reports, imported results.

Names load lazily, so `import proxystore.analysis` (which the CLI does for every command) costs
nothing until a function is used; matplotlib loads only for reports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Analysis": "proxystore.analysis.analyzer",
    "analyze": "proxystore.analysis.analyzer",
    "render_analysis": "proxystore.analysis.render",
    "summary_text": "proxystore.analysis.render",
    "GoodRule": "proxystore.analysis.bootstrap",
    "cost_adjusted_r2": "proxystore.analysis.strategies",
    "missing_warnings": "proxystore.analysis.analyzer",
    "import_results": "proxystore.analysis.importer",
    "build_report": "proxystore.analysis.report",
    "write_report": "proxystore.analysis.report",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'proxystore.analysis' has no attribute {name!r}")
