"""A racer for tests/test_register_race.py: registers the same study in many databases in turn,
starting each registration together with its sibling processes (a shared barrier)."""

from __future__ import annotations

from typing import Any


def race(urls: list[str], spec_text: str, barrier: Any, results: Any, me: int,
         warmup: str) -> None:
    """Register the study once in `warmup` (this racer's own database: imports and caches are
    warm, so the trials start together), then for each URL: wait for every racer, open the
    database and register the study; report (me, trial, "ok" or the error's one line)."""
    from proxystore.db import open_database
    from proxystore.study.register import register_study
    from proxystore.study.spec import parse_spec

    spec = parse_spec(spec_text)
    try:  # as `fill` opens its database: a new SQLite file may be created
        db = open_database(warmup, pool=False, create=True)
        register_study(db, spec)
        db.dispose()
    except BaseException as error:  # noqa: BLE001 - report every trial, never leave the test waiting
        for trial in range(len(urls)):
            results.put((me, trial, f"warm-up {type(error).__name__}: {error}"))
        raise
    for trial, url in enumerate(urls):
        barrier.wait(timeout=300)
        try:
            db = open_database(url, pool=False, create=True)
            try:
                register_study(db, spec)
            finally:
                db.dispose()
            results.put((me, trial, "ok"))
        except BaseException as error:  # noqa: BLE001 - the test shows what went wrong
            results.put((me, trial, f"{type(error).__name__}: {' '.join(str(error).split())}"))
