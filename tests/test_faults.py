"""Workers and the scheduler through faults (issue 11), with real processes.

- ``sentinel worker`` and ``sentinel cron`` survive Redis going away and coming back empty;
- ``sentinel health`` fails within seconds of the last worker or the scheduler stopping;
- periodic work is served during a backlog on the bulk queue;
- a work horse killed mid-job: the job runs again within a minute, its effect happens once;
- attempts are decided in one place: a job declared with one attempt runs once;
- the watchdog limits are settings the banner and the health check share;
- services do not import the jobs package (the import cycle is gone).

These start a private ``redis-server`` and ``sentinel`` subprocesses and take up to a minute
each, so they run in ``make test``'s PostgreSQL + Redis pass only (several processes
writing one SQLite file would also fight over its lock).
"""

# ruff: noqa: F811  (the fixtures imported from test_jobs are used as arguments)
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select, update

from sentinel import queues
from sentinel.extensions import db
from sentinel.jobqueue import deliver, enqueue, rq_job_id
from sentinel.jobs import liveness, recovery, registry
from sentinel.jobs.schedule import PERIODIC
from sentinel.models import JobRun, utcnow
from tests.support.processes import ROOT, RedisServer, Sentinel, wait_for
from tests.test_jobs import (  # noqa: F401  (fixtures)
    EXTRA_MODULES,
    entered,
    feed,
    fresh,
    new_item,
    redis_server,
    rq_app,
    slow_jobs,
    slow_mark_events,
)

REAL_REDIS = os.environ.get("SENTINEL_TEST_REDIS_URL")
needs_real_servers = pytest.mark.skipif(
    not REAL_REDIS, reason="故障测试只在 PostgreSQL + Redis 测试轮运行（make test 第二轮）"
)


@pytest.fixture
def sentinel(
    rq_app: Flask, database_url: str, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Callable[..., Sentinel]]:
    """Start ``sentinel worker`` / ``sentinel cron`` subprocesses; all killed at teardown."""
    started: list[Sentinel] = []
    base_env = {
        "SENTINEL_DATABASE_URL": database_url,
        "SENTINEL_REDIS_URL": redis_server.url,
        "SENTINEL_JOBS_MODE": "rq",
        "SENTINEL_INSTANCE_PATH": str(tmp_path / "proc-instance"),
        "SENTINEL_MODELS_DIR": str(tmp_path / "proc-models"),
        "SENTINEL_SECRET_KEY": "test-secret",
        "SENTINEL_EXTRA_JOB_MODULES": EXTRA_MODULES,
        "PYTHONPATH": str(ROOT),
    }

    def start(*args: str, **settings: Any) -> Sentinel:
        env = {**base_env, **{f"SENTINEL_{k}": str(v) for k, v in settings.items()}}
        proc = Sentinel(list(args), env, tmp_path / f"{args[0]}{len(started)}.log")
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()


def conn_of(server: RedisServer) -> Redis:
    return Redis.from_url(server.url, socket_connect_timeout=1)


def registered_workers(server: RedisServer, queue: str) -> int:
    try:
        return len(liveness.live_workers(conn_of(server), queue, 30))
    except Exception:
        return 0


def scheduler_age(server: RedisServer) -> float | None:
    try:
        return liveness.scheduler_heartbeat_age_s(conn_of(server))
    except Exception:
        return None


def wait_alive(proc: Sentinel, predicate: Callable[[], object], timeout: float, what: str) -> None:
    try:
        wait_for(predicate, timeout, what, step=0.2)
    except TimeoutError:
        pytest.fail(f"{what}: timed out; running={proc.running()}\n{proc.log()[-3000:]}")


def quiet_item(feed: Any, server: RedisServer) -> int:
    """An unprocessed item whose own processing job is withdrawn (the workers here serve
    every queue and would process it before the test's job gets to it)."""
    item_id = new_item(feed)
    Queue(queues.BULK, connection=conn_of(server)).empty()
    db.session.execute(
        update(JobRun).where(JobRun.name == "process_items").values(status="succeeded")
    )
    db.session.commit()
    return item_id


