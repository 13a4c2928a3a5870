"""Report jobs: one report file on demand (with progress), and the scheduled reports.

The job owns the transactions: progress is committed as it goes so the page that polls
it sees it move; the file and its archive row are committed together at the end.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from sentinel import queues
from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.jobqueue import enqueue
from sentinel.jobs.registry import job
from sentinel.models import ReportArchive, utcnow
from sentinel.services import reports, sla_report
from sentinel.timefmt import SHANGHAI

log = logging.getLogger(__name__)
SCHEDULED_JOB = "scheduled_reports"
SCHEDULED_FORMATS = ("docx", "xlsx")


def run_report(archive_id: int) -> ReportArchive | None:
    """Generate one archived report, committing progress; marks it failed on error."""
    archive = db.session.get(ReportArchive, archive_id)
    if archive is None or archive.status == "ready":
        return archive
    archive.status = "running"
    archive.progress = 0
    db.session.commit()

    def progress(percent: int) -> None:
        # 95 at most until the file is written and recorded.
        archive.progress = min(int(percent), 95)
        db.session.commit()

    try:
        reports.generate(archive, progress=progress)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        failed = db.session.get(ReportArchive, archive_id)
        assert failed is not None
        failed.status = "failed"
        failed.error = f"生成失败（{type(exc).__name__}），可重新生成"
        db.session.commit()
        log.warning("report_failed archive_id=%s error=%s", archive_id, type(exc).__name__)
        raise
    log.info("report_ready archive_id=%s kind=%s size=%s", archive.id, archive.kind, archive.size)
    return archive


@job(reports.REPORT_JOB, queue=queues.INTERACTIVE, timeout=1800, max_attempts=2)
def generate_report(archive_id: int) -> dict[str, Any]:
    """Write one requested report file and archive it (idempotent once ready)."""
    archive = run_report(archive_id)
    return {"archive_id": archive_id, "status": archive.status if archive else None}


def due_periods(today: date) -> list[tuple[str, sla_report.Period]]:
    """(kind, period) of every periodic report: the latest period complete by ``today``
    (yesterday, last week, last month, last quarter, last year)."""
    return [
        (kind, sla_report.period_of(period_kind, today).previous())
        for kind, period_kind in reports.KIND_PERIOD.items()
    ]


def schedule_reports(now: datetime | None = None) -> list[int]:
    """Request and enqueue the periodic reports not archived yet (idempotent); returns
    the new archive ids. Commits."""
    now = now or utcnow()
    today = now.astimezone(SHANGHAI).date()
    created: list[int] = []
    actor = Actor.system("schedule")
    for kind, period in due_periods(today):
        for fmt in SCHEDULED_FORMATS:
            exists = db.session.scalar(
                select(ReportArchive.id).where(
                    ReportArchive.scheduled,
                    ReportArchive.kind == kind,
                    ReportArchive.fmt == fmt,
                    ReportArchive.period_start == period.start,
                    ReportArchive.unit_id.is_(None),
                )
            )
            if exists is not None:
                continue
            archive = reports.request_report(
                actor,
                {
                    "kind": kind,
                    "fmt": fmt,
                    "period": period.kind,
                    "start": period.start.isoformat(),
                    "end": period.end.isoformat(),
                },
                scheduled=True,
            )
            run = enqueue(reports.REPORT_JOB, archive_id=archive.id)
            db.session.flush()
            archive.job_run_id = run.id
            db.session.commit()
            created.append(archive.id)
    log.info("scheduled_reports created=%s", len(created))
    return created


@job(SCHEDULED_JOB, queue=queues.MAINTENANCE, timeout=300, max_attempts=1)
def scheduled_reports() -> dict[str, Any]:
    """Periodic: request the 日/周/月/季/年 reports of the last complete periods."""
    return {"created": schedule_reports()}
