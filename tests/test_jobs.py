"""Job guarantees (issue 4, point 5), against the real database, Redis and RQ workers.

- enqueue happens only after commit; a rolled-back transaction (or savepoint) delivers nothing;
- a JobRun delivered twice runs once (the claim); a job run twice has no double effect;
- the recovery sweep re-delivers what was never delivered or never finished;
- Redis down during ingest loses nothing; a worker killed mid-job is recovered, once;
- ``sentinel health`` and the ``rq cron`` configuration.

Redis tests use a private ``redis-server`` on a free port (started and killed here), so
they run in both passes; worker subprocesses reach the pass's database (SQLite file or
PostgreSQL).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue, SimpleWorker
from rq.timeouts import TimerDeathPenalty
from sqlalchemy import func, select, text, update

from sentinel import create_app, queues
from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.jobqueue import deliver, enqueue, rq_job_id
from sentinel.jobs import recovery, registry, runner
from sentinel.jobs.schedule import PERIODIC
from sentinel.models import AuditEvent, Item, JobRun, utcnow
from sentinel.services import sources
from tests.support.processes import REDIS_SERVER, RedisServer, Worker, wait_for

EXTRA_MODULES = "tests.support.slow_jobs"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def slow_jobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register the test-only ``slow_mark`` job through the SENTINEL_EXTRA_JOB_MODULES hook."""
    monkeypatch.setenv("SENTINEL_EXTRA_JOB_MODULES", EXTRA_MODULES)
    if EXTRA_MODULES in sys.modules:  # registered again after an earlier test's teardown
        importlib.reload(sys.modules[EXTRA_MODULES])
    registry.load_all()
    assert "slow_mark" in registry.all_jobs()
    yield
    # Other test files see only the real jobs (health lists every job's queue).
    for name in ("slow_mark", "slow_mark_forked", "busy_default", "always_fails"):
        registry._JOBS.pop(name, None)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if not os.path.exists(REDIS_SERVER):
        pytest.skip(f"{REDIS_SERVER} 不存在：跳过需要私有 Redis 的测试")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def rq_app(
    app: Flask, app_config: dict[str, Any], redis_server: RedisServer, tmp_path: Path
) -> Iterator[Flask]:
    """The app in production job mode (RQ + the private Redis), on the same database."""
    rq_app = create_app(
        {
            **app_config,
            "JOBS_MODE": "rq",
            "REDIS_URL": redis_server.url,
            "INSTANCE_PATH": str(tmp_path / "rq-instance"),
        }
    )
    with rq_app.app_context():
        try:
            yield rq_app
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def workers(
    rq_app: Flask, database_url: str, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Start ``rq worker`` subprocesses; every one is killed at teardown, whatever happened."""
    started: list[Worker] = []
    env = {
        "SENTINEL_DATABASE_URL": database_url,
        "SENTINEL_REDIS_URL": redis_server.url,
        "SENTINEL_JOBS_MODE": "rq",
        "SENTINEL_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "SENTINEL_SECRET_KEY": "test-secret",
        "SENTINEL_EXTRA_JOB_MODULES": EXTRA_MODULES,
        "SENTINEL_JOB_STALE_AFTER_S": "1",
    }

    def start(queues: list[str], burst: bool = False) -> Worker:
        log = tmp_path / f"worker{len(started)}.log"
        worker = Worker(queues, redis_server.url, env, log, burst)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


class Feed:
    """One API source and its token: all these tests need (cheaper than the full office)."""

    actor = Actor(label="test")

    def __init__(self) -> None:
        self.source = sources.create_source(self.actor, "测试微博", "weibo", "测试县发布", None)
        self.token = sources.issue_token(self.actor, self.source)
        db.session.commit()
        self.count = 0

    def ingest(self, *texts: str) -> list[Any]:
        """Ingest texts as new items (external ids f0, f1, …) and commit."""
        from sentinel.services import ingest

        incoming = [
            ingest.IncomingItem(external_id=f"f{self.count + n}", text=text)
            for n, text in enumerate(texts)
        ]
        self.count += len(texts)
        results = ingest.ingest_items(self.actor, self.source, incoming)
        db.session.commit()
        return results


@pytest.fixture
def feed(app: Flask) -> Feed:
    return Feed()


class InProcessWorker(SimpleWorker):
    # A timer thread, not SIGALRM: pytest-timeout owns the alarm signal in this process.
    death_penalty_class = TimerDeathPenalty


def work_burst(
    app: Flask, redis_url: str, queues: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run an RQ worker in this process until the queues are empty (the DB is shared)."""
    monkeypatch.setattr(runner, "_worker_app", app)
    with Redis.from_url(redis_url) as conn:
        InProcessWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")


def fresh(model: Any, ident: int) -> Any:
    """Re-read a row as committed by another session or process."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, ident)


def count(stmt: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def process_runs() -> list[JobRun]:
    return list(
        db.session.scalars(select(JobRun).where(JobRun.name == "process_items").order_by(JobRun.id))
    )


def new_item(feed: Feed, text: str = "路灯坏了一个月") -> int:
    """An item stored but not processed yet (sync mode processes on ingest: undo that)."""
    item_id = feed.ingest(text)[0].id
    db.session.execute(update(Item).where(Item.id == item_id).values(processed_at=None))
    db.session.commit()
    return int(item_id)


def entered(gate: Path) -> list[str]:
    """One line per time ``slow_mark`` was entered for this gate."""
    path = Path(str(gate) + ".entered")
    return path.read_text().split() if path.exists() else []


def slow_mark_events(item_id: int) -> int:
    return count(
        select(AuditEvent.id).where(
            AuditEvent.action == "items.slow_mark", AuditEvent.object_id == item_id
        )
    )


def post_items(client: Any, token: str, items: list[dict[str, Any]]) -> Any:
    return client.post(
        "/api/v1/items", json={"items": items}, headers={"Authorization": f"Bearer {token}"}
    )


# ------------------------------------------------------------------ enqueue after commit


def test_committed_transaction_delivers_its_job(feed, slow_jobs, tmp_path):
    item_id = new_item(feed)
    gate = tmp_path / "gate"
    run = enqueue("slow_mark", item_id=item_id, gate=str(gate), hold="none")
    assert entered(gate) == []  # nothing runs before the commit
    db.session.commit()
    assert len(entered(gate)) == 1
    run = fresh(JobRun, run.id)
    assert (run.status, run.attempts, run.result) == ("succeeded", 1, {"changed": 1})
    assert fresh(Item, item_id).processed_at is not None


def test_rolled_back_transaction_delivers_nothing(feed, slow_jobs, tmp_path):
    item_id = new_item(feed)
    gate = tmp_path / "gate"
    enqueue("slow_mark", item_id=item_id, gate=str(gate), hold="none")
    db.session.rollback()
    # A later, unrelated commit must not deliver the discarded run either.
    feed.ingest("垃圾没人收")
    assert entered(gate) == []
    assert count(select(JobRun.id).where(JobRun.name == "slow_mark")) == 0


def test_rolled_back_ingest_stores_and_delivers_nothing(feed):
    from sentinel.services import ingest

    before = len(process_runs())
    ingest.ingest_items(
        feed.actor, feed.source, [ingest.IncomingItem(external_id="rb-1", text="回滚的留言")]
    )
    db.session.rollback()
    assert count(select(Item.id).where(Item.external_id == "rb-1")) == 0
    assert len(process_runs()) == before


def test_rolled_back_savepoint_delivers_nothing(feed, slow_jobs, tmp_path):
    item_id = new_item(feed)
    dropped, kept = tmp_path / "dropped", tmp_path / "kept"
    with pytest.raises(RuntimeError), db.session.begin_nested():
        enqueue("slow_mark", item_id=item_id, gate=str(dropped), hold="none")
        raise RuntimeError("one case of a bulk action failed")
    enqueue("slow_mark", item_id=item_id, gate=str(kept), hold="none")
    db.session.commit()
    assert entered(dropped) == []
    assert len(entered(kept)) == 1
    assert count(select(JobRun.id).where(JobRun.name == "slow_mark")) == 1


def test_refused_api_batch_enqueues_nothing(client, feed):
    response = post_items(
        client,
        feed.token,
        [{"external_id": "a", "text": "好的留言"}, {"external_id": "b", "text": ""}],
    )
    assert response.status_code == 422
    assert count(select(JobRun.id)) == 0 and count(select(Item.id)) == 0


def test_rq_mode_enqueues_only_after_commit(rq_app, feed, redis_server):
    default = Queue(queues.INTERACTIVE, connection=Redis.from_url(redis_server.url))
    default.empty()
    enqueue("process_items", item_ids=[1])
    assert default.count == 0
    db.session.rollback()
    assert default.count == 0
    run = enqueue("process_items", item_ids=[1])
    assert default.count == 0
    db.session.commit()
    assert default.job_ids == [rq_job_id(run.id)]


# ------------------------------------------------------------- claim and idempotence


def test_run_delivered_twice_runs_once(app, feed, slow_jobs, tmp_path):
    item_id = new_item(feed)
    gate = tmp_path / "gate"
    run = JobRun(name="slow_mark", args={"item_id": item_id, "gate": str(gate), "hold": "none"})
    db.session.add(run)
    db.session.commit()
    deliver(app, [(run.id, run.name), (run.id, run.name)])
    assert runner.run_job_in_app(app, run.id) is None  # a third delivery: skipped
    assert len(entered(gate)) == 1
    run = fresh(JobRun, run.id)
    assert (run.status, run.attempts) == ("succeeded", 1)
    assert slow_mark_events(item_id) == 1


def test_concurrent_deliveries_claim_once(app, feed, slow_jobs, tmp_path):
    item_id = new_item(feed)
    gate = tmp_path / "gate"
    gate.touch()  # the winner holds until both threads have tried to claim
    run = JobRun(name="slow_mark", args={"item_id": item_id, "gate": str(gate), "seconds": 10})
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(runner.run_job_in_app(app, run_id)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(results) == 1, 10, "the losing claim")
    gate.unlink()
    for thread in threads:
        thread.join(10)
    assert sorted(results, key=str) == [None, {"changed": 1}]
    assert len(entered(gate)) == 1
    assert fresh(JobRun, run_id).attempts == 1


def test_process_items_twice_has_no_double_effect(feed):
    ids = [r.id for r in feed.ingest("路灯坏了", "垃圾没人收")]
    first = {i: fresh(Item, i).processed_at for i in ids}
    assert all(first.values())
    enqueue("process_items", item_ids=ids)
    db.session.commit()
    second_run = process_runs()[-1]
    assert (second_run.status, second_run.result) == ("succeeded", {"processed": 0})
    assert {i: fresh(Item, i).processed_at for i in ids} == first


# ------------------------------------------------------------------------ the sweep


def add_run(name: str, status: str, age_s: float = 0, **fields: Any) -> JobRun:
    at = utcnow() - timedelta(seconds=age_s)
    run = JobRun(
        name=name,
        status=status,
        created_at=at,
        updated_at=at,
        started_at=at if status in ("running", "failed") else None,
        **fields,
    )
    db.session.add(run)
    db.session.flush()
    return run


def unprocessed_items(feed: Feed, *texts: str) -> list[int]:
    """Items stored but never processed (as if their job was lost), received long ago."""
    ids = [r.id for r in feed.ingest(*texts)]
    db.session.execute(
        update(Item)
        .where(Item.id.in_(ids))
        .values(processed_at=None, received_at=utcnow() - timedelta(hours=1))
    )
    db.session.execute(update(JobRun).values(status="succeeded"))
    db.session.commit()
    return ids


def test_sweep_redelivers_pending_runs_after_the_grace_period(feed):
    old_ids = unprocessed_items(feed, "路灯坏了")
    new_ids = [r.id for r in feed.ingest("垃圾没人收")]
    db.session.execute(update(Item).where(Item.id.in_(new_ids)).values(processed_at=None))
    old = add_run(
        "process_items", "pending", recovery.PENDING_GRACE_S + 30, args={"item_ids": old_ids}
    )
    young = add_run("process_items", "pending", 1, args={"item_ids": new_ids})
    db.session.commit()
    result = recovery.recover()
    assert result == {"lost": 0, "redelivered": 1, "exhausted": 0, "orphan_items": 0}
    assert fresh(JobRun, old.id).status == "succeeded"
    assert fresh(Item, old_ids[0]).processed_at is not None
    assert fresh(JobRun, young.id).status == "pending"  # may still be on its way


def test_sweep_redelivers_stale_running_runs_only(feed):
    ids = unprocessed_items(feed, "路灯坏了", "垃圾没人收")
    timeout = registry.get("process_items").timeout
    dead = add_run("process_items", "running", timeout + 60, attempts=1, args={"item_ids": ids[:1]})
    alive = add_run("process_items", "running", 5, attempts=1, args={"item_ids": ids[1:]})
    db.session.commit()
    assert recovery.recover()["redelivered"] == 1
    dead, alive = fresh(JobRun, dead.id), fresh(JobRun, alive.id)
    assert (dead.status, dead.attempts) == ("succeeded", 2)
    assert (alive.status, alive.attempts) == ("running", 1)


def test_running_run_is_not_stale_before_its_job_timeout(app, feed):
    """A long job (timeout above JOB_STALE_AFTER_S) is not claimed twice while it may run."""
    app.config["JOB_STALE_AFTER_S"] = 1
    ids = unprocessed_items(feed, "路灯坏了")
    timeout = registry.get("process_items").timeout
    busy = add_run("process_items", "running", timeout / 2, attempts=1, args={"item_ids": ids})
    db.session.commit()
    assert recovery.recover()["redelivered"] == 0
    assert runner.run_job_in_app(app, busy.id) is None
    assert fresh(JobRun, busy.id).attempts == 1


def test_sweep_retries_failed_runs_after_back_off_and_leaves_exhausted_ones(feed):
    ids = unprocessed_items(feed, "路灯坏了", "垃圾没人收", "噪音扰民")
    max_attempts = registry.get("process_items").max_attempts
    ready = add_run("process_items", "failed", 61, attempts=1, args={"item_ids": ids[:1]})
    backing_off = add_run("process_items", "failed", 30, attempts=1, args={"item_ids": ids[1:2]})
    exhausted = add_run(
        "process_items", "failed", 3600, attempts=max_attempts, args={"item_ids": ids[2:]}
    )
    db.session.commit()
    result = recovery.recover()
    assert (result["redelivered"], result["exhausted"]) == (1, 1)
    assert fresh(JobRun, ready.id).status == "succeeded"
    assert fresh(JobRun, backing_off.id).status == "failed"
    assert (fresh(JobRun, exhausted.id).status, fresh(JobRun, exhausted.id).attempts) == (
        "failed",
        max_attempts,
    )


def test_exhausted_runs_do_not_starve_the_sweep(feed, monkeypatch):
    monkeypatch.setattr(recovery, "BATCH_LIMIT", 2)
    ids = unprocessed_items(feed, "路灯坏了")
    max_attempts = registry.get("process_items").max_attempts
    for _ in range(3):
        add_run("process_items", "failed", 3600, attempts=max_attempts, args={"item_ids": []})
    pending = add_run("process_items", "pending", 3600, args={"item_ids": ids})
    db.session.commit()
    result = recovery.recover()
    assert (result["redelivered"], result["exhausted"]) == (1, 3)
    assert fresh(JobRun, pending.id).status == "succeeded"


def test_sweep_enqueues_processing_for_orphan_items(feed):
    ids = unprocessed_items(feed, "路灯坏了", "垃圾没人收")
    result = recovery.recover()
    assert result == {"lost": 0, "redelivered": 0, "exhausted": 0, "orphan_items": 2}
    assert all(fresh(Item, i).processed_at for i in ids)
    assert process_runs()[-1].args == {"item_ids": ids}
    # Nothing left to do: a second sweep is a no-op.
    assert recovery.recover() == {"lost": 0, "redelivered": 0, "exhausted": 0, "orphan_items": 0}


def test_orphan_scan_waits_while_a_processing_run_is_live(feed):
    unprocessed_items(feed, "路灯坏了")
    add_run("process_items", "pending", 1, args={"item_ids": []})
    db.session.commit()
    assert recovery.recover()["orphan_items"] == 0


def test_stuck_periodic_run_is_closed_as_failed_not_redelivered(app):
    name = PERIODIC[0].name
    timeout = registry.get(name).timeout
    stuck = add_run(name, "running", max(timeout, app.config["JOB_STALE_AFTER_S"]) + 60, attempts=1)
    db.session.commit()
    assert recovery.recover()["redelivered"] == 0
    stuck = fresh(JobRun, stuck.id)
    assert (stuck.status, stuck.error, stuck.attempts) == ("failed", "worker lost", 1)


# ------------------------------------------------------------- Redis down, worker killed


def test_redis_down_during_ingest_loses_nothing(rq_app, feed, redis_server, monkeypatch):
    client = rq_app.test_client()
    redis_server.kill()
    response = post_items(
        client,
        feed.token,
        [
            {"external_id": f"down-{n}", "text": f"Redis 停机时收到的第 {n} 条留言"}
            for n in range(3)
        ],
    )
    assert response.status_code == 202
    ids = [r["id"] for r in response.get_json()["items"]]
    assert len(ids) == 3
    (run,) = process_runs()
    assert (run.status, run.args) == ("pending", {"item_ids": ids})
    assert all(fresh(Item, i).processed_at is None for i in ids)
    # While Redis is down the sweep cannot deliver either, and says so by doing nothing.
    monkeypatch.setattr(recovery, "PENDING_GRACE_S", 0)
    assert recovery.recover()["redelivered"] == 0

    redis_server.start()
    assert recovery.recover() == {"lost": 0, "redelivered": 1, "exhausted": 0, "orphan_items": 0}
    default = Queue(queues.INTERACTIVE, connection=Redis.from_url(redis_server.url))
    assert default.job_ids == [rq_job_id(run.id)]
    # Delivered and still queued: the next sweep leaves it alone.
    assert recovery.recover()["redelivered"] == 0
    work_burst(rq_app, redis_server.url, [queues.INTERACTIVE], monkeypatch)

    run = fresh(JobRun, run.id)
    assert (run.status, run.attempts, run.result["processed"]) == ("succeeded", 1, 3)
    assert all(fresh(Item, i).processed_at is not None for i in ids)
    assert len(process_runs()) == 1
    assert default.count == 0


@pytest.mark.parametrize(
    "hold", ["before", "after"], ids=["killed-before-effect", "killed-after-effect"]
)
def test_worker_killed_mid_job_is_recovered_once(
    rq_app, feed, slow_jobs, workers, redis_server, tmp_path, hold
):
    item_id = new_item(feed)
    gate = tmp_path / "gate"
    gate.touch()
    run = enqueue("slow_mark", item_id=item_id, gate=str(gate), hold=hold)
    db.session.commit()
    run_id = run.id

    first = workers(["test_slow"])
    try:
        wait_for(lambda: entered(gate), 30, "the worker to start the job")
        if hold == "after":
            wait_for(lambda: _committed_effect(item_id), 15, "the effect to be committed")
    except TimeoutError:
        pytest.fail("worker never started the job:\n" + first.log())
    assert fresh(JobRun, run_id).status == "running"
    first.kill()

    # Not presumed dead yet: its worker's last heartbeat is recent.
    assert recovery.recover()["redelivered"] == 0
    assert fresh(JobRun, run_id).status == "running"
    # Time passes: the dead worker's last heartbeat grows older than the limit.
    age_worker_heartbeats(redis_server.url, rq_app.config["HEARTBEAT_STALE_AFTER_S"] + 5)
    gate.unlink()
    result = recovery.recover()
    assert (result["lost"], result["redelivered"]) == (1, 1)
    # The dead worker's execution is gone from RQ's started registry (RQ's own clean-up
    # would otherwise fail the re-delivered job later).
    from rq.registry import StartedJobRegistry

    started = StartedJobRegistry("test_slow", connection=Redis.from_url(redis_server.url))
    assert started.get_job_ids(cleanup=False) == []

    second = workers(["test_slow"], burst=True)
    assert second.wait(60) == 0, second.log()
    run = fresh(JobRun, run_id)
    assert (run.status, run.attempts) == ("succeeded", 2), second.log()
    assert run.result == {"changed": 1 if hold == "before" else 0}
    assert len(entered(gate)) == 2 and len(set(entered(gate))) == 2  # two processes
    assert fresh(Item, item_id).processed_at is not None
    assert slow_mark_events(item_id) == 1  # the effect happened exactly once


def age_worker_heartbeats(redis_url: str, seconds: float) -> None:
    """Make every registered RQ worker's last heartbeat ``seconds`` old."""
    from rq.utils import utcformat

    conn = Redis.from_url(redis_url)
    old = utcformat(utcnow() - timedelta(seconds=seconds))
    for key in conn.smembers("rq:workers"):
        conn.hset(key, "last_heartbeat", old)


def _committed_effect(item_id: int) -> bool:
    db.session.rollback()
    return slow_mark_events(item_id) == 1


# --------------------------------------------------------------------- health and cron


def add_periodic_success(name: str, age_s: float) -> None:
    at = utcnow() - timedelta(seconds=age_s)
    db.session.add(
        JobRun(
            name=name,
            status="succeeded",
            attempts=1,
            created_at=at,
            updated_at=at,
            started_at=at,
            finished_at=at,
        )
    )
    db.session.commit()


def register_worker_and_scheduler(redis_url: str) -> None:
    """Entries in RQ's registries as a live worker (every queue) and cron scheduler make."""
    from rq import Worker as RQWorker
    from rq.cron import CronScheduler

    conn = Redis.from_url(redis_url)
    RQWorker(registry.queue_names(), connection=conn).register_birth()
    CronScheduler(connection=conn, logging_level="WARNING").register_birth()


def test_health_is_ok_and_names_every_periodic_job(runner, app):
    result = runner.invoke(args=["health"])
    assert result.exit_code == 0, result.output
    for periodic in PERIODIC:
        assert f"定时任务 {periodic.name}：尚未成功运行过" in result.output
    add_periodic_success(PERIODIC[0].name, 30)
    result = runner.invoke(args=["health"])
    assert result.exit_code == 0, result.output
    assert f"✓ 定时任务 {PERIODIC[0].name}：上次成功" in result.output


def test_health_fails_when_a_periodic_job_is_late(runner, app):
    periodic = PERIODIC[0]
    add_periodic_success(periodic.name, periodic.stale_after_s(app.config) + 60)
    result = runner.invoke(args=["health"])
    assert result.exit_code == 1, result.output
    assert f"✗ 定时任务 {periodic.name} 上次成功于" in result.output


def test_health_reports_queue_depths_and_fails_without_redis(rq_app, redis_server):
    enqueue("process_items", item_ids=[1])
    enqueue("process_items", item_ids=[2])
    db.session.commit()
    add_periodic_success(PERIODIC[0].name, 10)
    register_worker_and_scheduler(redis_server.url)
    cli = rq_app.test_cli_runner()
    result = cli.invoke(args=["health"])
    assert result.exit_code == 0, result.output
    assert "任务模式：RQ + Redis" in result.output
    assert "队列 interactive：排队 2，运行中 0，失败 0，在线处理进程 1" in result.output
    assert "队列 maintenance：排队 0" in result.output
    assert f"✓ 定时任务 {PERIODIC[0].name}：上次成功" in result.output

    redis_server.kill()
    result = cli.invoke(args=["health"])
    assert result.exit_code == 1, result.output
    assert "✗ Redis 不可用" in result.output


def test_rq_cron_config_registers_the_periodic_schedule(rq_app, redis_server, monkeypatch):
    from rq.cron import CronScheduler

    from sentinel.jobs.periodic import run_periodic

    conn = Redis.from_url(redis_server.url)
    scheduler = CronScheduler(connection=conn, logging_level="WARNING")
    scheduler.load_config_from_file("sentinel.jobs.cron_config")
    registered = {job.name: job for job in scheduler.get_jobs()}
    assert set(registered) == {p.name for p in PERIODIC}
    for periodic in PERIODIC:
        job = registered[periodic.name]
        spec = registry.get(periodic.name)
        assert (job.func, job.args, job.interval, job.queue_name) == (
            run_periodic,
            (periodic.name,),
            periodic.interval_s,
            spec.queue,
        )
        assert job.job_options["job_timeout"] == spec.timeout

    # One scheduler tick puts every periodic job on its queue; a worker runs it and the
    # health check sees its success.
    assert {job.name for job in scheduler.enqueue_jobs()} == {p.name for p in PERIODIC}
    queues = {registry.get(p.name).queue for p in PERIODIC}
    assert sum(Queue(q, connection=conn).count for q in queues) == len(PERIODIC)
    work_burst(rq_app, redis_server.url, sorted(queues), monkeypatch)
    for periodic in PERIODIC:
        run = db.session.scalars(select(JobRun).where(JobRun.name == periodic.name)).one()
        assert run.status == "succeeded"
    register_worker_and_scheduler(redis_server.url)
    result = rq_app.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 0, result.output


@pytest.mark.skipif(
    not os.environ.get("SENTINEL_TEST_DATABASE_URL"),
    reason="SQLite: two deferred write transactions that both read first deadlock "
    "(database is locked); concurrent writers need PostgreSQL",
)
def test_concurrent_delivery_of_one_batch_stores_it_once(app, feed):
    """Two deliveries of the same batch at once (a client retrying): one copy is stored.

    The second delivery reads before the first commits, so it only learns of the first at
    the unique constraint: its savepoint rolls back and the retry finds the stored items.
    """
    import time

    from sentinel.models import Source
    from sentinel.services import ingest

    source_id = feed.source.id
    batch = [
        ingest.IncomingItem(external_id=f"race-{n}", text=f"同时投递的留言 {n}") for n in range(200)
    ]
    first_written, saw_second_waiting = threading.Event(), threading.Event()
    results: dict[str, list[tuple[int, int]]] = {}

    def deliver_batch(name: str) -> None:
        with app.app_context():
            source = db.session.get(Source, source_id)
            if name == "second":
                first_written.wait(10)
            stored = ingest.ingest_items(feed.actor, source, batch)
            if name == "first":
                first_written.set()
                # Commit once the second delivery waits on our uncommitted rows.
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    if _someone_waits_for_a_lock():
                        saw_second_waiting.set()
                        break
                    time.sleep(0.02)
            db.session.commit()
            results[name] = [(r.id, r.case_id) for r in stored]
            db.session.remove()

    threads = [threading.Thread(target=deliver_batch, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # The second delivery was blocked inserting the same items: it hit the unique
    # constraint, rolled back its savepoint and retried.
    assert saw_second_waiting.is_set()
    assert results["first"] == results["second"]
    assert count(select(Item.id).where(Item.external_id.like("race-%"))) == 200


def _someone_waits_for_a_lock() -> bool:
    with db.engine.connect() as conn:
        return bool(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'COPY items%'"
                )
            )
        )


def test_jobs_wait_for_the_outermost_commit_not_a_savepoint_release(app, office):
    """Two ingests in one transaction (the second inside a savepoint): nothing is delivered
    at the savepoint's release, everything after the real commit."""
    from sentinel.services import ingest

    source = office.source
    ingest.ingest_items(office.actor("admin"), source, [ingest.IncomingItem("sp-1", "第一批留言")])
    ingest.ingest_items(office.actor("admin"), source, [ingest.IncomingItem("sp-2", "第二批留言")])
    runs = db.session.scalars(select(JobRun).where(JobRun.name == "process_items")).all()
    assert [r.status for r in runs] == ["pending", "pending"]
    db.session.commit()
    statuses = db.session.scalars(select(JobRun.status).where(JobRun.name == "process_items"))
    assert list(statuses) == ["succeeded", "succeeded"]


def test_a_failed_savepoint_keeps_jobs_enqueued_before_it(app, office):
    from sentinel.jobqueue import enqueue
    from sentinel.services import ingest

    ingest.ingest_items(office.actor("admin"), office.source, [ingest.IncomingItem("k-1", "保留")])
    with pytest.raises(RuntimeError), db.session.begin_nested():
        enqueue("process_items", item_ids=[])
        raise RuntimeError("one case of a bulk action failed")
    db.session.commit()
    runs = db.session.scalars(select(JobRun).where(JobRun.name == "process_items")).all()
    assert len(runs) == 1 and runs[0].status == "succeeded"
