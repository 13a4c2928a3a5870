# ruff: noqa: F811  (pytest fixtures imported from tests.test_jobs are used by name)
"""The fast path from ingest to a labelled case (issue 11).

- a worker process loads the app and the model bundle once and runs item jobs in-process,
  with job timeouts still enforced;
- the near-duplicate index is shared through the database: a second worker finds what the
  first indexed without rebuilding anything;
- labels are written in bulk, the same labels the pipeline predicts;
- interactive work is served before a bulk backlog, and ingest routes work to its queue.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq.timeouts import TimerDeathPenalty
from sqlalchemy import event, select

from sentinel import create_app, queues
from sentinel.extensions import db
from sentinel.jobqueue import enqueue
from sentinel.jobs import registry, runner
from sentinel.jobs.worker import SentinelWorker
from sentinel.models import Case, Item, JobRun, NearDupSignature
from sentinel.services import neardup_store, processing
from tests.support.processes import ROOT, VENV_BIN
from tests.test_jobs import (  # noqa: F401  (fixtures used by name)
    EXTRA_MODULES,
    entered,
    feed,
    fresh,
    new_item,
    redis_server,
    rq_app,
    slow_jobs,
)

TEXT_A = (
    "A市A3区魏家坡小区脏乱差，多次向社区反映都得不到解决，小区停车混乱没有消防通道，绿化带破烂不堪"
)
TEXT_A_AGAIN = TEXT_A + "，请尽快处理"


class InProcessSentinelWorker(SentinelWorker):
    # A timer thread, not SIGALRM: pytest-timeout owns the alarm signal in this process.
    death_penalty_class = TimerDeathPenalty


def work_burst(app: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run sentinel's worker class in this process, all queues in their order, until empty."""
    monkeypatch.setattr(runner, "_worker_app", app)
    with Redis.from_url(redis_url) as conn:
        InProcessSentinelWorker(list(queues.ORDER), connection=conn).work(
            burst=True, logging_level="WARNING"
        )


def unprocess(ids: list[int]) -> None:
    """Ingest in sync mode processes at once: mark these items unprocessed again."""
    from sqlalchemy import update

    db.session.execute(update(Item).where(Item.id.in_(ids)).values(processed_at=None))
    db.session.commit()


# ------------------------------------------------------------ loaded once per process


def test_two_jobs_in_one_worker_process_load_the_bundle_once(
    rq_app, feed, redis_server, trained_models_dir, monkeypatch
):
    from classifiers import pipeline as pipeline_module

    rq_app.config["MODELS_DIR"] = trained_models_dir
    pipeline_module.clear_cache()
    loads: list[str] = []
    real_load = pipeline_module.Pipeline.load

    def counting_load(path: Any) -> Any:
        loads.append(str(path))
        return real_load(path)

    monkeypatch.setattr(pipeline_module.Pipeline, "load", staticmethod(counting_load))
    ran_in: list[int] = []
    real_process = processing.process_items

    def recording_process(item_ids: list[int]) -> dict[str, int]:
        ran_in.append(os.getpid())
        return real_process(item_ids)

    monkeypatch.setattr(processing, "process_items", recording_process)

    first = feed.ingest("路灯坏了一个月没人修")
    second = feed.ingest("学校门口早晚高峰拥堵严重")
    runs = db.session.scalars(select(JobRun).where(JobRun.name == "process_items")).all()
    assert len(runs) == 2 and all(r.status == "pending" for r in runs)  # queued in Redis

    work_burst(rq_app, redis_server.url, monkeypatch)

    assert [fresh(JobRun, r.id).status for r in runs] == ["succeeded", "succeeded"]
    assert ran_in == [os.getpid(), os.getpid()]  # both jobs in this process: no fork
    assert len(loads) == 1  # the bundle was loaded once, for both jobs
    for result in (*first, *second):
        assert fresh(Item, result.id).model_version is not None


