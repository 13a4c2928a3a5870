"""Run a periodic job: record a JobRun for it and run it in this worker."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask

from sentinel.extensions import db
from sentinel.jobs.runner import current_rq_job_id, run_job_in_app, worker_app
from sentinel.jobs.schedule import PERIODIC
from sentinel.models import JobRun

log = logging.getLogger(__name__)


def run_periodic(name: str) -> dict[str, Any] | None:
    """RQ cron entry point (runs in an RQ worker)."""
    return run_periodic_in_app(worker_app(), name, rq_job_id=current_rq_job_id())


def run_periodic_in_app(
    app: Flask, name: str, rq_job_id: str | None = None
) -> dict[str, Any] | None:
    with app.app_context():
        run = JobRun(name=name, args={}, status="pending")
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    return run_job_in_app(app, run_id, rq_job_id=rq_job_id)


def start_thread_scheduler(app: Flask) -> threading.Thread:
    """Embedded mode: run the PERIODIC list on a daemon thread of the web process."""

    def loop() -> None:
        next_due = {p.name: time.monotonic() + 5 for p in PERIODIC}
        while True:
            now = time.monotonic()
            for periodic in PERIODIC:
                if now >= next_due[periodic.name]:
                    next_due[periodic.name] = now + periodic.interval_s
                    try:
                        run_periodic_in_app(app, periodic.name)
                    except Exception:
                        log.exception("periodic_failed name=%s", periodic.name)
            time.sleep(1)

    thread = threading.Thread(target=loop, name="sentinel-cron", daemon=True)
    thread.start()
    return thread
