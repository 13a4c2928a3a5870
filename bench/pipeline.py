"""Benchmark: from POST to a labelled case, with real ``sentinel worker`` processes.

    python bench/pipeline.py              (``make bench-pipeline``)
    python bench/pipeline.py --profile    (cProfile of one ``process_items`` job)

What it does, in order:

1. drops and creates a fresh PostgreSQL database (``BENCH_PG_URL``, default
   ``postgresql://postgres@127.0.0.1:5432/sentinel_bench_pipeline``), migrates it and
   starts a private ``redis-server`` on a free port (the tests' ``RedisServer``);
2. seeds ``BENCH_CASES`` (default 100,000) classified cases, one item each, created over the
   last 30 days (inside the near-duplicate window), by binary COPY — not through the API —
   and indexes them in the shared near-duplicate store as the workers would have;
3. starts the real server (``sentinel serve --workers 2``) and two real worker processes as
   the README sets them up: ``sentinel worker interactive`` and ``sentinel worker``;
4. lag: POSTs real messages at a steady ``BENCH_RATE`` (default 200) items/s for
   ``BENCH_SECONDS`` (default 60) s, in batches of ``BENCH_BATCH`` (default 20), and polls the
   database for each item's labels; lag = from the POST being sent to the item's labels (and
   its case's) being committed (observed by polling every 0.1 s);
5. throughput: suspends the workers (``rq suspend``), POSTs a ``BENCH_BACKLOG`` (default
   20,000) item backlog in batches of 1,000, resumes the workers and times the drain.

Texts: the seeded cases use the first half of data/gov_hot + data/gov_replies, the posted
items the second half (every text joins halves of two messages, a different pair every
time, so texts repeat no message whole), and one posted item in twenty is a slightly
edited seeded message, so near-duplicate merges happen too (about 5% of posted items).

``--profile`` seeds the same database, ingests one API-sized batch of 500 items and profiles
the ``process_items`` job twice in a fresh process: the first job (what every job cost when
RQ forked a fresh horse per job) and a second job in the same process (what a job costs in a
``sentinel worker`` that keeps the app and models loaded). The top entries are printed.

The last lines are the figures, with the load average (the machine is shared).
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent

from tests.support import processes  # noqa: E402
from tests.support.processes import (  # noqa: E402
    ProcessGroup,
    RedisServer,
    free_port,
    wait_for,
)

PG_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/sentinel_bench_pipeline"
)
SEED_CASES = int(os.environ.get("BENCH_CASES", "100000"))
RATE = float(os.environ.get("BENCH_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
LAG_BATCH = int(os.environ.get("BENCH_BATCH", "20"))
BACKLOG = int(os.environ.get("BENCH_BACKLOG", "20000"))
NEAR_DUP_EVERY = 20
DATA_FILES = (
    ROOT / "data" / "gov_hot" / "messages_with_votes.csv",
    ROOT / "data" / "gov_replies" / "messages_with_replies.csv",
)


def say(line: str) -> None:
    print(line, flush=True)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def load_texts() -> list[str]:
    texts: list[str] = []
    for path in DATA_FILES:
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                text = " ".join((row.get("留言详情") or "").split()) or (row.get("留言主题") or "")
                if len(text.strip()) >= 20:
                    texts.append(text.strip()[:1000])
    return texts


class Texts:
    """Seed texts from one half of the corpus, posted texts from the other."""

    def __init__(self) -> None:
        texts = load_texts()
        half = len(texts) // 2
        self.seed_base, self.post_base = texts[:half], texts[half:]

    def seed(self, n: int) -> str:
        return f"{_pair(self.seed_base, n)}（{n}）"

    def post(self, n: int) -> str:
        if n % NEAR_DUP_EVERY == NEAR_DUP_EVERY - 1:
            # A seeded message asked again with a few words added: a near-duplicate.
            seeded = (n * 7919) % SEED_CASES
            return self.seed(seeded) + "请尽快处理，谢谢。"
        return f"{_pair(self.post_base, n)}（第{n}号）"


def _pair(base: list[str], n: int) -> str:
    """The first half of one message and the second half of another, a different pair for
    every ``n``: ~100,000 distinct messages from a few thousand (repeating a message with
    only a new number would make every repeat a near-duplicate of the others)."""
    a = n % len(base)
    b = (a + 1 + n // len(base)) % len(base)
    first, second = base[a], base[b]
    return first[: len(first) // 2] + second[len(second) // 2 :]


# ------------------------------------------------------------------------ processes


def recreate_database() -> None:
    processes.recreate_database(PG_URL)


def drop_database() -> None:
    processes.recreate_database(PG_URL, create=False)


def database_exists() -> bool:
    import psycopg

    server_url, name = PG_URL.rsplit("/", 1)
    with psycopg.connect(server_url + "/postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def existing_office(app: Any) -> dict[str, Any]:
    from sqlalchemy import text

    from sentinel.extensions import db

    with app.app_context():
        ids = list(db.session.scalars(text("SELECT id FROM sources ORDER BY id")))
        return {"tokens": [], "source_ids": ids, "root_id": None}


def models_dir(tmp: Path) -> str:
    """A trained bundle: ``BENCH_MODELS_DIR`` if it holds one, else trained here (subset)."""
    from classifiers.bundle import active_version

    given = os.environ.get("BENCH_MODELS_DIR")
    if given and active_version(given):
        return given
    from classifiers.training import train_all

    root = str(tmp / "models")
    say("training a model bundle on a 2,500-row subset (set BENCH_MODELS_DIR to reuse one)")
    train_all(
        root,
        data_dir=str(ROOT / "data"),
        limit=2500,
        progress=False,
        baselines=False,
        activate="always",
    )
    return root


# ------------------------------------------------------------------------------ seeding


def setup_office(app: Any) -> dict[str, Any]:
    from sentinel.auth.permissions import Actor
    from sentinel.extensions import db
    from sentinel.services import sources, units

    actor = Actor(label="bench")
    with app.app_context():
        root = units.create_unit(actor, "基准县政府办", "county")
        made = [
            sources.create_source(actor, "县政府网站留言板", "website", "", root),
            sources.create_source(actor, "县长信箱", "mailbox", "", root),
        ]
        tokens = [sources.issue_token(actor, s) for s in made]
        db.session.commit()
        return {"tokens": tokens, "source_ids": [s.id for s in made], "root_id": root.id}


def seed_cases(app: Any, office: dict[str, Any], texts: Texts) -> float:
    """SEED_CASES classified cases with one item each, by binary COPY; then index them."""
    import psycopg

    from classifiers.text import normalise
    from sentinel.services.ingest import make_title, text_hash

    started = time.monotonic()
    now = datetime.now(UTC)
    statuses = ("new", "new", "new", "claimed", "dispatched", "acknowledged", "answered")
    topics = ("城乡建设", "教育", "医疗卫生", "交通运输", "劳动和社会保障", "环境保护")
    source_id, unit_id = office["source_ids"][0], office["root_id"]
    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        case_cols = (
            "id, title, status, priority, source_id, owner_unit_id, text_hash, ask_count, "
            "first_item_at, last_item_at, created_at, updated_at, needs_person, topic, "
            "sentiment, request_type, risk_tier, rumour_score"
        )
        item_cols = (
            "id, source_id, external_id, kind, text, text_normalised, text_hash, received_at, "
            "case_id, "
            "is_duplicate, processed_at, topic, sentiment, request_type, risk_tier, "
            "rumour_score, model_version, text_verbatim, posted_in_future"
        )
        with cur.copy(f"COPY cases ({case_cols}) FROM STDIN") as copy_cases:
            rows_items: list[tuple[Any, ...]] = []
            for n in range(1, SEED_CASES + 1):
                text = normalise(texts.seed(n))
                h = text_hash(text)
                at = now - timedelta(seconds=(n * 7919) % (29 * 24 * 3600))
                topic = topics[n % len(topics)]
                copy_cases.write_row(
                    (
                        n,
                        make_title(text),
                        statuses[n % len(statuses)],
                        0,
                        source_id,
                        unit_id,
                        h,
                        1,
                        at,
                        at,
                        at,
                        at,
                        False,
                        topic,
                        "neutral",
                        "咨询",
                        "A",
                        0.1,
                    )
                )
                rows_items.append(
                    (n, source_id, f"seed-{n}", "comment", text, text, h, at, n, False, at, topic)
                )
        with cur.copy(f"COPY items ({item_cols}) FROM STDIN") as copy_items:
            for row in rows_items:
                copy_items.write_row((*row, "neutral", "咨询", "A", 0.1, "seed", True, False))
        cur.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), %s)", (SEED_CASES,))
        cur.execute("SELECT setval(pg_get_serial_sequence('items', 'id'), %s)", (SEED_CASES,))
        conn.commit()
    index_seeded(app)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def index_seeded(app: Any) -> None:
    """Put the seeded cases into the shared near-duplicate store (when this code has one)."""
    try:
        from sentinel.services import neardup_store
    except ImportError:  # the code before the shared store rebuilt its index in every job
        return
    from sentinel.extensions import db

    with app.app_context():
        total = 0
        while True:
            added = neardup_store.backfill(limit=25_000)
            db.session.commit()
            total += added
            if added == 0:
                break
    say(f"near-duplicate store: {total} seeded cases indexed")


# --------------------------------------------------------------------------- clients


def post(conn: http.client.HTTPConnection, token: str, items: list[dict[str, Any]]) -> None:
    body = json.dumps({"items": items}, ensure_ascii=False).encode("utf-8")
    conn.request(
        "POST",
        "/api/v1/items",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    data = response.read()
    if response.status != 202:
        raise SystemExit(f"POST /api/v1/items: HTTP {response.status} {data[:300]!r}")


def make_items(texts: Texts, start: int, count: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {"external_id": f"{prefix}-{n}", "text": texts.post(n), "kind": "comment"}
        for n in range(start, start + count)
    ]


def labelled(app: Any, prefix: str) -> dict[str, datetime]:
    """External ids (with this prefix) whose labels are on the item and its case."""
    from sqlalchemy import text

    from sentinel.extensions import db

    with app.app_context():
        rows = db.session.execute(
            text(
                "SELECT i.external_id FROM items i JOIN cases c ON c.id = i.case_id "
                "WHERE i.external_id LIKE :p AND i.model_version IS NOT NULL "
                "AND c.request_type IS NOT NULL"
            ),
            {"p": prefix + "-%"},
        ).all()
        db.session.rollback()
    return {r[0] for r in rows}  # type: ignore[return-value]


def lag_phase(app: Any, port: int, office: dict[str, Any], texts: Texts) -> list[float]:
    total = int(RATE * SECONDS)
    interval = LAG_BATCH / RATE
    sent_at: dict[str, float] = {}
    done_at: dict[str, float] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def poll() -> None:
        while not stop.is_set():
            seen = labelled(app, "lag")
            at = time.monotonic()
            with lock:
                for ext in seen:
                    done_at.setdefault(ext, at)
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.monotonic()
    late = 0.0
    for b, start in enumerate(range(0, total, LAG_BATCH)):
        due = started + b * interval
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        else:
            late = max(late, -wait)
        items = make_items(texts, 1_000_000 + start, min(LAG_BATCH, total - start), "lag")
        at = time.monotonic()
        post(conn, office["tokens"][b % len(office["tokens"])], items)
        for item in items:
            sent_at[item["external_id"]] = at
    posted_in = time.monotonic() - started
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with lock:
            if len(done_at) >= total:
                break
        time.sleep(0.2)
    stop.set()
    poller.join()
    conn.close()
    missing = total - len(done_at)
    say(
        f"lag: {total} items POSTed in {posted_in:.1f} s ({total / posted_in:.0f} items/s, "
        f"batches of {LAG_BATCH}, client at most {late:.2f} s behind schedule), "
        f"{missing} never labelled, load {load()}"
    )
    return [done_at[k] - sent_at[k] for k in done_at]


def backlog_phase(
    app: Any, port: int, office: dict[str, Any], texts: Texts, redis_url: str
) -> float:
    from redis import Redis
    from rq.suspension import resume, suspend

    conn_r = Redis.from_url(redis_url)
    suspend(conn_r)
    time.sleep(2)  # a worker checks for suspension before each dequeue
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for b, start in enumerate(range(0, BACKLOG, 1000)):
        items = make_items(texts, 2_000_000 + start, min(1000, BACKLOG - start), "backlog")
        post(conn, office["tokens"][b % len(office["tokens"])], items)
    conn.close()
    say(f"backlog: {BACKLOG} items POSTed with the workers suspended, load {load()}")
    started = time.monotonic()
    resume(conn_r)
    deadline = started + 1800
    while time.monotonic() < deadline:
        if len(labelled(app, "backlog")) >= BACKLOG:
            break
        time.sleep(0.25)
    elapsed = time.monotonic() - started
    done = len(labelled(app, "backlog"))
    say(f"backlog: {done} of {BACKLOG} labelled in {elapsed:.1f} s, load {load()}")
    return done / elapsed


# ------------------------------------------------------------------------------ profile


PROFILE_SNIPPET = r"""
import cProfile, pstats, sys, time
from sentinel.jobs import runner
runs = (("first job in a fresh process", int(sys.argv[1])),
        ("second job, same process", int(sys.argv[2])))
