"""Analysis over the SQL views: correlations, confidence intervals, reports, imported results."""

from __future__ import annotations

from proxystore.analysis.analyze import Analysis, analyze, render_analysis, summary_text
from proxystore.analysis.bootstrap import GoodRule
from proxystore.analysis.importer import import_results
from proxystore.analysis.report import build_report, write_report

__all__ = ["Analysis", "GoodRule", "analyze", "build_report", "import_results",
           "render_analysis", "summary_text", "write_report"]
