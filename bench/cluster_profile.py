"""Profile event clustering alone on PostgreSQL, with many events already present.

    python bench/cluster_profile.py [--items N] [--batch B] [--profile]

Drops and creates ``BENCH_PG_URL`` (default ``.../sentinel_bench_cluster``), stores
``--items`` real messages (data/gov_hot, data/gov_replies, data/gov_topic, in that order,
posted 6 s apart so that all of them stay inside the event window), marks them processed
(no classification: this measures clustering only) and clusters them in batches of
``--batch`` items, each committed, as the clustering job does. Prints the time per batch as
the number of events grows, ``cluster_items_per_s=`` (CPU of this process, as bench/hot.py
counts it) and the wall-clock rate; ``--profile`` prints a cProfile of the last quarter.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import os
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import processes  # noqa: E402

PG_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/sentinel_bench_cluster"
)


def texts(limit: int) -> list[tuple[str, str, str]]:
    """(external id, author, text) of real messages, at most ``limit``."""
    out: list[tuple[str, str, str]] = []
    csv.field_size_limit(10**8)
    sources = [
        ("gov_hot/messages_with_votes.csv", "留言编号", "留言用户", ("留言主题", "留言详情")),
        ("gov_replies/messages_with_replies.csv", None, None, None),
        ("gov_topic/train.csv", "id", None, ("subject", "text")),
    ]
    for rel, id_col, author_col, cols in sources:
        with open(ROOT / "data" / rel, encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            for n, row in enumerate(reader):
                if cols is None:
                    keys = list(row)
                    body = " ".join(row[k] for k in keys[:4] if row[k] and len(row[k]) < 3000)
                else:
                    body = " ".join((row.get(c) or "").strip() for c in cols)
                ext = f"{rel}:{row[id_col] if id_col else n}"
                author = (row.get(author_col) if author_col else None) or f"u{n}"
                out.append((ext, author, body))
                if len(out) >= limit:
                    return out
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    os.environ.update(
        {
            "SENTINEL_DATABASE_URL": PG_URL,
            "SENTINEL_INSTANCE_PATH": tempfile.mkdtemp(prefix="sentinel-cluster-bench-"),
            "SENTINEL_SECRET_KEY": "bench",
            "SENTINEL_JOBS_MODE": "thread",
        }
    )
    from flask_migrate import upgrade
    from sqlalchemy import select, update

    from sentinel.app import create_app
    from sentinel.auth.permissions import Actor
    from sentinel.extensions import db
    from sentinel.models import Event, EventTerm, Item, JobRun, Source, utcnow
    from sentinel.services import event_clustering, ingest

    processes.recreate_database(PG_URL)
    app = create_app({})
    with app.app_context():
        upgrade()
        source = Source(name="基准", platform="import")
        db.session.add(source)
        db.session.commit()
        rows = texts(args.items)
        start = datetime.now(UTC) - timedelta(seconds=6 * len(rows))
        t0 = time.monotonic()
        ids: list[int] = []
        for first in range(0, len(rows), 1000):
            chunk = rows[first : first + 1000]
            results = ingest.ingest_items(
                Actor.system("bench"),
                source,
                [
                    ingest.IncomingItem(
                        external_id=ext,
                        text=body,
                        author=author,
                        posted_at=start + timedelta(seconds=6 * (first + i)),
                    )
                    for i, (ext, author, body) in enumerate(chunk)
                ],
                bulk=True,
            )
            ids.extend(r.id for r in results if not r.redelivered)
            # Nobody runs the jobs: the items are marked processed here.
            db.session.execute(update(Item).values(processed_at=utcnow()))
            db.session.execute(update(JobRun).values(status="succeeded"))
            db.session.commit()
        print(f"stored {len(ids)} items in {time.monotonic() - t0:.1f} s", flush=True)
        ids = sorted(set(ids))
        profiler = cProfile.Profile()
        cpu0, wall0 = time.process_time(), time.monotonic()
        quarter = len(ids) * 3 // 4
        for first in range(0, len(ids), args.batch):
            if args.profile and first >= quarter:
                profiler.enable()
            b_cpu, b_wall = time.process_time(), time.monotonic()
            event_clustering.cluster_items(ids[first : first + args.batch])
            db.session.commit()
            if (first // args.batch) % max(1, len(ids) // args.batch // 10) == 0:
                events = db.session.scalar(select(db.func.count()).select_from(Event))
                terms = db.session.scalar(select(db.func.count()).select_from(EventTerm))
                print(
                    f"batch at {first}: {time.monotonic() - b_wall:.2f} s wall, "
                    f"{time.process_time() - b_cpu:.2f} s CPU; events={events} terms={terms}",
                    flush=True,
                )
        profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        print(f"cluster_items_per_s={len(ids) / cpu:.0f}")
        print(f"cluster_wall_items_per_s={len(ids) / wall:.0f}")
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if args.profile:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    return 0


if __name__ == "__main__":
    sys.exit(main())
