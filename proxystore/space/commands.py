"""`proxystore arch ...`: sample AnyNetX genomes, compute their complexity, list and show stored
ones."""

from __future__ import annotations

import json
import sys
from typing import Any

from proxystore.errors import GenomeError
from proxystore.formatting import FormatName
from proxystore.limits import (
    IMAGE_SIZE_RULE,
    MAX_CLASSES,
    MAX_IN_CHANNELS,
    MAX_SEED,
    SAMPLED_COUNT_RULE,
    integer_in,
    valid_image_size,
    valid_sampled_count,
)

METRICS = ("flops", "params", "acts")


def parse_band(value: Any, name: str) -> tuple[float, float]:
    """Read a band written as "LOW,HIGH" (fire may already have split it into a tuple)."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        low, high = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise GenomeError(f"--{name} must be LOW,HIGH (e.g. 360e6,400e6), got {value!r}") from None
    if low > high:
        raise GenomeError(f"--{name} {low:g},{high:g}: the low end is above the high end")
    return low, high


class ArchCommands:
    """AnyNetX genomes and timm models: sample, complexity, list, show."""

    def sample(self, count: int = 500, flops: Any = None, params: Any = None, acts: Any = None,
               image_size: int = 224, num_classes: int = 1000, in_channels: int = 3,
               stem_type: str = "standard", seed: int = 0, out: str | None = None,
               save: bool = False, db: str | None = None) -> None:
        """Sample distinct AnyNetX genomes in a complexity band and print them as JSON lines.

        Example:
            proxystore arch sample --count 500 --flops 360e6,400e6 --out genomes.jsonl

        Args:
            count: number of distinct in-band genomes.
            flops: the band as LOW,HIGH multiply-adds (default 360e6,400e6 when no band is given).
            params: a band on parameters instead, LOW,HIGH.
            acts: a band on activations instead, LOW,HIGH.
            image_size: resolution at which the band is measured.
            num_classes: class count at which the band is measured.
            in_channels: input channels at which the band is measured.
            stem_type: standard (3x3 stride 2) or small (3x3 stride 1, for small images).
            seed: random seed; the same seed gives the same genomes.
            out: write the JSON lines to this file instead of stdout.
            save: also store the genomes in the database.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.space.jsonl import open_text, write_jsonl
        from proxystore.space.sampler import SamplerConfig, sample_genomes

        for flag, value, low, high in (
                ("--count", count, 1, None), ("--image-size", image_size, 1, None),
                ("--num-classes", num_classes, 1, MAX_CLASSES),
                ("--in-channels", in_channels, 1, MAX_IN_CHANNELS), ("--seed", seed, 0, MAX_SEED)):
            if not integer_in(value, low, high):
                rule = f"from {low} to {high}" if high is not None else f">= {low}"
                raise GenomeError(f"{flag} must be an integer {rule}, got {value!r}")
        if not valid_sampled_count(count):
            raise GenomeError(f"--count must be {SAMPLED_COUNT_RULE}, got {count!r}")
        if not valid_image_size(image_size):
            raise GenomeError(f"--image-size must be {IMAGE_SIZE_RULE}, got {image_size!r}")
        given = {m: v for m, v in zip(METRICS, (flops, params, acts), strict=True) if v is not None}
        if len(given) > 1:
            raise GenomeError(f"give one band, not {' and '.join('--' + m for m in given)}")
        metric, band = next(iter(given.items()), ("flops", "360e6,400e6"))
        config = SamplerConfig(image_size=int(image_size), num_classes=int(num_classes),
                               in_channels=int(in_channels), stem_type=str(stem_type),
                               metric=metric, band=parse_band(band, metric))
        if save:  # a --db no command can open fails before anything is sampled or written
            from proxystore.db import engine as engines

            engines.resolve_url(db)
        sample = sample_genomes(int(count), config, seed=int(seed))
        with open_text(out, "w") as handle:
            write_jsonl(sample.records(), handle)
        print(f"sampled {sample.stats.describe()}", file=sys.stderr)
        if save:
            from proxystore.db import open_database
            from proxystore.space.store import save_architectures

            ids = save_architectures(open_database(db, pool=False, create=True), sample.genomes,
                                     int(image_size), int(num_classes), int(in_channels))
            print(f"saved {len(ids)} architectures (ids {min(ids)}..{max(ids)})", file=sys.stderr)

    def complexity(self, file: str = "-", out: str | None = None) -> None:
        """Add pycls flops, params and acts to every genome of a JSON-lines file.

        Each line needs depths, widths, bottleneck_ratios, group_widths, strides, stem_width,
        image_size and num_classes (optional: in_channels, stem_type); other keys pass through.

        Example:
            proxystore arch complexity genomes.jsonl --out measured.jsonl

        Args:
            file: the JSONL file, or - for stdin.
            out: write the result to this file instead of stdout.
        """
        from proxystore.space.jsonl import complexity_records, open_text, write_jsonl

        with open_text(file, "rb") as handle:  # decoded line by line, to name a bad one
            records = list(complexity_records(handle, "<stdin>" if file == "-" else str(file)))
        with open_text(out, "w") as handle:
            write_jsonl(records, handle)

    def show(self, key: str, study: str | None = None, db: str | None = None) -> None:
        """Show a stored architecture, its stages and complexity, as JSON.

        Example:
            proxystore arch show 12

        Args:
            key: a candidate label of --study (e.g. a000), the architecture's id, or a prefix
                of its fingerprint (4+ hex characters).
            study: the study whose candidate labels KEY may be.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.db import open_database
        from proxystore.space.listing import find

        label, record = find(open_database(db, pool=False), key, study)
        values = ({"study": study, "candidate": label} if label is not None else {})
        values.update(record.as_dict())
        fields = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in values.items()]
        print("{\n" + ",\n".join(fields) + "\n}")  # one field per line, values compact

    def list(self, study: str | None = None, format: FormatName = "table",  # noqa: A002, A003
             db: str | None = None) -> None:
        """List stored architectures: fingerprint, space, stages, complexity, depth and width.

        flops, params and acts are at the resolution in column `at` (the reference resolution
        of the study that stored the architecture first).

        Example:
            proxystore arch list --study demo

        Args:
            study: only this study's candidates, with their labels.
            format: table, csv or json.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.db import open_database
        from proxystore.formatting import render
        from proxystore.space.listing import listed

        print(render(listed(open_database(db, pool=False), study), str(format)))
