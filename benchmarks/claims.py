"""Claim throughput: N concurrent claimers against M pending cells on one database.

Each claimer is a process that claims a cell and writes a one-epoch result (the full
claim -> complete protocol, two transactions per cell) until none is left. Prints claims per
second and checks that no cell was claimed twice (every cell done, attempts == 1).

    python benchmarks/claims.py --db postgresql://postgres@127.0.0.1:5432/test --claimers 16 \
        --cells 10000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
import uuid
from collections import Counter
from urllib.parse import quote


def _claimer(url: str, index: int, barrier: mp.Barrier, out: mp.Queue, claim_only: bool) -> None:
    from proxystore.db import open_database
    from proxystore.runner import claims

    db = open_database(url, pool=True)
    barrier.wait()
    claimed = []
    while True:
        claim = claims.claim_next(db, f"bench:{index}", lease_seconds=300)
        if claim is None:
            break
        claimed.append(claim.run_id)
        if claim_only:
            continue
        outcome = claims.Outcome(epochs=[dict(epoch=1, top1_error=0.5)],
                                 values=dict(final_top1_error=0.5, epochs_done=1))
        assert claims.complete(db, claim, outcome)
    out.put(claimed)


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--claimers", type=int, default=16)
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--claim-only", action="store_true",
                        help="only claim (cells stay running) instead of claim + write a result")
    args = parser.parse_args()

    from sqlalchemy import create_engine, select, text

    from proxystore.db import migrate, open_database
    from proxystore.db.engine import parse_url
    from proxystore.db.models import SqlRun

    url, schema, admin = args.db, None, None
    if url.startswith("postgres"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(parse_url(url))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"
    try:
        db = open_database(url, check=False, create=True)
        migrate.upgrade(db)
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.cells import seed_cells

        seed_cells(db, args.cells, study="bench")
        ctx = mp.get_context("spawn")
        barrier, out = ctx.Barrier(args.claimers + 1), ctx.Queue()
        procs = [ctx.Process(target=_claimer, args=(url, i, barrier, out, args.claim_only))
                 for i in range(args.claimers)]
        for p in procs:
            p.start()
        barrier.wait()
        start = time.perf_counter()
        results = [out.get() for _ in procs]
        elapsed = time.perf_counter() - start
        for p in procs:
            p.join()
        per_run = Counter(run for claimed in results for run in claimed)
        with db.session() as session:
            rows = session.execute(select(SqlRun.status, SqlRun.attempts)).all()
        double = sum(1 for n in per_run.values() if n > 1)
        assert len(per_run) == args.cells, f"{len(per_run)} of {args.cells} cells claimed"
        final = "running" if args.claim_only else "done"
        assert all(s == final and a == 1 for s, a in rows), "a cell was claimed twice"
        mode = "claim only" if args.claim_only else "claim + result"
        print("| backend | mode | claimers | cells | seconds | per second | double claims |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        print(f"| {db.dialect} | {mode} | {args.claimers} | {args.cells} | {elapsed:.2f} | "
              f"{args.cells / elapsed:.0f} | {double} |")
        db.dispose()
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
