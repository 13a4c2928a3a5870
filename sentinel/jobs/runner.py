"""Run one JobRun: claim it atomically, call the job function, record the outcome."""

from __future__ import annotations

import logging
import time
import traceback
from datetime import timedelta
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
    return run_job_in_app(worker_app(), job_run_id)


def run_job_in_app(app: Flask, job_run_id: int) -> dict[str, Any] | None:
    """Claim and run one JobRun. A run that is already claimed or finished is skipped.

    The job function must be idempotent: a run whose worker died is claimed again once
    it is stale, and runs again from the start.
    """
    from sentinel.jobs import registry

    with app.app_context():
        name = db.session.scalar(select(JobRun.name).where(JobRun.id == job_run_id))
        if name is None:
            db.session.rollback()
            log.warning("job_run_skipped job_run_id=%s reason=unknown_run", job_run_id)
            return None
        stale_s = registry.stale_after_s(registry.get(name), app.config["JOB_STALE_AFTER_S"])
        stale_before = utcnow() - timedelta(seconds=stale_s)
        claim = (
            update(JobRun)
            .where(JobRun.id == job_run_id)
            .where(
                or_(
                    JobRun.status.in_(("pending", "queued", "failed")),
                    and_(JobRun.status == "running", JobRun.started_at < stale_before),
                )
            )
            .values(
                status="running",
                attempts=JobRun.attempts + 1,
                started_at=utcnow(),
                updated_at=utcnow(),
                error=None,
            )
        )
        if db.session.execute(claim).rowcount != 1:
            db.session.rollback()
            log.info("job_run_skipped job_run_id=%s reason=claimed_or_done", job_run_id)
            return None
        db.session.commit()
        run = db.session.get(JobRun, job_run_id)
        assert run is not None
        spec = registry.get(run.name)
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