def runs_of(name: str) -> list[JobRun]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.scalars(select(JobRun).where(JobRun.name == name).order_by(JobRun.id)))


# ------------------------------------------------------------------ Redis outage


@needs_real_servers
def test_worker_and_cron_survive_a_redis_outage(
    rq_app, feed, slow_jobs, sentinel, redis_server, tmp_path
):
    worker = sentinel("worker")
    cron = sentinel("cron")
    wait_alive(worker, lambda: registered_workers(redis_server, queues.BULK), 30, "worker up")
    wait_alive(cron, lambda: scheduler_age(redis_server) is not None, 30, "scheduler up")
    wait_alive(cron, lambda: runs_of("recover_jobs"), 30, "the first recovery sweep")

    redis_server.kill()
    time.sleep(8)  # long enough for both to hit the outage (they heartbeat every 5 s)
    assert worker.running(), worker.log()[-3000:]
    assert cron.running(), cron.log()[-3000:]
    redis_server.start()  # back, and empty (no persistence)

    # Both keep running, show up in RQ's registries again, and serve new work.
    wait_alive(worker, lambda: registered_workers(redis_server, queues.BULK), 30, "worker back")
    wait_alive(
        cron,
        lambda: (age := scheduler_age(redis_server)) is not None and age < 10,
        30,
        "scheduler heartbeat back",
    )
    item_id = quiet_item(feed, redis_server)
    run = enqueue("slow_mark", item_id=item_id, gate=str(tmp_path / "gate"), hold="none")
    db.session.commit()
    wait_alive(worker, lambda: fresh(JobRun, run.id).status == "succeeded", 30, "new work done")
    # The scheduler still enqueues periodic work (the sweep every 30 s).
    sweeps = len(runs_of("recover_jobs"))
    wait_alive(cron, lambda: len(runs_of("recover_jobs")) > sweeps, 45, "a sweep after the outage")
    assert worker.running() and cron.running()

    # A stop (systemd's SIGTERM) still stops them, and they say goodbye to RQ's registries.
    assert worker.terminate(15) == 0, worker.log()[-2000:]
    assert cron.terminate(15) == 0, cron.log()[-2000:]
    assert registered_workers(redis_server, queues.BULK) == 0
    assert scheduler_age(redis_server) is None


@needs_real_servers
def test_worker_and_cron_stop_on_sigterm_while_redis_is_down(sentinel, redis_server):
    worker = sentinel("worker")
    cron = sentinel("cron")
    wait_alive(worker, lambda: registered_workers(redis_server, queues.BULK), 30, "worker up")
    wait_alive(cron, lambda: scheduler_age(redis_server) is not None, 30, "scheduler up")
    redis_server.kill()
    time.sleep(7)  # both are now backing off / retrying
    assert worker.running() and cron.running()
    assert worker.terminate(15) == 0, worker.log()[-2000:]
    assert cron.terminate(15) == 0, cron.log()[-2000:]


# ------------------------------------------------------------------ health


