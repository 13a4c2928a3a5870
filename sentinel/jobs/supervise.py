"""Keep ``sentinel worker`` and ``sentinel cron`` running through Redis outages.

RQ's worker gives up on some Redis errors (a heartbeat or maintenance call that fails
outside its dequeue retry: "found an unhandled exception, quitting"), and RQ's cron
scheduler stops on the first one. Both loops here build a fresh worker / scheduler on a
fresh connection after such an exit, with exponential back-off (1 s doubling to 30 s), and
return only when the process is asked to stop (SIGTERM / SIGINT). A systemd unit with
``Restart=always`` (``deploy/systemd/``) covers the process itself dying.

While Redis is back but was restarted empty, a live worker or scheduler would be missing
from RQ's registries (health would call it dead): the keep-alive re-registers it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

from flask import Flask
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker, worker_registration
from rq.cron import CronScheduler
from rq.cron_scheduler_registry import get_registry_key as cron_registry_key
from rq.exceptions import SchedulerNotFound
from rq.utils import now, utcformat

log = logging.getLogger(__name__)

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
CRON_CONFIG = "sentinel.jobs.cron_config"


class Backoff:
    """1, 2, 4 … ``BACKOFF_MAX_S`` seconds; back to 1 after a run that lasted a minute."""

    def __init__(self) -> None:
        self.delay = BACKOFF_FIRST_S

    def next(self, ran_for_s: float) -> float:
        if ran_for_s >= 60:
            self.delay = BACKOFF_FIRST_S
        delay = self.delay
        self.delay = min(self.delay * 2, BACKOFF_MAX_S)
        return delay


class StopFlag:
    """SIGTERM / SIGINT between runs (RQ installs its own handlers while it runs)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, signum: int, frame: Any) -> None:
        self.event.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when a stop was asked for."""
        return self.event.wait(seconds)


def connect(url: str) -> Redis:
    """A new connection for one worker / scheduler life (never the web's shared one)."""
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)


# ------------------------------------------------------------------------- worker


def run_worker(
    app: Flask,
    queue_names: Sequence[str],
    worker_class: type[Worker] = Worker,
    burst: bool = False,
) -> None:
    """Run an RQ worker on ``queue_names`` (served in that order) until asked to stop."""
    config = app.config
    heartbeat_s = int(config["HEARTBEAT_S"])
    stop = StopFlag()
    backoff = Backoff()
    while not stop.event.is_set():
        started = time.monotonic()
        worker: Worker | None = None
        try:
            conn = connect(config["REDIS_URL"])
            worker = worker_class(
                [Queue(name, connection=conn) for name in queue_names],
                connection=conn,
                # RQ heartbeats an idle worker every worker_ttl - 15 s and a busy one every
                # job_monitoring_interval; the keep-alive below covers workers that run
                # jobs in their own process (no work horse to monitor).
                worker_ttl=heartbeat_s + 15,
                job_monitoring_interval=heartbeat_s,
            )
            with _keep_alive(worker, config["REDIS_URL"], heartbeat_s):
                worker.work(burst=burst, logging_level="INFO")
            if burst or _stop_requested(worker) or stop.event.is_set():
                return
            log.warning("worker_exited name=%s restarting", worker.name)
        except REDIS_ERRORS as exc:
            log.warning("worker_redis_error error=%s", type(exc).__name__)
        if worker is not None and _stop_requested(worker):
            return
        stop.install()
        delay = backoff.next(time.monotonic() - started)
        log.info("worker_restart_in seconds=%.0f", delay)
        if stop.wait(delay):
            return


def _stop_requested(worker: Worker) -> bool:
    # RQ's own SIGTERM/SIGINT handler records when a warm shutdown was asked for.
    return getattr(worker, "_shutdown_requested_date", None) is not None


