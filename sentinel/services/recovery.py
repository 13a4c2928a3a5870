"""Recovery sweep: nothing is lost when Redis is down or a worker dies.

A JobRun is written in the same transaction as the work it stands for, so the database
always knows what must run. This sweep re-delivers runs that Redis never received
(pending), whose worker died (running past the stale limit) or that failed with attempts
left (after a back-off); and it enqueues processing for items that no live run covers.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, func, or_, select

from sentinel.extensions import db
from sentinel.jobs import enqueue, queues, registry
from sentinel.jobs.queue import deliver, rq_job_id
from sentinel.jobs.schedule import PERIODIC
from sentinel.models import Item, JobRun, utcnow

log = logging.getLogger(__name__)
PENDING_GRACE_S = 30
BATCH_LIMIT = 500
LIVE_RQ_STATUSES = {"queued", "started", "scheduled", "deferred"}


def recover() -> dict[str, int]:
    """One sweep; returns counts of what it did."""
    app = current_app._get_current_object()
    now = utcnow()
    default_stale = int(app.config["JOB_STALE_AFTER_S"])
    stale_before = now - timedelta(seconds=default_stale)
    periodic_names = {p.name for p in PERIODIC}
    specs = registry.all_jobs()
    max_attempts = {name: spec.max_attempts for name, spec in specs.items()}

    def presumed_dead(run: JobRun) -> bool:
        # A running run is stale only past its job's own timeout too (an import may run
        # for an hour); ``stale_before`` above is the lower bound the query uses.
        spec = specs.get(run.name)
        limit = registry.stale_after_s(spec, default_stale) if spec else default_stale
        return run.started_at is not None and run.started_at < now - timedelta(seconds=limit)

    # Periodic runs are not re-delivered (the schedule runs them again); a periodic run
    # stuck in "running" is closed as failed so the health check sees the gap.
    for run in db.session.scalars(
        select(JobRun).where(
            JobRun.name.in_(periodic_names),
            JobRun.status == "running",
            JobRun.started_at < stale_before,
        )
    ):
        if not presumed_dead(run):
            continue
        run.status = "failed"
        run.error = "worker lost"
        run.updated_at = now

    # Failed runs with attempts left, decided in SQL: exhausted runs pile up over time and
    # must not fill the batch and starve newer pending runs.
    retryable = or_(
        *(and_(JobRun.name == n, JobRun.attempts < limit) for n, limit in max_attempts.items())
    )
    pending_before = now - timedelta(seconds=PENDING_GRACE_S)
    candidates = db.session.scalars(
        select(JobRun)
        .where(
            JobRun.name.not_in(periodic_names),
            or_(
                and_(JobRun.status == "pending", JobRun.created_at < pending_before),
                and_(JobRun.status == "queued", JobRun.updated_at < stale_before),
                and_(JobRun.status == "running", JobRun.started_at < stale_before),
                and_(JobRun.status == "failed", retryable),
            ),
        )
        .order_by(JobRun.id)
        .limit(BATCH_LIMIT)
    ).all()
    exhausted = (
        db.session.scalar(
            select(func.count())
            .select_from(JobRun)
            .where(JobRun.name.not_in(periodic_names), JobRun.status == "failed", ~retryable)
        )
        or 0
    )
    to_deliver: list[tuple[int, str]] = []
    for run in candidates:
        # Back off failed runs: one minute per attempt already made.
        if run.status == "failed" and run.updated_at > now - timedelta(seconds=60 * run.attempts):
            continue
        if run.status == "running" and not presumed_dead(run):
            continue
        if run.status in ("pending", "queued") and _alive_in_rq(app, run.id):
            continue
        to_deliver.append((run.id, run.name))

    covered = db.session.scalar(
        select(func.count())
        .select_from(JobRun)
        .where(
            JobRun.name.in_(queues.PROCESS_JOBS),
            JobRun.status.in_(("pending", "queued", "running")),
        )
    )
    orphan_items = 0
    if not covered:
        ids = list(
            db.session.scalars(
                select(Item.id)
                .where(Item.processed_at.is_(None), Item.received_at < stale_before)
                .order_by(Item.id)
                .limit(BATCH_LIMIT * 10)
            )
        )
        for start in range(0, len(ids), BATCH_LIMIT):
            enqueue("process_items", item_ids=ids[start : start + BATCH_LIMIT])
        orphan_items = len(ids)
    db.session.commit()
    delivered = deliver(app, to_deliver) if to_deliver else []
    result = {
        "redelivered": len(delivered),
        "exhausted": exhausted,
        "orphan_items": orphan_items,
    }
    if delivered or orphan_items:
        log.info("recovery %s", " ".join(f"{k}={v}" for k, v in result.items()))
    return result


def _alive_in_rq(app: object, run_id: int) -> bool:
    """True when RQ still holds a live job for this run (so it needs no re-delivery)."""
    if current_app.config["JOBS_MODE"] != "rq":
        return False
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from sentinel.jobs.redis_conn import redis_connection

    try:
        job = Job.fetch(rq_job_id(run_id), connection=redis_connection(current_app))
        return job.get_status(refresh=True) in LIVE_RQ_STATUSES
    except NoSuchJobError:
        return False
    except Exception:
        return True  # Redis unreachable: delivering would fail anyway
