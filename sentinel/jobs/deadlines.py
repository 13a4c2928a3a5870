"""The periodic deadline sweep (RQ cron via jobs/schedule.py, or ``sentinel sweep``)."""

from __future__ import annotations

from typing import Any

from sentinel.jobs import queues
from sentinel.jobs.registry import job
from sentinel.services import reminders


@job(reminders.SWEEP_JOB, queue=queues.MAINTENANCE, timeout=600, max_attempts=1)
def deadline_sweep() -> dict[str, Any]:
    """Mark due-soon/overdue cases and deliver the reminder ladder (idempotent)."""
    return reminders.sweep().as_dict()


@job(reminders.NOTICE_JOB, queue=queues.MAINTENANCE, timeout=120, max_attempts=5)
def render_reminder_notice(reminder_id: int) -> dict[str, Any]:
    """Write a reminder's 《催办通知书》 DOCX under the instance folder (idempotent)."""
    return {"path": reminders.render_notice(reminder_id)}
