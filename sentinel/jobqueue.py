"""Enqueue after commit; deliver to RQ, a background thread, or inline (tests).

The one way to start background work, and a neutral module: services import ``enqueue``
from here without importing ``sentinel.jobs`` (whose job modules import the services).
A job is named by string; its table (``sentinel.jobs.registry``) is consulted only when a
run is enqueued or delivered, never at import time.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, current_app
from flask_sqlalchemy.session import Session as FlaskSession
from redis import Redis
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect

from sentinel.extensions import db
from sentinel.models import JobRun

log = logging.getLogger(__name__)

_PENDING_KEY = "sentinel_pending_jobs"
_READY_KEY = "sentinel_ready_jobs"
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_connections: dict[str, Redis] = {}


def redis_connection(app: Flask) -> Redis:
    """This process's Redis connection for ``app`` (created on first use, never at import)."""
    url = app.config["REDIS_URL"]
    conn = _connections.get(url)
    if conn is None:
        conn = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        _connections[url] = conn
    return conn


def enqueue(name: str, **args: Any) -> JobRun:
    """Record a JobRun in the current transaction; it is delivered after commit.

    If the transaction rolls back, nothing is delivered. If delivery fails (Redis
    down), the JobRun stays ``pending`` and the recovery sweep delivers it later.
    """
    from sentinel.jobs import registry

    registry.get(name)  # fail fast on a typo
    run = JobRun(name=name, args=args, status="pending")
    db.session.add(run)
    db.session.info.setdefault(_PENDING_KEY, []).append(run)
    return run


@event.listens_for(FlaskSession, "before_commit")
def _collect(session: Any) -> None:
    # SQLAlchemy fires before/after_commit for a SAVEPOINT release too; only the outermost
    # commit makes the runs visible to a worker, so nested commits deliver nothing.
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING_KEY, None)
    if pending:
        session.flush()
        # A run added inside a savepoint that rolled back was expunged with it: skip it.
        session.info.setdefault(_READY_KEY, []).extend(
            (run.id, run.name) for run in pending if sa_inspect(run).persistent
        )


@event.listens_for(FlaskSession, "after_commit")
def _deliver_after_commit(session: Any) -> None:
    runs = session.info.pop(_READY_KEY, None)
    if runs:
        deliver(current_app._get_current_object(), runs)


@event.listens_for(FlaskSession, "after_rollback")
def _discard(session: Any) -> None:
    # A rolled-back SAVEPOINT expunges only the runs added inside it; runs enqueued
    # before it still belong to the outer transaction and must be kept.
    pending = session.info.pop(_PENDING_KEY, None)
    if pending:
        kept = [run for run in pending if run in session]
        if kept:
            session.info[_PENDING_KEY] = kept
    session.info.pop(_READY_KEY, None)


def deliver(app: Flask, runs: list[tuple[int, str]]) -> list[int]:
    """Hand committed JobRuns ``(id, name)`` to the configured executor.

    Returns the ids delivered (in RQ mode, those Redis accepted).
    """
    mode = app.config["JOBS_MODE"]
    if mode == "rq":
        return _deliver_rq(app, runs)
    job_run_ids = [run_id for run_id, _ in runs]
    from sentinel.jobs.runner import run_job_in_app

    if mode == "sync":
        for run_id in job_run_ids:
            try:
                run_job_in_app(app, run_id)
            except Exception:
                # Recorded on the JobRun; the sweep retries it like any failed run.
                log.exception("job_run_failed job_run_id=%s mode=sync", run_id)
        return job_run_ids
    executor = _thread_executor()
    for run_id in job_run_ids:
        executor.submit(_run_logged, app, run_id)
    return job_run_ids


def _run_logged(app: Flask, run_id: int) -> None:
    from sentinel.jobs.runner import run_job_in_app

    try:
        run_job_in_app(app, run_id)
    except Exception:
        log.exception("job_run_failed job_run_id=%s mode=thread", run_id)


def _thread_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            # One thread: SQLite allows one writer; jobs are short and batched.
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sentinel-job")
        return _executor


def rq_job_id(job_run_id: int) -> str:
    """The RQ job id a JobRun is delivered under (so a second delivery is recognisable)."""
    return f"jobrun-{job_run_id}"


def _deliver_rq(app: Flask, runs: list[tuple[int, str]]) -> list[int]:
    from rq import Queue

    from sentinel.jobs import registry
    from sentinel.jobs.worker import FORK_META

    delivered: list[int] = []
    try:
        conn = redis_connection(app)
        for run_id, name in runs:
            spec = registry.get(name)
            Queue(spec.queue, connection=conn).enqueue(
                "sentinel.jobs.runner.run_job",
                run_id,
                job_id=rq_job_id(run_id),
                job_timeout=spec.timeout,
                # No RQ retry: attempts are decided in one place, the job's ``max_attempts``
                # (the claim in runner.py and the recovery sweep both read it).
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
                description=f"{spec.name} job_run={run_id}",
                # SentinelWorker forks a work horse only for jobs that ask for one.
                meta={FORK_META: spec.fork},
            )
            delivered.append(run_id)
    except Exception as exc:  # Redis down: the JobRun stays pending; the sweep retries.
        log.warning(
            "job_enqueue_failed job_run_ids=%s error=%s",
            [run_id for run_id, _ in runs],
            type(exc).__name__,
        )
    return delivered


def wait_for_in_process_jobs() -> None:
    """Block until the in-process job thread has run everything handed to it.

    Command-line runs in the embedded mode call this before exiting: a job still queued
    on the thread at interpreter shutdown could not start its own threads and would fail.
    """
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True)
