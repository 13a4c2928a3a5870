"""Benchmark: one deadline sweep over 200,000 open cases on PostgreSQL.

    SENTINEL_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/sentinel_bench_sweep \
        .venv/bin/python bench/sweep.py [--cases 200000]

Creates (drops first) the database, migrates it, inserts the cases in bulk with due
times spread from 10 working days overdue to 20 ahead (about a third overdue, as in a
backlog), then times two sweeps:

- the first, *cold* sweep writes every rung for the whole backlog at once (~177,000
  reminder rows, ~75,000 cases marked) — a one-off after an import or a long outage;
- the second is the *recurring* sweep the scheduler runs every two minutes over the same
  200,000 open cases (nothing new to write).

Prints ``sweep_cold_s=N`` and, last, ``sweep_s=N`` for the recurring sweep.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/sentinel_bench_sweep"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=200_000)
    args = parser.parse_args()
    url = os.environ.get("SENTINEL_BENCH_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        raise SystemExit("bench/sweep.py needs PostgreSQL (SENTINEL_BENCH_DATABASE_URL)")

    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    from flask_migrate import upgrade
    from sqlalchemy import text

    from sentinel import create_app
    from sentinel.extensions import db
    from sentinel.jobs.deadlines import sweep

    instance = tempfile.mkdtemp(prefix="sentinel-bench-")
    # Documents are written by RQ workers in production: with Redis, the jobs are only
    # queued (no worker runs here), so the figure is the sweep's own time.
    redis_url = os.environ.get("SENTINEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    config = {"DATABASE_URL": url, "INSTANCE_PATH": instance, "TESTING": True}
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
        config.update(JOBS_MODE="rq", REDIS_URL=redis_url)
    except Exception:
        config.update(JOBS_MODE="thread")
    print(f"jobs_mode={config['JOBS_MODE']}")
    app = create_app(config)
    with app.app_context():
        upgrade()
        started = time.monotonic()
        db.session.execute(
            text(
                "INSERT INTO units (name, kind, path, is_active, created_at) "
                "SELECT '单位' || g, 'department', '/' || g || '/', true, now() "
                "FROM generate_series(1, 20) g"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO sources (name, platform, account, active, created_at) "
                "VALUES ('基准渠道', 'api', '', true, now())"
            )
        )
        # Due times: local 17:30 on days from -14 to +28 calendar days (≈ -10…+20 working days).
        db.session.execute(
            text(
                """
                INSERT INTO cases (title, status, priority, source_id, owner_unit_id, unit_id,
                    text_hash, ask_count, first_item_at, last_item_at, created_at, updated_at,
                    dispatched_at, acknowledged_at, needs_person, due_provisional,
                    extension_days, deadline_round, return_count, due_at, clock_started_at)
                SELECT '基准工单 ' || g, 'acknowledged', 0, 1, 1, 1 + g % 20,
                    md5(g::text), 1, now(), now(), now(), now(), now(), now(), false, false,
                    0, 1, 0,
                    (date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai')
                        + make_interval(days => (g % 43) - 14) + interval '17 hours 30 minutes')
                        AT TIME ZONE 'Asia/Shanghai',
                    now()
                FROM generate_series(1, :n) g
                """
            ),
            {"n": args.cases},
        )
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(f"seeded_cases={args.cases} seed_s={time.monotonic() - started:.1f}")

        stats = _profile(db.engine) if os.environ.get("SENTINEL_BENCH_PROFILE") else None
        started = time.monotonic()
        first = sweep()
        cold = time.monotonic() - started
        started = time.monotonic()
        second = sweep()
        steady = time.monotonic() - started
        created = sum(first.created.values())
        print(
            f"first: marked_overdue={first.overdue} marked_due_soon={first.due_soon} "
            f"reminders_created={created} delivered={first.delivered} "
            f"documents={first.documents} backlog={first.backlog}"
        )
        print(f"second: created={sum(second.created.values())} delivered={second.delivered}")
        if stats is not None:
            for key, (count, total) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:10]:
                print(f"  {total:7.3f}s {count:5d}x {key}")
        print(f"sweep_cold_s={cold:.2f}")
        print(f"sweep_s={steady:.2f}")
        db.session.remove()
        db.engine.dispose()
        if config["JOBS_MODE"] == "rq":  # drop the document jobs no worker will run
            from rq import Queue

            from sentinel.jobqueue import redis_connection

            Queue("maintenance", connection=redis_connection(app)).empty()


def _profile(engine: object) -> dict[str, tuple[int, float]]:
    """Time every SQL statement (SENTINEL_BENCH_PROFILE=1)."""
    from sqlalchemy import event

    stats: dict[str, tuple[int, float]] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        context._bench_t = time.monotonic()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        key = " ".join(statement.split())[:100]
        count, total = stats.get(key, (0, 0.0))
        stats[key] = (count + 1, total + time.monotonic() - context._bench_t)

    return stats


if __name__ == "__main__":
    main()
