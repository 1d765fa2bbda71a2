"""Reading and writing `architectures` and `architecture_stages` (and which study candidate uses
which); ORM rows never leave here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from proxystore.db import Database
from proxystore.db.models import (
    SqlArchitecture,
    SqlArchitectureStage,
    SqlStudy,
    SqlStudyCandidate,
)
from proxystore.errors import DatabaseError, GenomeError, NotFoundError
from proxystore.space.genome import Genome
from proxystore.space.registry import Architecture, parse_architecture

INT64_MAX = 2**63 - 1  # flops, params and acts are BIGINT columns
SAVE_ATTEMPTS = 5  # a unique-violation race with another saver is retried this often
CHUNK = 500  # fingerprints per IN (...) query


@dataclass(frozen=True)
class ArchitectureRecord:
    """A stored architecture: its row's values, plus its stages for AnyNetX genomes."""

    id: int
    space: str
    name: str | None
    fingerprint: str
    genome: dict[str, Any]
    num_stages: int | None
    stem_width: int | None
    stem_type: str | None
    cumulative_depth: int | None
    cumulative_width: int | None
    flops: int | None
    params: int | None
    acts: int | None
    complexity_image_size: int | None
    complexity_num_classes: int | None
    stages: tuple[dict[str, Any], ...] = ()

    @property
    def architecture(self) -> Architecture:
        """The Genome or TimmModel this row stores."""
        return parse_architecture(self.genome)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field."""
        return {**self.__dict__, "stages": list(self.stages)}


def _row(arch: Architecture, image_size: int, num_classes: int, in_channels: int
         ) -> tuple[SqlArchitecture, list[SqlArchitectureStage]]:
    """Build the (unsaved) architecture row and its stage rows."""
    cx = arch.complexity(image_size, num_classes, in_channels)
    too_big = [f"{name} {value:.3g}" for name, value in cx.as_dict().items() if value > INT64_MAX]
    if too_big:  # the columns are 64-bit: refused here, not as an overflow inside the INSERT
        raise GenomeError(f"{arch.name}: {', '.join(too_big)} at {image_size} px is more than "
                          f"the database stores (at most {INT64_MAX:.3g}); count its "
                          "complexity at a smaller image size")
    row = SqlArchitecture(
        space=arch.space, name=arch.name, genome=arch.canonical(), fingerprint=arch.fingerprint,
        flops=cx.flops, params=cx.params, acts=cx.acts,
        complexity_image_size=int(image_size), complexity_num_classes=int(num_classes))
    stages: list[SqlArchitectureStage] = []
    if isinstance(arch, Genome):
        row.num_stages, row.stem_width, row.stem_type = (
            arch.num_stages, arch.stem_width, arch.stem_type)
        row.cumulative_depth, row.cumulative_width = arch.cumulative_depth, arch.cumulative_width
        stages = [SqlArchitectureStage(stage=i + 1, depth=d, width=w, bottleneck_ratio=float(b),
                                       group_width=g, stride=s)
                  for i, (d, w, b, g, s) in enumerate(zip(
                      arch.depths, arch.widths, arch.bottleneck_ratios, arch.group_widths,
                      arch.strides, strict=True))]
    return row, stages


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
        with db.session() as session:
            stored = _existing_ids(session, list(unique))
        missing = [fp for fp in unique if fp not in stored]
        if not missing:  # no write transaction (and no SQLite write lock) for nothing
            return [stored[fp] for fp in fingerprints]
        # Complexity (a timm model is measured) is computed outside any transaction.
        new = [_row(unique[fp], image_size, num_classes, in_channels) for fp in missing]
        try:
            # Read-then-write: on SQLite take the write lock at BEGIN, or a racing writer makes
            # the lock upgrade fail ("database is locked") instead of waiting.
            with db.session(immediate=True) as session:
                ids = _existing_ids(session, list(unique))
                new = [(row, stages) for row, stages in new if row.fingerprint not in ids]
                for row, _ in new:
                    session.add(row)
                session.flush()
                for row, stages in new:
                    for stage in stages:
                        stage.architecture_id = row.id
                    session.add_all(stages)
                    ids[row.fingerprint] = row.id
            return [ids[fp] for fp in fingerprints]
        except sa_exc.IntegrityError:
            # Another process stored one of them between our SELECT and INSERT: start again;
            # the next SELECT finds its row.
            continue
    raise DatabaseError(f"saving {len(unique)} architectures kept colliding with another "
                        f"writer after {SAVE_ATTEMPTS} attempts")


def _existing_ids(session: Any, fingerprints: Sequence[str]) -> dict[str, int]:
    """Map each already-stored fingerprint to its id."""
    found: dict[str, int] = {}
    for i in range(0, len(fingerprints), CHUNK):
        chunk = fingerprints[i:i + CHUNK]
        query = select(SqlArchitecture.fingerprint, SqlArchitecture.id).where(
            SqlArchitecture.fingerprint.in_(chunk))
        found.update({fp: id_ for fp, id_ in session.execute(query)})
    return found


def get_architecture(db: Database, key: int | str) -> ArchitectureRecord:
    """Return the stored architecture with this id, or whose fingerprint starts with `key`.

    Args:
        db: an open database.
        key: an id (int or digits) or a fingerprint prefix of at least 4 hex characters.

    Raises:
        NotFoundError: no such architecture, or a prefix that matches several.
    """
    text = str(key).strip().lower()
    with db.session() as session:
        if text.isdigit():
            row = session.get(SqlArchitecture, int(text))
            rows = [row] if row is not None else []
        else:
            if len(text) < 4 or any(c not in "0123456789abcdef" for c in text):
                raise GenomeError(f"architecture key {key!r} is neither an id nor a fingerprint "
                                  "prefix (4 or more hex characters)")
            query = select(SqlArchitecture).where(SqlArchitecture.fingerprint.like(f"{text}%"))
            rows = list(session.scalars(query.limit(2)))
        if not rows:
            raise NotFoundError(f"no architecture with id or fingerprint {key}")
        if len(rows) > 1:
            raise NotFoundError(f"fingerprint prefix {key} matches several architectures; "
                                "give more characters")
        return _records(session, rows)[0]


def list_architectures(db: Database) -> list[ArchitectureRecord]:
    """Every stored architecture, in the order they were stored."""
    with db.session() as session:
        rows = list(session.scalars(select(SqlArchitecture).order_by(SqlArchitecture.id)))
        return _records(session, rows)


def study_architectures(db: Database, study: str) -> dict[str, ArchitectureRecord]:
    """A study's candidate labels (in label order) and the architecture of each.

    Args:
        db: an open database.
        study: the study's name.

    Raises:
        NotFoundError: no study of that name (the message lists the studies there are).
    """
    with db.session() as session:
        study_id = session.scalar(select(SqlStudy.id).where(SqlStudy.name == study))
        if study_id is None:
            names = list(session.scalars(select(SqlStudy.name).order_by(SqlStudy.name)))
            raise NotFoundError(f"no study named {study!r} in the database (studies: "
                                f"{', '.join(names) if names else 'none yet'})")
        pairs = session.execute(
            select(SqlStudyCandidate.label, SqlArchitecture)
            .join(SqlArchitecture, SqlArchitecture.id == SqlStudyCandidate.architecture_id)
            .where(SqlStudyCandidate.study_id == study_id)
            .order_by(SqlStudyCandidate.label)).all()
        records = {r.id: r for r in _records(session, list({row.id: row for _, row in pairs}
                                                             .values()))}
        return {label: records[row.id] for label, row in pairs}


def studies_with_candidate(db: Database, label: str) -> list[str]:
    """Names of the studies that have a candidate labelled `label`."""
    with db.session() as session:
        return list(session.scalars(
            select(SqlStudy.name).join(SqlStudyCandidate, SqlStudyCandidate.study_id == SqlStudy.id)
            .where(SqlStudyCandidate.label == label).order_by(SqlStudy.name)))


def _records(session: Any, rows: list[SqlArchitecture]) -> list[ArchitectureRecord]:
    """Plain records of these rows, their stages read in one query per chunk."""
    stages: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
    ids = list(stages)
    for i in range(0, len(ids), CHUNK):
        query = (select(SqlArchitectureStage)
                 .where(SqlArchitectureStage.architecture_id.in_(ids[i:i + CHUNK]))
                 .order_by(SqlArchitectureStage.architecture_id, SqlArchitectureStage.stage))
        for s in session.scalars(query):
            stages[s.architecture_id].append(
                {"stage": s.stage, "depth": s.depth, "width": s.width,
                 "bottleneck_ratio": s.bottleneck_ratio, "group_width": s.group_width,
                 "stride": s.stride})
    return [ArchitectureRecord(
        id=row.id, space=row.space, name=row.name, fingerprint=row.fingerprint,
        genome=dict(row.genome), num_stages=row.num_stages, stem_width=row.stem_width,
        stem_type=row.stem_type, cumulative_depth=row.cumulative_depth,
        cumulative_width=row.cumulative_width, flops=row.flops, params=row.params,
        acts=row.acts, complexity_image_size=row.complexity_image_size,
        complexity_num_classes=row.complexity_num_classes, stages=tuple(stages[row.id]))
        for row in rows]