class _keep_alive:
    """A thread that heartbeats ``worker`` and re-registers it if Redis forgot it.

    It has a connection of its own: the worker forks work horses, and a child must never
    inherit a connection pool another thread was using at the moment of the fork.
    """

    def __init__(self, worker: Worker, redis_url: str, every_s: int) -> None:
        self.worker = worker
        self.redis_url = redis_url
        self.every_s = every_s
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sentinel-keepalive", daemon=True)

    def __enter__(self) -> _keep_alive:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=self.every_s + 5)

    def _run(self) -> None:
        conn = connect(self.redis_url)
        try:
            while not self.done.wait(self.every_s):
                try:
                    self._beat(conn)
                except Exception as exc:  # Redis down: the worker's own loop deals with it
                    log.debug("keepalive_failed error=%s", type(exc).__name__)
        finally:
            conn.close()

    def _beat(self, conn: Redis) -> None:
        worker = self.worker
        if worker.birth_date is None:  # not registered yet
            return
        if _stop_requested(worker):
            # Stopping: RQ unregisters the worker on its way out; a beat in between would
            # register it again and leave a dead worker in the registries.
            return
        worker.last_heartbeat = now()
        with conn.pipeline() as pipe:
            if not conn.sismember(worker_registration.REDIS_WORKER_KEYS, worker.key):
                # Redis restarted empty: register again, as RQ's register_birth does (which
                # refuses while RQ's own heartbeat has recreated the hash).
                pipe.hset(worker.key, mapping=worker.serialize())
                worker_registration.register(worker, pipe)
                log.info("worker_registered_again name=%s", worker.name)
            # What RQ's Worker.heartbeat() writes.
            pipe.hset(worker.key, "last_heartbeat", utcformat(worker.last_heartbeat))
            pipe.expire(worker.key, worker.worker_ttl + 60)
            pipe.execute()


# ------------------------------------------------------------------------- cron


class SentinelCronScheduler(CronScheduler):
    """RQ's CronScheduler, heartbeating every ``heartbeat_s`` and surviving a Redis restart.

    RQ's scheduler sleeps up to 60 s between heartbeats, and after Redis comes back empty
    its heartbeat (``ZADD XX``) no longer registers it: health would call it dead.
    """

    heartbeat_s: float = 5
    stop_requested = False

    def _request_stop(self, signum: int, frame: Any) -> None:
        self.stop_requested = True
        super()._request_stop(signum, frame)

    def calculate_sleep_interval(self) -> float:
        return min(super().calculate_sleep_interval(), self.heartbeat_s)

    def heartbeat(self) -> None:
        with self.connection.pipeline() as pipe:
            pipe.zadd(cron_registry_key(), {self.name: time.time()})
            pipe.hset(self.key, mapping=self.to_dict())
            pipe.expire(self.key, 120)
            pipe.execute()


def run_cron(
    app: Flask, scheduler_class: type[SentinelCronScheduler] = SentinelCronScheduler
) -> None:
    """Run RQ's cron scheduler with sentinel's schedule until asked to stop."""
    config = app.config
    stop = StopFlag()
    backoff = Backoff()
    previous: SentinelCronScheduler | None = None
    while not stop.event.is_set():
        started = time.monotonic()
        scheduler = scheduler_class(connection=connect(config["REDIS_URL"]))
        scheduler.heartbeat_s = int(config["HEARTBEAT_S"])
        try:
            scheduler.load_config_from_file(CRON_CONFIG)
            if previous is not None:
                _carry_over(previous, scheduler)
            previous = scheduler
            # start() returns on SIGTERM / SIGINT (StopRequested, KeyboardInterrupt).
            scheduler.start()
            return
        except SchedulerNotFound:
            return  # stopping after Redis forgot us: nothing to unregister
        except REDIS_ERRORS as exc:
            log.warning("cron_redis_error error=%s", type(exc).__name__)
        if scheduler.stop_requested:
            return
        stop.install()
        delay = backoff.next(time.monotonic() - started)
        log.info("cron_restart_in seconds=%.0f", delay)
        if stop.wait(delay):
            return


def _carry_over(previous: CronScheduler, scheduler: CronScheduler) -> None:
    """Keep each job's timing across a restart: an interval job RQ has never enqueued runs
    at once, and a daily job must not run again just because Redis blinked."""
    timing = {job.name: job for job in previous.get_jobs()}
    for job in scheduler.get_jobs():
        before = timing.get(job.name)
        if before is not None and before.latest_enqueue_time is not None:
            job.latest_enqueue_time = before.latest_enqueue_time
            job.next_enqueue_time = before.next_enqueue_time
