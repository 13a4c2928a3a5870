"""The RQ worker class of ``sentinel worker``: app and models loaded once per process.

RQ's default ``Worker`` forks a fresh work horse for every job, so each job used to build
the Flask app and load the model bundle again. ``SentinelWorker`` loads both once, when
the worker starts, and then runs a job in one of two ways, chosen per job by its
``JobSpec.fork`` (carried in the RQ job's ``meta``):

- in the worker process itself (most jobs, all item classification): RQ's own
  ``SimpleWorker`` path. Nothing is rebuilt, connections stay open, and the job timeout
  is still enforced — ``perform_job`` runs the job under RQ's death penalty (SIGALRM in
  this main thread raises ``JobTimeoutException`` in the job; the JobRun is recorded as
  failed and retried). The worker's heartbeat TTL covers the whole job timeout, as
  ``SimpleWorker``'s does, because nobody heartbeats while the job runs.
- in a forked work horse (imports, retraining: long, memory-hungry, parse uploaded files):
  RQ's default path, with its second guard — the worker kills a horse that outlives its
  timeout by 60 s even if it is stuck in C code — and its memory returned at the end.
  The horse is forked from the loaded worker, so it does not load anything again either;
  it drops the inherited database connections first (they belong to the parent).

Why not one or the other for everything: forking per job costs a fork, new database and
Redis connections and cold caches on every 500-item batch; running an XLSX import or a
30-minute retrain in the long-lived process would keep its memory and leave a runaway
parser without a hard kill.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

from flask import Flask
from rq import SimpleWorker, Worker

log = logging.getLogger(__name__)

FORK_META = "sentinel_fork"


def preload(app: Flask | None = None) -> dict[str, Any]:
    """Load the worker's Flask app (``app``, or one built now) and the active model bundle,
    once per process; forked workers (``--pool``) and horses inherit both.

    Returns what was loaded, for the log. A missing model is not an error: the first job
    after training loads it (and keeps it).
    """
    from sentinel.extensions import db
    from sentinel.jobs import runner
    from sentinel.jobs.registry import load_all
    from sentinel.services import classification, neardup_store

    if app is not None:
        runner.use_worker_app(app)
    app = runner.worker_app()
    load_all()
    with app.app_context():
        pipeline = classification.pipeline_or_none()
        neardup_store.signatures(["预热"])  # the MinHash permutations, computed once
        db.session.remove()
    # Objects that exist now live as long as the process: keep the garbage collector from
    # touching (and so copying) their pages in forked horses.
    gc.freeze()
    return {"pid": os.getpid(), "model_version": getattr(pipeline, "version", None)}


class SentinelWorker(Worker):
    """A forking RQ worker that runs most jobs in-process (see the module docstring)."""

    _in_process_job_id: str | None = None

    def work(self, *args: Any, **kwargs: Any) -> bool:
        loaded = preload()  # cheap when the CLI (or the pool's parent) preloaded already
        log.info("worker_preloaded pid=%s model_version=%s", *loaded.values())
        return super().work(*args, **kwargs)

    def execute_job(self, job: Any, queue: Any) -> None:
        if job.meta.get(FORK_META, True):
            super().execute_job(job, queue)
            return
        # RQ's own SimpleWorker code path (perform the job here, under its death penalty),
        # called as a function so that it follows the installed RQ version.
        self._in_process_job_id = job.id
        try:
            SimpleWorker.execute_job(self, job, queue)
        finally:
            self._in_process_job_id = None

    def get_heartbeat_ttl(self, job: Any, *args: Any, **kwargs: Any) -> int:
        if job.id == self._in_process_job_id:
            # SimpleWorker's rule: nobody heartbeats during an in-process job, so the TTL
            # must outlast the job's timeout.
            return int(SimpleWorker.get_heartbeat_ttl(self, job, *args, **kwargs))  # type: ignore[arg-type]
        return int(super().get_heartbeat_ttl(job, *args, **kwargs))

    def main_work_horse(self, job: Any, queue: Any) -> None:
        _after_fork()
        super().main_work_horse(job, queue)


def _after_fork() -> None:
    """In a forked horse: never reuse the parent's pooled database connections (two
    processes on one socket corrupt both); Redis pools notice the fork by themselves."""
    from sentinel import jobqueue
    from sentinel.extensions import db
    from sentinel.jobs.runner import worker_app

    app = worker_app()
    with app.app_context():
        db.engine.dispose(close=False)
    jobqueue._connections.clear()
