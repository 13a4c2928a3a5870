"""The deadline sweep's watchdog: is the sweep late?

The sweep's last success is its JobRun; the watchdog alerts administrators and fails
``sentinel health`` when it is older than ``SWEEP_STALE_AFTER_S`` (10 minutes).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from sentinel.extensions import db
from sentinel.models import Case, JobRun, utcnow
from sentinel.models.case import OPEN_STATUSES
from sentinel.services.reminder_ladder import SWEEP_JOB
from sentinel.timefmt import format_local


def last_success() -> datetime | None:
    """When the deadline sweep last succeeded (None: never)."""
    return db.session.scalar(
        select(func.max(JobRun.finished_at)).where(
            JobRun.name == SWEEP_JOB, JobRun.status == "succeeded"
        )
    )


def sweep_late_message(now: datetime | None = None, *, include_stale: bool = True) -> str | None:
    """Why the sweep is late, or None. Never run is late only when there are deadlines."""
    now = now or utcnow()
    stale_after = int(current_app.config.get("SWEEP_STALE_AFTER_S", 600))
    last = last_success()
    if last is None:
        has_deadlines = db.session.scalar(
            select(Case.id).where(Case.status.in_(OPEN_STATUSES), Case.due_at.is_not(None)).limit(1)
        )
        if has_deadlines is None:
            return None
        return (
            "时限巡检从未成功运行：超期工单不会被标记和催办。"
            "请检查定时任务（sentinel cron / sentinel serve）。"
        )
    if include_stale and now - last > timedelta(seconds=stale_after):
        minutes = int((now - last).total_seconds() // 60)
        return (
            f"时限巡检已 {minutes} 分钟未成功运行（上次成功 {format_local(last)}）："
            "超期工单可能未被催办。"
        )
    return None
