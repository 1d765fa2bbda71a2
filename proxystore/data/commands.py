"""`proxystore data ...` (filled in by the datasets work)."""


class DataCommands:
    """Datasets and proxy subsets: add, list, show, subset, cache."""