@needs_real_servers
def test_health_fails_within_seconds_of_the_worker_or_scheduler_stopping(
    rq_app, sentinel, redis_server
):
    # The defaults fail health within a minute of a silent worker or scheduler.
    defaults = rq_app.config
    assert defaults["HEARTBEAT_S"] * 3 <= defaults["HEARTBEAT_STALE_AFTER_S"] <= 45
    # Faster here: heartbeat every second, dead after 4 s of silence.
    fast = {"HEARTBEAT_S": 1, "HEARTBEAT_STALE_AFTER_S": 4}
    rq_app.config.update(fast)
    cli = rq_app.test_cli_runner()

    def problems() -> str:
        return "\n".join(
            line for line in cli.invoke(args=["health"]).output.splitlines() if "✗" in line
        )

    assert "没有在线的处理进程" in problems() and "定时调度进程没有心跳" in problems()
    worker = sentinel("worker", **fast)
    cron = sentinel("cron", **fast)
    wait_alive(worker, lambda: "处理进程" not in problems(), 30, "health sees the worker")
    wait_alive(cron, lambda: "定时调度" not in problems(), 30, "health sees the scheduler")

    worker.kill()  # SIGKILL: no goodbye, only the heartbeat stops
    stopped = time.monotonic()
    wait_for(
        lambda: "队列 interactive 没有在线的处理进程" in problems(), 20, "red after the worker"
    )
    assert time.monotonic() - stopped < 15  # 4 s of silence, plus the check's own time

    cron.kill()
    stopped = time.monotonic()
    wait_for(lambda: "定时调度进程没有心跳" in problems(), 20, "red after the scheduler")
    assert time.monotonic() - stopped < 15


def test_health_fails_when_a_job_waits_too_long(rq_app, redis_server):
    rq_app.config["QUEUE_MAX_WAIT_S"] = 1
    enqueue("process_items", item_ids=[])
    db.session.commit()
    time.sleep(2)
    result = rq_app.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 1
    assert "✗ 队列 interactive 最早的任务已等待" in result.output


def test_watchdog_limit_is_one_setting_for_banner_and_health(app, runner, office):
    """SWEEP_STALE_AFTER_S moves the health check too (it was fixed at 600 s in code)."""
    from sentinel.services import watchdog

    app.config["SWEEP_STALE_AFTER_S"] = 60
    at = utcnow() - timedelta(seconds=120)
    db.session.add(
        JobRun(
            name="deadline_sweep",
            status="succeeded",
            attempts=1,
            created_at=at,
            updated_at=at,
            started_at=at,
            finished_at=at,
        )
    )
    db.session.commit()
    assert watchdog.sweep_late_message() is not None  # the banner
    result = runner.invoke(args=["health"])
    assert result.exit_code == 1, result.output
    assert "✗ 定时任务 deadline_sweep 上次成功于" in result.output
    assert "已超过 60 秒" in result.output
    app.config["SWEEP_STALE_AFTER_S"] = 600
    assert watchdog.sweep_late_message() is None
    assert "✗ 定时任务 deadline_sweep" not in runner.invoke(args=["health"]).output


# ------------------------------------------------------------------ starvation


@needs_real_servers
def test_periodic_job_runs_within_seconds_during_a_backlog(
    rq_app, slow_jobs, sentinel, redis_server
):
    for _ in range(30):
        enqueue("busy_default", seconds=1)
    db.session.commit()
    worker = sentinel("worker")  # the default queue set, in its serving order
    wait_alive(worker, lambda: runs_of("busy_default")[0].status != "pending", 30, "backlog")
    backlog = Queue(queues.BULK, connection=conn_of(redis_server)).count
    assert backlog >= 20

    # What RQ cron does every 30 s: put the recovery sweep on the maintenance queue.
    Queue(registry.get("recover_jobs").queue, connection=conn_of(redis_server)).enqueue(
        "sentinel.jobs.periodic.run_periodic", "recover_jobs"
    )
    enqueued = time.monotonic()
    wait_alive(
        worker,
        lambda: any(r.status == "succeeded" for r in runs_of("recover_jobs")),
        15,
        "the periodic job",
    )
    assert time.monotonic() - enqueued < 10
    # It overtook the backlog.
    assert Queue(queues.BULK, connection=conn_of(redis_server)).count >= backlog - 10


def test_workers_serve_maintenance_first():
    names = registry.queue_names()
    assert names[0] == queues.MAINTENANCE
    assert queues.ordered(["bulk", "zz", "interactive", "maintenance"]) == [
        "maintenance",
        "interactive",
        "bulk",
        "zz",
    ]


# ------------------------------------------------------------------ killed work horse


