"""Storing architectures: complexity is computed here, the rows are written and read by
`proxystore.db.store.architectures` (ORM rows never leave `proxystore.db`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from proxystore.db import Database
from proxystore.db.store import architectures as store
from proxystore.db.store.architectures import NewArchitecture, StoredArchitecture
from proxystore.errors import DatabaseError, GenomeError, NotFoundError
from proxystore.space.genome import Genome
from proxystore.space.registry import Architecture, parse_architecture

INT64_MAX = 2**63 - 1  # flops, params and acts are BIGINT columns
SAVE_ATTEMPTS = 5  # a unique-violation race with another saver is retried this often


@dataclass(frozen=True)
class ArchitectureRecord(StoredArchitecture):
    """A stored architecture: its row's values, plus its stages for AnyNetX genomes."""

    @property
    def architecture(self) -> Architecture:
        """The Genome or TimmModel this row stores."""
        return parse_architecture(self.genome)


def _record(stored: StoredArchitecture) -> ArchitectureRecord:
    return ArchitectureRecord(**stored.__dict__)


def _row(arch: Architecture, image_size: int, num_classes: int, in_channels: int
         ) -> NewArchitecture:
    """The values of the architecture's row and of its stages, complexity included."""
    cx = arch.complexity(image_size, num_classes, in_channels)
    too_big = [f"{name} {value:.3g}" for name, value in cx.as_dict().items() if value > INT64_MAX]
    if too_big:  # the columns are 64-bit: refused here, not as an overflow inside the INSERT
        raise GenomeError(f"{arch.name}: {', '.join(too_big)} at {image_size} px is more than "
                          f"the database stores (at most {INT64_MAX:.3g}); count its "
                          "complexity at a smaller image size")
    shape: dict[str, Any] = {}
    if isinstance(arch, Genome):
        shape = dict(
            num_stages=arch.num_stages, stem_width=arch.stem_width, stem_type=arch.stem_type,
            cumulative_depth=arch.cumulative_depth, cumulative_width=arch.cumulative_width,
            stages=tuple(dict(stage=i + 1, depth=d, width=w, bottleneck_ratio=float(b),
                              group_width=g, stride=s)
                         for i, (d, w, b, g, s) in enumerate(zip(
                             arch.depths, arch.widths, arch.bottleneck_ratios,
                             arch.group_widths, arch.strides, strict=True))))
    return NewArchitecture(
        space=arch.space, name=arch.name, genome=arch.canonical(), fingerprint=arch.fingerprint,
        flops=cx.flops, params=cx.params, acts=cx.acts,
        complexity_image_size=int(image_size), complexity_num_classes=int(num_classes), **shape)


def save_architectures(db: Database, archs: Iterable[Any], image_size: int, num_classes: int,
                       in_channels: int = 3) -> list[int]:
    """Store architectures not yet stored (by fingerprint) and return every one's id, in order.

    Complexity is computed at (image_size, num_classes, in_channels) and recorded with them; an
    architecture already stored keeps its row as it is. Safe against another process saving
    the same architecture at the same time (the unique fingerprint decides; the loser retries).

    Args:
        db: an open database.
        archs: Genomes, TimmModels, or anything `parse_architecture` reads.
        image_size: the reference resolution for flops, params and acts.
        num_classes: the reference class count.
        in_channels: the reference input channels.
    """
    parsed = [parse_architecture(a) for a in archs]
    fingerprints = [a.fingerprint for a in parsed]
    unique = dict(zip(fingerprints, parsed, strict=True))
    for _attempt in range(SAVE_ATTEMPTS):
        stored = store.existing_ids(db, list(unique))
        missing = [fp for fp in unique if fp not in stored]
        if not missing:  # no write transaction (and no SQLite write lock) for nothing
            return [stored[fp] for fp in fingerprints]
        # Complexity (a timm model is measured) is computed outside any transaction.
        new = [_row(unique[fp], image_size, num_classes, in_channels) for fp in missing]
        ids = store.insert_architectures(db, new, list(unique))
        if ids is not None:
            return [ids[fp] for fp in fingerprints]
        # Another process stored one of them between our SELECT and INSERT: start again; the
        # next SELECT finds its row.
    raise DatabaseError(f"saving {len(unique)} architectures kept colliding with another "
                        f"writer after {SAVE_ATTEMPTS} attempts")


def get_architecture(db: Database, key: int | str) -> ArchitectureRecord:
    """Return the stored architecture with this id, or whose fingerprint starts with `key`.

    Args:
        db: an open database.
        key: an id (int or digits) or a fingerprint prefix of at least 4 hex characters.

    Raises:
        NotFoundError: no such architecture, or a prefix that matches several.
    """
    text = str(key).strip().lower()
    if text.isdigit():
        rows = store.find_architectures(db, id=int(text))
    else:
        if len(text) < 4 or any(c not in "0123456789abcdef" for c in text):
            raise GenomeError(f"architecture key {key!r} is neither an id nor a fingerprint "
                              "prefix (4 or more hex characters)")
        rows = store.find_architectures(db, prefix=text)
    if not rows:
        raise NotFoundError(f"no architecture with id or fingerprint {key}")
    if len(rows) > 1:
        raise NotFoundError(f"fingerprint prefix {key} matches several architectures; "
                            "give more characters")
    return _record(rows[0])


def list_architectures(db: Database) -> list[ArchitectureRecord]:
    """Every stored architecture, in the order they were stored."""
    return [_record(r) for r in store.list_architectures(db)]


def study_architectures(db: Database, study: str) -> dict[str, ArchitectureRecord]:
    """A study's candidate labels (in label order) and the architecture of each.

    Args:
        db: an open database.
        study: the study's name.

    Raises:
        NotFoundError: no study of that name (the message lists the studies there are).
    """
    return {label: _record(r) for label, r in store.study_architectures(db, study).items()}


studies_with_candidate = store.studies_with_candidate
