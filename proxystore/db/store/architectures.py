"""Architectures: the `architectures` and `architecture_stages` rows, and which study candidate
uses which.

What an architecture *is* (a genome, a timm model, its complexity) is `proxystore.space`'s; this
module only stores and reads the values `space.store` computed. Rows come back as
`StoredArchitecture`, a plain frozen dataclass; `space.store.ArchitectureRecord` adds the parsed
architecture on top.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxystore.db.models import SqlArchitecture, SqlArchitectureStage, SqlStudy, SqlStudyCandidate
from proxystore.db.session import Database
from proxystore.db.store.studies import study_id, study_names
from proxystore.errors import NotFoundError

CHUNK = 500  # fingerprints (or ids) per IN (...) query
STAGE_FIELDS = ("stage", "depth", "width", "bottleneck_ratio", "group_width", "stride")


@dataclass(frozen=True)
class NewArchitecture:
    """The values of an architecture row to insert, with its stages (AnyNetX genomes only).

    Each stage is a dict of `STAGE_FIELDS`, stage numbered from 1.
    """

    space: str
    name: str | None
    fingerprint: str
    genome: dict[str, Any]
    flops: int | None
    params: int | None
    acts: int | None
    complexity_image_size: int | None
    complexity_num_classes: int | None
    num_stages: int | None = None
    stem_width: int | None = None
    stem_type: str | None = None
    cumulative_depth: int | None = None
    cumulative_width: int | None = None
    stages: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class StoredArchitecture:
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

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field."""
        return {**self.__dict__, "stages": list(self.stages)}


def existing_ids(db: Database, fingerprints: Sequence[str]) -> dict[str, int]:
    """Map each of `fingerprints` that is already stored to its architecture id."""
    with db.session() as session:
        return _existing_ids(session, fingerprints)


def insert_architectures(db: Database, new: Iterable[NewArchitecture],
                         fingerprints: Sequence[str]) -> dict[str, int] | None:
    """Insert those of `new` not stored yet, in one transaction; map `fingerprints` to ids.

    Read-then-write: on SQLite the write lock is taken at BEGIN, or a racing writer makes the
    lock upgrade fail ("database is locked") instead of waiting. Returns None when another
    process stored one of them between the check and the INSERT (a unique violation): nothing
    was written, and the caller starts again.

    Args:
        db: an open database.
        new: the rows to store (skipped when their fingerprint is stored by now).
        fingerprints: every fingerprint whose id the caller wants back (those of `new` too).
    """
    try:
        with db.session(immediate=True) as session:
            ids = _existing_ids(session, fingerprints)
            rows = [(_row(arch), arch) for arch in new if arch.fingerprint not in ids]
            for row, _ in rows:
                session.add(row)
            session.flush()
            for row, arch in rows:
                session.add_all([SqlArchitectureStage(architecture_id=row.id, **stage)
                                 for stage in arch.stages])
                ids[row.fingerprint] = row.id
        return ids
    except sa_exc.IntegrityError:
        return None


def find_architectures(db: Database, *, id: int | None = None,  # noqa: A002 - the column
                       prefix: str | None = None) -> list[StoredArchitecture]:
    """The architecture with this id, or up to two whose fingerprint starts with `prefix`.

    Example:
        >>> find_architectures(db, prefix="3fa9")  # doctest: +SKIP
        [StoredArchitecture(id=7, space='anynet', ...)]
    """
    with db.session() as session:
        if id is not None:
            row = session.get(SqlArchitecture, id)
            rows = [row] if row is not None else []
        else:
            query = select(SqlArchitecture).where(SqlArchitecture.fingerprint.like(f"{prefix}%"))
            rows = list(session.scalars(query.limit(2)))
        return _records(session, rows)


def list_architectures(db: Database) -> list[StoredArchitecture]:
    """Every stored architecture, in the order they were stored."""
    with db.session() as session:
        rows = list(session.scalars(select(SqlArchitecture).order_by(SqlArchitecture.id)))
        return _records(session, rows)


def study_architectures(db: Database, study: str) -> dict[str, StoredArchitecture]:
    """A study's candidate labels (in label order) and the architecture of each.

    Raises:
        NotFoundError: no study of that name (the message lists the studies there are).
    """
    with db.session() as session:
        found = study_id(session, study)
        if found is None:
            names = study_names(session)
            raise NotFoundError(f"no study named {study!r} in the database (studies: "
                                f"{', '.join(names) if names else 'none yet'})")
        pairs = session.execute(
            select(SqlStudyCandidate.label, SqlArchitecture)
            .join(SqlArchitecture, SqlArchitecture.id == SqlStudyCandidate.architecture_id)
            .where(SqlStudyCandidate.study_id == found)
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


def _row(arch: NewArchitecture) -> SqlArchitecture:
    """The unsaved row of `arch` (its stages are added once the row has an id)."""
    return SqlArchitecture(**{f.name: getattr(arch, f.name) for f in fields(arch)
                              if f.name != "stages"})


def _existing_ids(session: Session, fingerprints: Sequence[str]) -> dict[str, int]:
    """Map each already-stored fingerprint to its id."""
    found: dict[str, int] = {}
    for i in range(0, len(fingerprints), CHUNK):
        chunk = fingerprints[i:i + CHUNK]
        query = select(SqlArchitecture.fingerprint, SqlArchitecture.id).where(
            SqlArchitecture.fingerprint.in_(chunk))
        found.update({fp: id_ for fp, id_ in session.execute(query)})
    return found


def _records(session: Session, rows: list[SqlArchitecture]) -> list[StoredArchitecture]:
    """Plain records of these rows, their stages read in one query per chunk."""
    stages: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
    ids = list(stages)
    for i in range(0, len(ids), CHUNK):
        query = (select(SqlArchitectureStage)
                 .where(SqlArchitectureStage.architecture_id.in_(ids[i:i + CHUNK]))
                 .order_by(SqlArchitectureStage.architecture_id, SqlArchitectureStage.stage))
        for s in session.scalars(query):
            stages[s.architecture_id].append({name: getattr(s, name) for name in STAGE_FIELDS})
    return [StoredArchitecture(
        id=row.id, space=row.space, name=row.name, fingerprint=row.fingerprint,
        genome=dict(row.genome), num_stages=row.num_stages, stem_width=row.stem_width,
        stem_type=row.stem_type, cumulative_depth=row.cumulative_depth,
        cumulative_width=row.cumulative_width, flops=row.flops, params=row.params,
        acts=row.acts, complexity_image_size=row.complexity_image_size,
        complexity_num_classes=row.complexity_num_classes, stages=tuple(stages[row.id]))
        for row in rows]
