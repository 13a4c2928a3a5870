"""Benchmark: the quarterly 留言办理情况 report of the whole tree on 1,000,000 items.

    python bench/report.py              (seed, then time)
    BENCH_REUSE_DB=1 python bench/report.py --explain   (time again; print query plans)

1. drops and creates ``BENCH_PG_URL`` (default
   ``postgresql://postgres@127.0.0.1:5432/sentinel_bench_report``), migrates it, and seeds
   ``BENCH_ITEMS`` (default 1,000,000) items and their cases, assignment history, returns,
   协办, extensions and pauses by COPY (``bench/report_seed.py``);
2. times the report of the last complete quarter for the whole tree, as the job builds
   it (this quarter's table, the previous quarter's, and the XLSX file), best of
   ``BENCH_RUNS`` (default 3) runs after one warm-up;
3. renders the same report as PDF once and prints its time (``BENCH_PDF_OUT=FILE`` keeps
   the file, e.g. to look at it: ``pdftoppm -png -f 1 -l 1 FILE page``);
4. with ``--explain``, prints ``EXPLAIN (ANALYZE, BUFFERS)`` of every metric's query.

then ``report_quarter_s=…``; 5. times the leaders' dashboard's queries
(``bench/dashboard_queries.py``) and prints ``dashboard_p95_ms=…`` last.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import processes  # noqa: E402

PG_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/sentinel_bench_report"
)
ITEMS = int(os.environ.get("BENCH_ITEMS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def say(line: str) -> None:
    print(line, flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    import tempfile

    explain = "--explain" in sys.argv[1:]
    reuse = bool(os.environ.get("BENCH_REUSE_DB"))
    os.environ.update(
        {
            "SENTINEL_DATABASE_URL": PG_URL,
            "SENTINEL_INSTANCE_PATH": tempfile.mkdtemp(prefix="sentinel-report-bench-"),
            "SENTINEL_SECRET_KEY": "bench-secret",
        }
    )
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from sentinel.app import create_app
    from sentinel.extensions import db
    from sentinel.models import Case, Unit, utcnow
    from sentinel.services import reports, sla_report
    from sentinel.timefmt import SHANGHAI

    say(
        f"machine: {os.cpu_count()} CPUs, load average {load()}, "
        f"database {PG_URL.rsplit('@', 1)[-1]}"
    )
    if not reuse:
        processes.recreate_database(PG_URL)
    app = create_app({})
    with app.app_context():
        if not reuse:
            upgrade()
    if not reuse:
        from bench.report_seed import seed

        seeded = seed(app, PG_URL, ITEMS)
        say(
            f"seeded: {seeded.items} items, {seeded.cases} cases, {seeded.assignments} "
            f"assignments, {seeded.returns} returns, {seeded.changes} extensions/pauses, "
            f"{seeded.units} units by COPY in {seeded.seconds:.0f} s, load {load()}"
        )
    with app.app_context():
        today = utcnow().astimezone(SHANGHAI).date()
        quarter = sla_report.period_of("quarter", today).previous()
        units = db.session.scalar(select(func.count()).select_from(Unit))
        in_quarter = db.session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.first_item_at >= quarter.start_utc, Case.first_item_at < quarter.end_utc)
        )
        say(
            f"report: {quarter.label} ({quarter.start} – {quarter.end}), {units} units, "
            f"{in_quarter} cases received in the quarter"
        )
        timings = []
        table_timings = []
        for run in range(RUNS + 1):
            db.session.expire_all()
            started = time.monotonic()
            table = sla_report.sla_table(quarter)
            table_s = time.monotonic() - started
            doc = reports.build_report("sla", quarter, None)
            data = reports.render(doc, "xlsx")
            total = time.monotonic() - started - table_s
            if run:  # the first run warms caches
                timings.append(total)
                table_timings.append(table_s)
            say(
                f"run {run}: one quarter's table {table_s:.2f} s; full report (two quarters + XLSX "
                f"{len(data)} bytes) {total:.2f} s; load {load()}"
            )
        started = time.monotonic()
        pdf = reports.render(doc, "pdf")
        say(
            f"the same report as PDF (reportlab, STSong-Light): {len(pdf)} bytes in "
            f"{time.monotonic() - started:.2f} s; load {load()}"
        )
        if os.environ.get("BENCH_PDF_OUT"):
            Path(os.environ["BENCH_PDF_OUT"]).write_bytes(pdf)
        say(
            f"totals: dispatched {table.total.values['dispatched']}, answered "
            f"{table.total.values['answered']}, on-time rate {table.total.values['on_time_rate']}"
        )
        if explain:
            w = sla_report.window_for(quarter)
            for key in sla_report.FAMILIES:
                stmt = sla_report.family_counts(key, w, None)
                compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
                plan = db.session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars()
                say(f"--- {key}")
                for line in plan:
                    say("    " + line)
    say(f"report_table_quarter_s={min(table_timings):.2f}")
    say(f"report_quarter_s={min(timings):.2f}")
    # The leaders' dashboard on the same data (bench/dashboard_queries.py).
    from bench.dashboard_queries import p95, time_dashboard

    say(f"dashboard_p95_ms={p95(time_dashboard(app, say, explain)):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
