"""Run one JobRun: claim it atomically, call the job function, record the outcome."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from flask import Flask
from sqlalchemy import and_, or_, select, update

from sentinel.extensions import db
from sentinel.models import JobRun, utcnow

log = logging.getLogger(__name__)

_worker_app: Flask | None = None


def worker_app() -> Flask:
    """The Flask app of an RQ worker process, created once on first job."""
    global _worker_app
    if _worker_app is None:
        from sentinel.app import create_app

        _worker_app = create_app()
    return _worker_app


def use_worker_app(app: Flask) -> None:
    """Make ``app`` this process's worker app (``sentinel worker`` has built one already)."""
    global _worker_app
    _worker_app = app


def run_job(job_run_id: int) -> dict[str, Any] | None:
    """RQ entry point: run a JobRun inside the worker's app."""
    return run_job_in_app(worker_app(), job_run_id, rq_job_id=current_rq_job_id())


def current_rq_job_id() -> str | None:
    """The id of the RQ job this code runs in (None outside an RQ worker)."""
    from rq import get_current_job

    job = get_current_job()
    return job.id if job is not None else None


def run_job_in_app(
    app: Flask, job_run_id: int, rq_job_id: str | None = None
) -> dict[str, Any] | None:
    """Claim and run one JobRun. A run that is already claimed or finished is skipped.

    A run is claimed when it is pending, or failed with attempts left (the job's
    ``max_attempts``, the one limit). A ``running`` run is never claimed here: the recovery
    sweep first closes it as failed once its worker is found dead (by the worker's RQ
    heartbeat), so the job function must be idempotent — it may run again from the start.
    ``rq_job_id`` records which RQ job runs it, which is how the sweep finds the worker.
    """
    from sentinel.jobs import registry

    with app.app_context():
        name = db.session.scalar(select(JobRun.name).where(JobRun.id == job_run_id))
        if name is None:
            db.session.rollback()
            log.warning("job_run_skipped job_run_id=%s reason=unknown_run", job_run_id)
            return None
        spec = registry.get(name)
        claim = (
            update(JobRun)
            .where(JobRun.id == job_run_id)
            .where(
                or_(
                    JobRun.status.in_(("pending", "queued")),
                    and_(JobRun.status == "failed", registry.attempts_left(spec, JobRun.attempts)),
                )
            )
            .values(
                status="running",
                attempts=JobRun.attempts + 1,
                started_at=utcnow(),
                updated_at=utcnow(),
                error=None,
                rq_job_id=rq_job_id,
            )
        )
        if db.session.execute(claim).rowcount != 1:
            db.session.rollback()
            log.info("job_run_skipped job_run_id=%s reason=claimed_or_done", job_run_id)
            return None
        db.session.commit()
        run = db.session.get(JobRun, job_run_id)
        assert run is not None
        args = dict(run.args or {})
        started = time.monotonic()
        try:
            result = spec.func(**args)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            run = db.session.get(JobRun, job_run_id)
            assert run is not None
            run.status = "failed"
            run.updated_at = utcnow()
            # Exception type and location only: messages may quote user text.
            run.error = _describe(exc)
            db.session.commit()
            log.warning(
                "job_run_error job_run_id=%s name=%s attempt=%s error=%s",
                job_run_id,
                spec.name,
                run.attempts,
                type(exc).__name__,
            )
            raise
        run = db.session.get(JobRun, job_run_id)
        assert run is not None
        run.status = "succeeded"
        run.finished_at = utcnow()
        run.updated_at = run.finished_at
        run.result = result if isinstance(result, dict) else None
        db.session.commit()
        log.info(
            "job_run_done job_run_id=%s name=%s seconds=%.2f",
            job_run_id,
            spec.name,
            time.monotonic() - started,
        )
        return run.result


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"
