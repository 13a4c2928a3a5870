"""Who is alive, read from RQ's own registries: workers, their jobs, cron schedulers.

A worker writes ``last_heartbeat`` into its ``rq:worker:<name>`` hash (RQ does it while
idle and while its work horse runs; ``sentinel worker`` adds a keep-alive every
``HEARTBEAT_S``); a cron scheduler scores itself in the ``rq:cron_schedulers`` set. Anything
silent for ``HEARTBEAT_STALE_AFTER_S`` is dead. The health check and the recovery sweep
both decide with the functions here.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from redis import Redis
from rq import Queue, Worker
from rq.cron_scheduler_registry import get_registry_key as cron_registry_key
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.worker import BaseWorker

from sentinel.models import utcnow


def heartbeat_fresh(last: datetime | None, stale_after_s: float) -> bool:
    """True when ``last`` (an RQ heartbeat time) is younger than ``stale_after_s``."""
    if last is None:
        return False
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return (utcnow() - last).total_seconds() <= stale_after_s


def live_workers(conn: Redis, queue_name: str, stale_after_s: float) -> list[BaseWorker]:
    """Registered workers serving ``queue_name`` whose heartbeat is fresh."""
    workers = Worker.all(queue=Queue(queue_name, connection=conn))
    return [w for w in workers if heartbeat_fresh(w.last_heartbeat, stale_after_s)]


def oldest_wait_s(conn: Redis, queue_name: str) -> float | None:
    """Seconds the job at the head of the queue has waited (None: the queue is empty)."""
    queue = Queue(queue_name, connection=conn)
    for job_id in queue.get_job_ids(0, 0):
        try:
            job = Job.fetch(job_id, connection=conn)
        except NoSuchJobError:
            continue
        if job.enqueued_at is None:
            return None
        enqueued = job.enqueued_at
        if enqueued.tzinfo is None:
            enqueued = enqueued.replace(tzinfo=UTC)
        return max(0.0, (utcnow() - enqueued).total_seconds())
    return None


def scheduler_heartbeat_age_s(conn: Redis) -> float | None:
    """Seconds since the freshest cron scheduler's heartbeat (None: none registered)."""
    newest = conn.zrevrange(cron_registry_key(), 0, 0, withscores=True)
    if not newest:
        return None
    return max(0.0, time.time() - float(newest[0][1]))


def rq_job_alive(conn: Redis, rq_job_id: str, stale_after_s: float) -> bool:
    """True while the RQ job that claimed a run is still being worked on.

    It is dead when RQ no longer has it started (its work horse was killed and RQ failed
    it, or Redis lost it), or when the worker it started on has stopped heartbeating, has
    left the registry, or has moved on to another job.
    """
    try:
        job = Job.fetch(rq_job_id, connection=conn)
    except NoSuchJobError:
        return False
    if job.get_status(refresh=False) != JobStatus.STARTED or not job.worker_name:
        return False
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, conn)
    if worker is None or not heartbeat_fresh(worker.last_heartbeat, stale_after_s):
        return False
    return worker.get_current_job_id() == job.id


def forget_dead_execution(conn: Redis, rq_job_id: str) -> None:
    """Drop a dead worker's execution of ``rq_job_id`` from RQ's started registry.

    RQ's own clean-up would otherwise find it minutes later and mark the job failed — by
    then the same job id has been delivered again and may have run fine.
    """
    try:
        job = Job.fetch(rq_job_id, connection=conn)
    except NoSuchJobError:
        return
    if job.get_status(refresh=False) == JobStatus.STARTED and job.origin:
        StartedJobRegistry(job.origin, connection=conn).remove_executions(job)
