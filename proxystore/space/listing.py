"""`arch list` and `arch show LABEL --study NAME`: stored architectures by a study's labels."""

from __future__ import annotations

from typing import Any

import pandas as pd

from proxystore.db import Database
from proxystore.errors import NotFoundError, ProxystoreError
from proxystore.space.store import (
    ArchitectureRecord,
    get_architecture,
    list_architectures,
    studies_with_candidate,
    study_architectures,
)

FINGERPRINT_CHARS = 12


def stages_summary(record: ArchitectureRecord) -> str:
    """Per-stage depths and widths of a genome (`d 1,2,4 w 16,48,128`), or a timm model's name."""
    if record.stages:
        depths = ",".join(str(s["depth"]) for s in record.stages)
        widths = ",".join(str(s["width"]) for s in record.stages)
        return f"d {depths} w {widths}"
    return str(record.name or record.genome.get("timm") or "")


def architecture_table(records: list[tuple[str | None, ArchitectureRecord]]) -> pd.DataFrame:
    """One row per (label, architecture): fingerprint, space, stages, complexity, depth, width.

    Args:
        records: (candidate label or None, record) pairs; the label column is left out when
            no pair has one.
    """
    rows = []
    for label, r in records:
        rows.append({
            "label": label, "id": r.id, "fingerprint": r.fingerprint[:FINGERPRINT_CHARS],
            "space": r.space, "stages": stages_summary(r), "flops": r.flops,
            "params": r.params, "acts": r.acts,
            "at": (f"{r.complexity_image_size}px/{r.complexity_num_classes}cls"
                   if r.complexity_image_size else None),
            "cumulative_depth": r.cumulative_depth, "cumulative_width": r.cumulative_width})
    columns = ["label", "id", "fingerprint", "space", "stages", "flops", "params", "acts", "at",
               "cumulative_depth", "cumulative_width"]
    frame = pd.DataFrame(rows, columns=columns)
    if not any(label is not None for label, _ in records):
        frame = frame.drop(columns=["label"])
    for column in ("flops", "params", "acts", "cumulative_depth", "cumulative_width"):
        frame[column] = frame[column].astype("Int64")  # integers stay integers beside a None
    return frame


def listed(db: Database, study: str | None) -> pd.DataFrame:
    """The table of `arch list`: a study's candidates (by label) or every stored architecture."""
    if study is None:
        return architecture_table([(None, r) for r in list_architectures(db)])
    return architecture_table(list(study_architectures(db, study).items()))


def find(db: Database, key: Any, study: str | None) -> tuple[str | None, ArchitectureRecord]:
    """The architecture `arch show` means by `key`: a label of `study`, else an id or fingerprint.

    Args:
        db: an open database.
        key: a candidate label (with study), an id, or a fingerprint prefix.
        study: the study whose candidate labels `key` may be.

    Raises:
        NotFoundError: no such label, id or fingerprint; a label without --study names the
            studies that have it.
    """
    text = str(key).strip()
    if study is not None:
        labels = study_architectures(db, study)
        if text in labels:
            return text, labels[text]
        try:
            return None, get_architecture(db, text)
        except ProxystoreError:
            shown = ", ".join(list(labels)[:8]) + (", ..." if len(labels) > 8 else "")
            raise NotFoundError(f"study {study} has no candidate {text!r} and no architecture "
                                f"has that id or fingerprint (its candidates: {shown})") from None
    studies = [] if text.isdigit() else studies_with_candidate(db, text)
    try:
        record = get_architecture(db, text)
    except ProxystoreError as error:
        if not studies:
            raise
        raise NotFoundError(f"{error}; {text} is a candidate label in "
                            f"{', '.join(studies)}: give --study {studies[0]}") from None
    if studies:  # a label such as a000 can also be a fingerprint prefix: don't guess
        raise NotFoundError(f"{text} is a candidate label in {', '.join(studies)} and a "
                            f"fingerprint prefix of {record.fingerprint[:FINGERPRINT_CHARS]}: "
                            f"give --study {studies[0]}, or more fingerprint characters")
    return None, record
