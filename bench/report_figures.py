"""Dump every figure of the 留言办理情况 table as JSON, to compare two checkouts' code on
one database (e.g. before and after a change to the report's queries):

    BENCH_PG_URL=... python bench/report_figures.py OUT.json [CHECKOUT]

with the code of CHECKOUT (default: this one; run with that checkout's ``.venv``), then
compare the files (``cmp``): the whole
tree's table for 2026 Q2, Q3 and November 2026, every unit's row and the totals, with a
fixed "now" (2026-12-01 12:00 UTC) so both runs use the same overdue cut-off.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

PERIODS = (("quarter", "2026-08-15"), ("quarter", "2026-05-15"), ("month", "2026-11-10"))


def main() -> int:
    checkout = sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).resolve().parents[1])
    sys.path.insert(0, checkout)
    os.environ.update(
        {
            "SENTINEL_DATABASE_URL": os.environ.get(
                "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/sentinel_bench_report"
            ),
            "SENTINEL_INSTANCE_PATH": tempfile.mkdtemp(prefix="sentinel-figures-"),
            "SENTINEL_SECRET_KEY": "bench-secret",
        }
    )
    import sentinel
    from sentinel.app import create_app
    from sentinel.services import sla_report

    print(f"code: {Path(sentinel.__file__).parent}")

    app = create_app({})
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    out = {}
    with app.app_context():
        for kind, day in PERIODS:
            period = sla_report.period_of(kind, date.fromisoformat(day))
            table = sla_report.sla_table(period, now=now)
            out[f"{kind}-{day}"] = [[r.unit_id, r.rank, r.values] for r in table.rows] + [
                [None, None, table.total.values]
            ]
    Path(sys.argv[1]).write_text(json.dumps(out, sort_keys=True, default=str))
    print(f"{sum(len(v) for v in out.values())} rows written to {sys.argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