@needs_real_servers
def test_killed_work_horse_job_runs_again_within_a_minute_once(
    rq_app, feed, slow_jobs, sentinel, redis_server, tmp_path
):
    item_id = quiet_item(feed, redis_server)
    gate = tmp_path / "gate"
    gate.touch()
    run = enqueue("slow_mark_forked", item_id=item_id, gate=str(gate), hold="after", seconds=60)
    db.session.commit()
    run_id = run.id
    worker = sentinel("worker")
    cron = sentinel("cron")  # runs the recovery sweep every 30 s
    wait_alive(worker, lambda: entered(gate), 30, "the job to start")
    wait_alive(worker, lambda: slow_mark_events(item_id) == 1, 15, "the effect committed")
    db.session.rollback()
    assert fresh(JobRun, run_id).status == "running"

    assert worker.kill_children(), "no work horse to kill"
    killed = time.monotonic()
    gate.unlink()
    wait_alive(
        cron,
        lambda: fresh(JobRun, run_id).status == "succeeded",
        65,
        "the job to run again",
    )
    assert time.monotonic() - killed < 60
    run = fresh(JobRun, run_id)
    assert run.attempts == 2
    assert run.result == {"changed": 0}  # the second run found the effect done
    assert len(entered(gate)) == 2
    assert slow_mark_events(item_id) == 1  # exactly once
    assert worker.running()


# ------------------------------------------------------------------ attempts


@needs_real_servers
def test_job_with_one_attempt_runs_once(rq_app, slow_jobs, sentinel, redis_server, tmp_path):
    log = tmp_path / "attempts"
    run = enqueue("always_fails", log=str(log))
    db.session.commit()
    run_id = run.id
    worker = sentinel("worker")
    wait_alive(worker, lambda: fresh(JobRun, run_id).status == "failed", 30, "the failure")
    conn = conn_of(redis_server)
    queue = Queue(registry.get("always_fails").queue, connection=conn)
    wait_for(lambda: rq_job_id(run_id) in FailedJobRegistry(queue=queue), 10, "RQ failed it")
    # RQ does not retry it ...
    assert ScheduledJobRegistry(queue=queue).count == 0
    # ... the sweep does not either, however long ago it failed ...
    db.session.execute(
        update(JobRun).where(JobRun.id == run_id).values(updated_at=utcnow() - timedelta(hours=1))
    )
    db.session.commit()
    result = recovery.recover()
    assert (result["redelivered"], result["exhausted"]) == (0, 1)
    # ... and a stray second delivery is refused by the claim.
    deliver(rq_app, [(run_id, "always_fails")])
    wait_for(lambda: queue.count == 0, 15, "the stray delivery to be taken")
    time.sleep(2)
    assert log.read_text().split() and len(log.read_text().split()) == 1
    run = fresh(JobRun, run_id)
    assert (run.status, run.attempts) == ("failed", 1)


def test_attempts_left_is_the_one_rule(app, slow_jobs):
    from sentinel.jobs import runner

    spec = registry.get("always_fails")
    assert spec.max_attempts == 1
    assert registry.attempts_left(spec, 0) and not registry.attempts_left(spec, 1)
    run = JobRun(name="always_fails", args={"log": os.devnull}, status="failed", attempts=1)
    db.session.add(run)
    db.session.commit()
    assert runner.run_job_in_app(app, run.id) is None  # not claimed: no attempts left
    assert fresh(JobRun, run.id).attempts == 1


# ------------------------------------------------------------------ import cycle


def test_services_do_not_import_the_jobs_package():
    code = (
        "import importlib, pkgutil, sys\n"
        "import sentinel.services as s\n"
        "for m in pkgutil.iter_modules(s.__path__):\n"
        "    importlib.import_module('sentinel.services.' + m.name)\n"
        "print(sorted(k for k in sys.modules if k.startswith('sentinel.jobs')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_periodic_limits_are_settings(app):
    for periodic in PERIODIC:
        assert periodic.stale_after_s(app.config) == int(app.config[periodic.stale_setting])
