"""The periodic deadline sweep (RQ cron via jobs/schedule.py, or ``sentinel sweep``).

The sweep owns the transaction boundaries: the ladder services only flush, and the sweep
commits after each step and after each delivered reminder, so a crash mid-sweep neither
loses a recorded rung nor repeats a committed delivery.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from sentinel import queues
from sentinel.extensions import db
from sentinel.jobqueue import enqueue
from sentinel.jobs.registry import job
from sentinel.models import utcnow
from sentinel.services import notice_docx
from sentinel.services import reminder_ladder as ladder

log = logging.getLogger(__name__)


def sweep(now: datetime | None = None) -> ladder.SweepResult:
    """Run one deadline sweep (see ``services/reminder_ladder.py``). Commits as it goes."""
    started = time.monotonic()
    now = now or utcnow()
    result = ladder.SweepResult()
    result.recomputed = ladder.recompute_provisional()
    db.session.commit()
    loud = ladder.loud_condition()
    ladder.climb(ladder.cutoffs(now), result, loud)
    db.session.commit()
    result.delivered += ladder.mark_quiet_delivered(now, loud)
    db.session.commit()
    # E-mails and 《催办通知书》, one by one: a crash never repeats a committed one. The
    # DOCX is written by a job (enqueued with the delivery) so the sweep stays fast.
    for reminder_id in ladder.pending_ids():
        delivery = ladder.deliver(reminder_id, now, smtp=loud is not None)
        if delivery is None:
            continue
        result.emails += delivery.emailed
        if delivery.needs_document:
            enqueue(notice_docx.NOTICE_JOB, reminder_id=reminder_id)
            result.documents += 1
        db.session.commit()
        result.delivered += 1
    result.backlog = ladder.backlog()
    result.seconds = time.monotonic() - started
    log.info(
        "deadline_sweep due_soon=%s overdue=%s created=%s delivered=%s emails=%s documents=%s "
        "backlog=%s seconds=%.2f",
        result.due_soon,
        result.overdue,
        sum(result.created.values()),
        result.delivered,
        result.emails,
        result.documents,
        result.backlog,
        result.seconds,
    )
    return result


@job(ladder.SWEEP_JOB, queue=queues.MAINTENANCE, timeout=600, max_attempts=1)
def deadline_sweep() -> dict[str, Any]:
    """Mark due-soon/overdue cases and deliver the reminder ladder (idempotent)."""
    return sweep().as_dict()


@job(notice_docx.NOTICE_JOB, queue=queues.MAINTENANCE, timeout=120, max_attempts=5)
def render_reminder_notice(reminder_id: int) -> dict[str, Any]:
    """Write a reminder's 《催办通知书》 DOCX under the instance folder (idempotent)."""
    return {"path": notice_docx.render_notice(reminder_id)}