import re
from collections import defaultdict
from sqlalchemy import event
from sqlalchemy.engine import Engine
spent = defaultdict(lambda: [0, 0.0])
@event.listens_for(Engine, "before_cursor_execute")
def _start(conn, cursor, statement, parameters, context, executemany):
    conn.info["t0"] = time.perf_counter()
@event.listens_for(Engine, "after_cursor_execute")
def _stop(conn, cursor, statement, parameters, context, executemany):
    key = re.sub(r"\s+", " ", statement)[:90]
    spent[key][0] += 1
    spent[key][1] += time.perf_counter() - conn.info.pop("t0", time.perf_counter())
for label, run_id in runs:
    spent.clear()
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    runner.run_job(run_id)
    prof.disable()
    print(f"=== {label}: {time.perf_counter() - t:.2f} s wall", flush=True)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(28)
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    total = sum(n for n, _ in spent.values())
    print(f"--- SQL statements: {total}, {sum(s for _, s in spent.values()):.2f} s; by time:")
    for key, (n, sec) in sorted(spent.items(), key=lambda kv: -kv[1][1])[:18]:
        print(f"  {sec * 1000:8.1f} ms {n:5d}x  {key}")
"""


def profile_mode(app: Any, office: dict[str, Any], texts: Texts, env: dict[str, str]) -> None:
    from sqlalchemy import select

    from sentinel.auth.permissions import Actor
    from sentinel.extensions import db
    from sentinel.models import JobRun, Source
    from sentinel.services import ingest

    run_ids = []
    with app.app_context():
        source = db.session.get(Source, office["source_ids"][1])
        for k in range(2):
            # Fresh numbers on every run (a reused database keeps the last run's items).
            start = 3_000_000 + (int(time.time()) % 100_000) * 1000 + k * 500
            rows = make_items(texts, start, 500, "prof")
            ingest.ingest_items(
                Actor(label="bench"),
                source,
                [ingest.IncomingItem(external_id=r["external_id"], text=r["text"]) for r in rows],
            )
            db.session.commit()
        run_ids = list(
            db.session.scalars(
                select(JobRun.id).where(JobRun.name.like("process_items%")).order_by(JobRun.id)
            )
        )
    out = subprocess.run(
        [sys.executable, "-c", PROFILE_SNIPPET, str(run_ids[-2]), str(run_ids[-1])],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    print(out.stdout)
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)


# ------------------------------------------------------------------------------ main


def main() -> int:
    profile = "--profile" in sys.argv[1:]
    begun = time.monotonic()
    procs = ProcessGroup("sentinel-pipeline-")
    app = None
    try:
        say(
            f"machine: {os.cpu_count()} CPUs, load average {load()}, "
            f"python {sys.version.split()[0]}, database {PG_URL.rsplit('@', 1)[-1]}"
        )
        texts = Texts()
        # BENCH_KEEP_DB=1 BENCH_REUSE_DB=1 --profile: profile again without re-seeding.
        reuse = profile and bool(os.environ.get("BENCH_REUSE_DB")) and database_exists()
        if not reuse:
            recreate_database()
        procs.redis = RedisServer(procs.tmp)
        procs.redis.start()
        env = {
            "SENTINEL_DATABASE_URL": PG_URL,
            "SENTINEL_REDIS_URL": procs.redis.url,
            "SENTINEL_INSTANCE_PATH": str(procs.tmp / "instance"),
            "SENTINEL_SECRET_KEY": "bench-secret",
            "SENTINEL_MODELS_DIR": models_dir(procs.tmp),
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(env)
        from flask_migrate import upgrade

        from sentinel.app import create_app

        app = create_app({"RATELIMIT_ENABLED": False})
        with app.app_context():
            upgrade()
        if reuse:
            office = existing_office(app)
        else:
            office = setup_office(app)
            seconds = seed_cases(app, office, texts)
            say(f"seeded: {SEED_CASES} classified cases by COPY in {seconds:.0f} s, load {load()}")
        if profile:
            profile_mode(app, office, texts, env)
            return 0

        port = free_port()
        sentinel = str(VENV_BIN / "sentinel")
        procs.start(
            [sentinel, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env,
            "server.log",
        )
        procs.start([sentinel, "worker", "interactive"], env, "worker-interactive.log")
        procs.start([sentinel, "worker"], env, "worker-all.log")

        def serving() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/login")
                ok = conn.getresponse().status == 200
                conn.close()
                return ok
            except OSError:
                return False

        wait_for(serving, 90, "sentinel serve")
        # Warm-up: one small batch through the whole path (server workers, both workers).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for k in range(4):
            post(conn, office["tokens"][k % 2], make_items(texts, 9_000_000 + k * 10, 10, "warm"))
        conn.close()
        wait_for(lambda: len(labelled(app, "warm")) >= 40, 180, "the warm-up items")
        say(
            "running: sentinel serve --workers 2, sentinel worker interactive, sentinel worker "
            f"(all queues); load {load()}"
        )

        lags = lag_phase(app, port, office, texts)
        rate = backlog_phase(app, port, office, texts, procs.redis.url)
        say(f"total bench time: {time.monotonic() - begun:.0f} s, load average now {load()}")
        say(f"pipeline_lag_p50_s={percentile(lags, 0.5):.2f}")
        say(f"pipeline_lag_p95_s={percentile(lags, 0.95):.2f}")
        say(f"pipeline_items_per_s={rate:.0f}")
        return 0
    except BaseException:
        for name in ("server.log", "worker-interactive.log", "worker-all.log"):
            log = procs.tmp / name
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-40:]
                print(f"{name} (tail):\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        procs.close()
        try:
            from sentinel.extensions import db

            if app is not None:
                with app.app_context():
                    db.engine.dispose()
            if not os.environ.get("BENCH_KEEP_DB"):
                drop_database()
        except Exception as exc:
            print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
