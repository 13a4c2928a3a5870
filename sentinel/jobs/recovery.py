"""Recovery sweep: nothing is lost when Redis is down or a worker dies.

A JobRun is written in the same transaction as the work it stands for, so the database
always knows what must run. This sweep (every 30 s, ``schedule.py``):

1. closes ``running`` runs whose worker is dead as failed ("worker lost"). With RQ, dead is
   decided by RQ's own registries (``liveness.rq_job_alive``: the job is no longer started,
   or its worker stopped heartbeating); in the in-process modes, which have no heartbeat,
   by ``JOB_STALE_AFTER_S`` but never before the job's own timeout;
2. re-delivers runs that Redis never received (pending), and failed runs with attempts left
   (``registry.attempts_left``, the one attempt rule) — at once when their worker was just
   found dead, otherwise after a back-off of one minute per attempt made;
3. enqueues processing for items that no live run covers.

Periodic runs are never re-delivered: the schedule runs them again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import and_, func, or_, select, update

from sentinel import queues
from sentinel.extensions import db
from sentinel.jobqueue import deliver, enqueue, redis_connection, rq_job_id
from sentinel.jobs import registry
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
    lost = close_lost_runs(app, specs)

    # Failed runs with attempts left, decided in SQL: exhausted runs pile up over time and
    # must not fill the batch and starve newer pending runs.
    retryable = or_(
        *(
            and_(JobRun.name == name, registry.attempts_left(spec, JobRun.attempts))
            for name, spec in specs.items()
        )
    )
    pending_before = now - timedelta(seconds=PENDING_GRACE_S)
    candidates = db.session.scalars(
        select(JobRun)
        .where(
            JobRun.name.not_in(periodic_names),
            or_(
                and_(JobRun.status == "pending", JobRun.created_at < pending_before),
                and_(JobRun.status == "queued", JobRun.updated_at < stale_before),
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
        # Back off failed runs: one minute per attempt already made. A run whose worker
        # died did not fail by itself: it goes again at once.
        if (
            run.status == "failed"
            and run.id not in lost
            and run.updated_at > now - timedelta(seconds=60 * run.attempts)
        ):
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
            enqueue(queues.PROCESS_ITEMS, item_ids=ids[start : start + BATCH_LIMIT])
        orphan_items = len(ids)
    db.session.commit()
    delivered = deliver(app, to_deliver) if to_deliver else []
    result = {
        "lost": len(lost),
        "redelivered": len(delivered),
        "exhausted": exhausted,
        "orphan_items": orphan_items,
    }
    if lost or delivered or orphan_items:
        log.info("recovery %s", " ".join(f"{k}={v}" for k, v in result.items()))
    return result


def close_lost_runs(app: Flask, specs: dict[str, Any]) -> set[int]:
    """Mark ``running`` runs whose worker is dead as failed; returns their ids.

    The update is conditional on the run being unchanged since it was read, so a run that
    finishes meanwhile keeps its outcome.
    """
    now = utcnow()
    lost: set[int] = set()
    running = db.session.scalars(
        select(JobRun).where(JobRun.status == "running").order_by(JobRun.id).limit(BATCH_LIMIT)
    ).all()
    for run in running:
        if _run_alive(app, run, specs.get(run.name)):
            continue
        closed = db.session.execute(
            update(JobRun)
            .where(
                JobRun.id == run.id,
                JobRun.status == "running",
                JobRun.attempts == run.attempts,
            )
            .values(status="failed", error="worker lost", updated_at=now)
        ).rowcount
        if closed:
            lost.add(run.id)
            _forget_execution(app, run.rq_job_id)
            log.warning(
                "job_run_lost job_run_id=%s name=%s attempt=%s", run.id, run.name, run.attempts
            )
    db.session.commit()
    db.session.expire_all()
    return lost


def _forget_execution(app: Flask, job_id: str | None) -> None:
    if app.config["JOBS_MODE"] != "rq" or not job_id:
        return
    from sentinel.jobs.liveness import forget_dead_execution

    try:
        forget_dead_execution(redis_connection(app), job_id)
    except Exception as exc:  # best effort: RQ's own clean-up comes later anyway
        log.warning("forget_execution_failed error=%s", type(exc).__name__)


def _run_alive(app: Flask, run: JobRun, spec: Any) -> bool:
    if app.config["JOBS_MODE"] == "rq" and run.rq_job_id:
        from sentinel.jobs.liveness import rq_job_alive

        try:
            return rq_job_alive(
                redis_connection(app), run.rq_job_id, int(app.config["HEARTBEAT_STALE_AFTER_S"])
            )
        except Exception:
            return True  # Redis unreachable: nothing can be told (nor delivered)
    default_stale = int(app.config["JOB_STALE_AFTER_S"])
    limit = registry.embedded_stale_after_s(spec, default_stale) if spec else default_stale
    started = run.started_at
    return started is not None and started >= utcnow() - timedelta(seconds=limit)


def _alive_in_rq(app: Flask, run_id: int) -> bool:
    """True when RQ still holds a live job for this run (so it needs no re-delivery)."""
    if app.config["JOBS_MODE"] != "rq":
        return False
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(rq_job_id(run_id), connection=redis_connection(app))
        return job.get_status(refresh=True) in LIVE_RQ_STATUSES
    except NoSuchJobError:
        return False
    except Exception:
        return True  # Redis unreachable: delivering would fail anyway
