"""`proxystore arch ...` (filled in by the AnyNetX design-space work)."""


class ArchCommands:
    """AnyNetX genomes and timm models: sample, complexity, show."""
