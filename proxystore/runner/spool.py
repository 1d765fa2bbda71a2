"""The spool: finished results kept on local disk while the database can't be reached.

A worker that can't write a finished result (the database restarted, the network dropped) keeps
it here before anything else, so hours of training survive the worker. Each result is one JSON
file in `<cache>/spool/`, written to a temporary file, fsync'd and renamed into place, named by
its database, run, attempt and worker so two never collide. The file records the database it
belongs to (a fingerprint of the URL without its password); `run_worker` writes every kept
result of its database before it claims anything (`claims.write_kept`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from proxystore.db import engine as engines
from proxystore.errors import DataError
from proxystore.runner.claims import Claim, Outcome

FORMAT = 1


def folder(db_url: str, cache_dir: str | None = None) -> Path:
    """`<cache>/spool`, the cache being `cache_dir` or the one `data.cache.cache_dir` picks."""
    from proxystore.data.cache import cache_dir as default_cache_dir

    return Path(cache_dir or default_cache_dir(db_url)) / "spool"


def database_fingerprint(db_url: str) -> str:
    """sha256 of the database's URL without its password: which database a kept result is for."""
    url = engines.parse_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = engines.sqlite_path(url)
        if path is not None:
            url = url.set(database=str(path.expanduser().resolve()))
    return hashlib.sha256(url.set(password=None).render_as_string().encode()).hexdigest()


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def keep(db_url: str, claim: Claim, outcome: Outcome, cache_dir: str | None = None) -> Path:
    """Write a finished result durably to the spool and return its file."""
    fingerprint = database_fingerprint(db_url)
    where = folder(db_url, cache_dir)
    where.mkdir(parents=True, exist_ok=True)
    worker = re.sub(r"[^A-Za-z0-9_.-]", "_", claim.worker)
    path = where / f"{fingerprint[:16]}-run{claim.run_id}-a{claim.attempt}-{worker}.json"
    record = dict(format=FORMAT, database=fingerprint, url=engines.safe_url(db_url),
                  claim=asdict(claim), values=outcome.values, epochs=outcome.epochs,
                  losses=outcome.losses, correct=outcome.correct, indices=outcome.indices)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "w") as f:
        json.dump(record, f, default=_json)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    directory = os.open(where, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
    return path


def kept(db_url: str, cache_dir: str | None = None) -> list[Path]:
    """The spool files of this database, oldest first."""
    where = folder(db_url, cache_dir)
    if not where.is_dir():
        return []
    prefix = database_fingerprint(db_url)[:16] + "-"
    return sorted((p for p in where.glob(f"{prefix}*.json")), key=lambda p: p.stat().st_mtime)


def read(path: Path, db_url: str) -> tuple[Claim, Outcome]:
    """The claim and outcome kept in `path`, checking that it belongs to this database."""
    try:
        record = json.loads(path.read_text())
        if record.get("format") != FORMAT:
            raise ValueError(f"unknown format {record.get('format')!r}")
        if record["database"] != database_fingerprint(db_url):
            raise ValueError("it belongs to another database")
        claim = Claim(**record["claim"])

        def array(name: str, dtype: Any) -> np.ndarray | None:
            return None if record[name] is None else np.asarray(record[name], dtype=dtype)

        outcome = Outcome(epochs=record["epochs"], values=record["values"],
                          losses=array("losses", np.float32), correct=array("correct", bool),
                          indices=array("indices", np.int64))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"cannot read the kept result {path}: {error}") from None
    return claim, outcome
