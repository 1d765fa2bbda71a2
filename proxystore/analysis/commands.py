"""Top-level analysis commands: analyze, report, import-results (filled in by the analysis work)."""


class AnalysisCommands:
    """Mixed into the root CLI: `proxystore analyze`, `report`, `import-results`."""