def _start_cli_worker(
    tmp_path: Path, database_url: str, redis_url: str, queue_names: list[str]
) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "SENTINEL_DATABASE_URL": database_url,
        "SENTINEL_REDIS_URL": redis_url,
        "SENTINEL_JOBS_MODE": "rq",
        "SENTINEL_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "SENTINEL_SECRET_KEY": "test-secret",
        "SENTINEL_EXTRA_JOB_MODULES": EXTRA_MODULES,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [str(VENV_BIN / "sentinel"), "worker", "--burst", *queue_names],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_sentinel_worker_runs_jobs_in_its_own_process_and_enforces_timeouts(
    rq_app, feed, slow_jobs, redis_server, database_url, tmp_path, monkeypatch
):
    """The real ``sentinel worker``: two quick jobs run in the worker process itself (one
    pid for both), and a job that outlives its timeout is stopped and recorded failed."""
    quick = [new_item(feed, f"第{n}条") for n in range(2)]
    slow_item = new_item(feed, "第三条")
    gates = [tmp_path / f"gate{n}" for n in range(3)]
    for item_id, gate in zip(quick, gates, strict=False):
        enqueue("slow_mark", item_id=item_id, gate=str(gate), hold="none")
    # RQ enforces the timeout it is given at enqueue: one second for this run.
    spec = registry.get("slow_mark")
    monkeypatch.setitem(registry._JOBS, "slow_mark", dataclasses.replace(spec, timeout=1))
    gates[2].touch()  # held until the timeout ends it
    slow = enqueue("slow_mark", item_id=slow_item, gate=str(gates[2]), hold="before", seconds=30)
    db.session.commit()

    done = _start_cli_worker(tmp_path, database_url, redis_server.url, ["test_slow"])
    log = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, log

    pids = entered(gates[0]) + entered(gates[1]) + entered(gates[2])
    assert len(pids) == 3 and len(set(pids)) == 1, log  # every job in the one worker process
    assert all(fresh(Item, i).processed_at is not None for i in quick)
    run = fresh(JobRun, slow.id)
    assert run.status == "failed" and run.error.startswith("JobTimeoutException"), log
    assert fresh(Item, slow_item).processed_at is None


# --------------------------------------------------------------- shared near-dup index


def test_second_worker_finds_a_near_duplicate_indexed_by_the_first(
    app, app_config, trained_models_dir, monkeypatch
):
    """Two apps on one database stand for two worker processes: B attaches a near-duplicate
    that A indexed, hashing only its own new item (no index rebuilt from recent cases)."""
    from classifiers.neardup import MinHasher
    from tests.test_jobs import Feed

    config = {**app_config, "MODELS_DIR": trained_models_dir}
    worker_a, worker_b = create_app(config), create_app(config)
    with worker_a.app_context():
        feed_a = Feed()
        feed_a.ingest("完全无关的一条：公交站台没有遮雨棚")  # more cases in the window
        (first,) = feed_a.ingest(TEXT_A)
        assert db.session.get(NearDupSignature, first.case_id) is not None
        db.session.remove()

    hashed: list[int] = []
    real = MinHasher.signatures

    def counting(self: MinHasher, texts: Any) -> Any:
        hashed.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(MinHasher, "signatures", counting)
    with worker_b.app_context():
        from sentinel.services import ingest

        source = db.session.scalars(select(feed_a.source.__class__)).first()
        (again,) = ingest.ingest_items(
            feed_a.actor, source, [ingest.IncomingItem(external_id="b-1", text=TEXT_A_AGAIN)]
        )
        db.session.commit()
        item = db.session.get(Item, again.id)
        assert item.case_id == first.case_id  # attached to A's case
        assert db.session.get(Case, first.case_id).ask_count == 2
        assert db.session.get(Case, again.case_id).status == "merged"
        db.session.remove()
    assert hashed == [1]


def test_index_forgets_merged_cases_and_backfill_indexes_older_cases(classified_app, office):
    (a,) = office.ingest(TEXT_A)
    (b,) = office.ingest(TEXT_A_AGAIN)
    assert b.case_id != a.case_id  # a new case at ingest ...
    assert db.session.get(Case, b.case_id).merged_into_id == a.case_id  # ... merged by the job
    assert db.session.get(NearDupSignature, a.case_id) is not None
    assert db.session.get(NearDupSignature, b.case_id) is None
    # Cases from before the index (no entry) are indexed by the maintenance job.
    from sqlalchemy import delete

    db.session.execute(delete(neardup_store.NearDupBand))
    db.session.execute(delete(NearDupSignature))
    db.session.commit()
    assert neardup_store.maintain() == {"pruned": 0, "indexed": 1}
    db.session.commit()
    sig = neardup_store.signatures([TEXT_A_AGAIN])
    assert [case_id for case_id, _ in neardup_store.query(sig, floor=0.5)[0]] == [a.case_id]


# ------------------------------------------------------------------ bulk label writes


