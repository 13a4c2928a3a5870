"""The leaders' dashboard's queries on the report bench's database (``bench/report.py``).

``time_dashboard(app)`` builds the leaders' dashboard (the whole tree, as an admin or a
city leader sees it: the last 30 days by day) ``BENCH_DASHBOARD_RUNS`` times (default 20)
after one warm-up and returns the run times in milliseconds; a county leader's dashboard
(one county office and its departments) is timed the same way for comparison. With
``explain`` every SQL statement one build sends is printed with ``EXPLAIN (ANALYZE,
BUFFERS)``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

RUNS = int(os.environ.get("BENCH_DASHBOARD_RUNS", "20"))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def _runs(build: Callable[[], Any], say: Callable[[str], None], label: str) -> list[float]:
    from sentinel.extensions import db

    timings = []
    for run in range(RUNS + 1):
        db.session.expire_all()
        started = time.monotonic()
        build()
        elapsed = (time.monotonic() - started) * 1000
        if run:
            timings.append(elapsed)
    say(
        f"{label}: {len(timings)} runs, median {sorted(timings)[len(timings) // 2]:.0f} ms, "
        f"p95 {p95(timings):.0f} ms, max {max(timings):.0f} ms"
    )
    return timings


def time_dashboard(app: Any, say: Callable[[str], None], explain: bool = False) -> list[float]:
    """Time the leaders' dashboard (whole tree); returns the run times in ms."""
    from sqlalchemy import event, select

    from sentinel.extensions import db
    from sentinel.models import Unit, utcnow
    from sentinel.services import dashboard, sla_report
    from sentinel.timefmt import SHANGHAI

    def link(f: dashboard.DrillFilter) -> str:
        return "/reports/cases?" + "&".join(f"{k}={v}" for k, v in f.args().items())

    with app.app_context():
        today = utcnow().astimezone(SHANGHAI).date()
        period = sla_report.custom_period(today - timedelta(days=29), today)
        board = dashboard.build(period, None, None, link)
        say(
            "dashboard: last 30 days, whole tree: "
            + ", ".join(f"{f.label} {f.value}" for f in board.cards)
        )
        timings = _runs(lambda: dashboard.build(period, None, None, link), say, "leaders")
        county = db.session.scalars(select(Unit).where(Unit.kind == "county")).first()
        if county is not None:
            ids = dashboard.subtree_ids(county)
            _runs(lambda: dashboard.build(period, county, ids, link), say, "county unit")
        if explain:
            statements: list[tuple[str, Any]] = []

            def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
                statements.append((statement, params))

            event.listen(db.engine, "before_cursor_execute", record)
            try:
                dashboard.build(period, None, None, link)
            finally:
                event.remove(db.engine, "before_cursor_execute", record)
            for statement, params in statements:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                raw = db.session.connection().connection.dbapi_connection
                with raw.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                    say("--- " + " ".join(statement.split())[:300])
                    for (line,) in cursor.fetchall():
                        say("    " + line)
        return timings


def main() -> int:
    """Time the dashboard alone on an already seeded database (after ``bench/report.py``):

    BENCH_PG_URL=... python bench/dashboard_queries.py [--explain]
    """
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.update(
        {
            "SENTINEL_DATABASE_URL": os.environ.get(
                "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/sentinel_bench_report"
            ),
            "SENTINEL_INSTANCE_PATH": tempfile.mkdtemp(prefix="sentinel-dashboard-bench-"),
            "SENTINEL_SECRET_KEY": "bench-secret",
        }
    )
    from flask_migrate import upgrade

    from sentinel.app import create_app

    app = create_app({})
    if not os.environ.get("BENCH_NO_UPGRADE"):  # set it to time the plans without them
        with app.app_context():
            upgrade()  # the dashboard's indexes, on a database seeded before they existed

    def say(line: str) -> None:
        print(line, flush=True)

    timings = time_dashboard(app, say, "--explain" in sys.argv[1:])
    say(f"dashboard_p95_ms={p95(timings):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