def test_labels_written_in_bulk_are_the_pipelines_labels(classified_app, office):
    """A batch (with an exact duplicate) gets exactly the predicted labels, in a few
    statements — not one query per item."""
    from classifiers.pipeline import get_pipeline

    texts = [
        "小区门口的路灯坏了一个月，晚上出行很不安全，希望尽快修复",
        "听说自来水被污染了，喝了会生病，是真的吗？大家都在转发",
        "孩子上学的校车超载严重，司机还开得很快，强烈投诉",
        "想咨询一下社保卡丢了在哪里补办，需要带什么材料",
        "小区门口的路灯坏了一个月，晚上出行很不安全，希望尽快修复",
        "建议在公园增加健身器材，老人小孩都能用",
    ]
    statements: list[str] = []
    results = office.ingest(*texts)
    ids = [r.id for r in results]
    unprocess(ids)

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        processing.process_items(ids)
        db.session.flush()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.commit()  # delivers the clustering job (its own statements, not counted)

    predictions = get_pipeline(classified_app.config["MODELS_DIR"]).predict(
        texts, topic_threshold=classified_app.config.get("TOPIC_THRESHOLD")
    )
    for result, p in zip(results, predictions, strict=True):
        item = fresh(Item, result.id)
        assert (item.topic, item.sentiment, item.request_type, item.risk_tier) == (
            p.topic or None,
            p.sentiment,
            p.request_type,
            p.risk_tier,
        )
        assert item.rumour_score == pytest.approx(p.rumour_score)
        assert item.explanation["topic_terms"] == list(p.topic_terms)
        assert item.processed_at is not None and item.model_version == p.model_version
    duplicate_case = fresh(Case, results[0].case_id)
    assert results[4].case_id == duplicate_case.id and duplicate_case.ask_count == 2
    assert duplicate_case.request_type == predictions[0].request_type
    for result in results:
        case = fresh(Case, result.case_id)
        same_case = [q for r, q in zip(results, predictions, strict=True) if r.case_id == case.id]
        assert case.rumour_score == pytest.approx(max(q.rumour_score for q in same_case))
    # Rows read and written per table, not per item (the old code loaded each item's case);
    # the re-spread check and enqueuing the clustering job add a few statements per batch.
    assert len(statements) <= 15, "\n".join(s[:100] for s in statements)


# ------------------------------------------------------------------- queues and routing


def test_interactive_job_is_served_before_a_bulk_backlog(rq_app, feed, redis_server, monkeypatch):
    bulk_ids = [new_item(feed, f"批量导入的第{n}条留言") for n in range(3)]
    api_id = new_item(feed, "刚刚通过接口收到的一条留言")
    # Forget the runs ingest queued for these items: the test queues its own.
    from rq import Queue
    from sqlalchemy import delete

    Queue(queues.INTERACTIVE, connection=Redis.from_url(redis_server.url)).empty()
    db.session.execute(delete(JobRun))
    for item_id in bulk_ids:
        enqueue(queues.PROCESS_ITEMS_BULK, item_ids=[item_id])
    enqueue(queues.PROCESS_ITEMS, item_ids=[api_id])  # enqueued last
    db.session.commit()
    order: list[list[int]] = []
    real = processing.process_items
    monkeypatch.setattr(
        processing, "process_items", lambda ids, **kw: order.append(ids) or real(ids, **kw)
    )

    work_burst(rq_app, redis_server.url, monkeypatch)

    assert order == [[api_id], *([i] for i in bulk_ids)]


def test_ingest_routes_small_batches_to_interactive_and_large_work_to_bulk(rq_app, feed):
    from sentinel.services import ingest

    feed.ingest("一条接口留言")
    incoming = [
        ingest.IncomingItem(external_id=f"big-{n}", text=f"大批量第{n}条")
        for n in range(queues.BULK_ROWS + 1)
    ]
    ingest.ingest_items(feed.actor, feed.source, incoming)
    processing.requeue_unlabelled()
    db.session.commit()
    names = list(db.session.scalars(select(JobRun.name).order_by(JobRun.id)))
    assert names[0] == queues.PROCESS_ITEMS
    # The big batch in chunks on bulk; then reclassify (everything unlabelled) on bulk.
    assert set(names[1:]) == {queues.PROCESS_ITEMS_BULK}
    assert registry.get(queues.PROCESS_ITEMS).queue == queues.INTERACTIVE
    assert registry.get(queues.PROCESS_ITEMS_BULK).queue == queues.BULK
    assert queues.import_job(10) == queues.RUN_IMPORT
    assert registry.get(queues.import_job(queues.BULK_ROWS + 1)).queue == queues.BULK
