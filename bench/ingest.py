"""Benchmark: API ingest throughput and triage page time with 100k cases, on PostgreSQL.

    python bench/ingest.py            (``make bench``)

What it does, in order:

1. drops and creates a fresh PostgreSQL database (``BENCH_PG_URL``, default
   ``postgresql://postgres@127.0.0.1:5432/sentinel_bench``) and migrates it;
2. starts a private ``redis-server`` on a free port (or uses ``BENCH_REDIS_URL``) so jobs
   go to Redis and are not processed inline — no worker runs: this measures ingest only;
3. starts the real server (``sentinel serve --workers 2``: gunicorn, gthread);
4. POSTs ``BENCH_ITEMS`` (default 50,000) real government messages in batches of 1,000
   from ``BENCH_CLIENTS`` (default 3) client threads over keep-alive ``http.client``
   connections; every text is made unique with a counter (so each item opens a new case)
   except ~10% exact duplicates of an earlier item (they attach to its case);
5. tops the database up to 100,000 cases through the ingest service, then gives the cases a
   realistic shape (statuses, units, priorities, claim owners, labels, dates over 60 days)
   and marks the items processed, as the workers would have within seconds (so the text
   search reads its index of processed items, as in a running office);
6. logs in through the real login form (CSRF token from the page) as a duty officer of the
   county root unit (who sees everything: the no-scope shortcut) and then as a duty officer
   of one county department (the per-row unit scope), and times 200 GETs of ``/triage/``
   each (default view and filter/sort variants, ~5 % of them a text search), one at a time;
7. copies the items the API stored into a scratch table shaped like ``items`` (same
   columns and indexes) with one raw ``COPY``: what the database itself allows on this
   machine, to read the ingest figure as a share of;
8. prints ``EXPLAIN ANALYZE`` of the text search (count and page) for both officers.

The figures are the last lines (``key=value``); triage times are client-side wall times on
loopback (they include the HTTP round trip; the gunicorn access log's server times are
printed as context). The machine's load average is printed at the start and the end. The
server, Redis and the benchmark database are removed at the end.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import queue
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent

# The same throw-away redis-server, port and wait helpers the tests use.
from tests.support import processes  # noqa: E402
from tests.support.processes import (  # noqa: E402
    ProcessGroup,
    RedisServer,
    free_port,
    wait_for,
)

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/sentinel_bench")
TOTAL_ITEMS = int(os.environ.get("BENCH_ITEMS", "50000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "3"))
TARGET_CASES = int(os.environ.get("BENCH_CASES", "100000"))
TRIAGE_REQUESTS = int(os.environ.get("BENCH_TRIAGE_REQUESTS", "200"))
BATCH = 1000
DUPLICATE_EVERY = 10  # one item in ten repeats an earlier item's text exactly
PASSWORD = "bench-password-9"
DATA_FILES = (
    ROOT / "data" / "gov_hot" / "messages_with_votes.csv",
    ROOT / "data" / "gov_replies" / "messages_with_replies.csv",
)


def say(line: str) -> None:
    print(line, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ----------------------------------------------------------------------------- data


def load_texts() -> list[str]:
    texts: list[str] = []
    for path in DATA_FILES:
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                text = " ".join((row.get("留言详情") or "").split()) or (row.get("留言主题") or "")
                if text.strip():
                    texts.append(text.strip()[:2000])
    if not texts:
        raise SystemExit("no messages found in data/gov_hot and data/gov_replies")
    return texts


def make_items(texts: list[str], start: int, count: int, prefix: str) -> list[dict[str, Any]]:
    """Items ``start .. start+count``: unique texts, every tenth an exact earlier duplicate."""
    items = []
    for n in range(start, start + count):
        if n % DUPLICATE_EVERY == DUPLICATE_EVERY - 1 and n >= 50:
            m = n - 37  # an earlier item (this batch or the previous one), never a duplicate
            if m % DUPLICATE_EVERY == DUPLICATE_EVERY - 1:
                m -= 1
        else:
            m = n
        text = f"{texts[m % len(texts)]}（{m}）"
        items.append(
            {
                "external_id": f"{prefix}-{n}",
                "text": text,
                "author": f"网友{m % 9973}",
                "created_at": f"2026-11-{1 + m % 24:02d}T{m % 24:02d}:{m % 60:02d}:00+08:00",
                "kind": ("comment", "message", "mention", "letter")[m % 4],
            }
        )
    return items


# ------------------------------------------------------------------------ processes


def start_redis(procs: ProcessGroup) -> str:
    if os.environ.get("BENCH_REDIS_URL"):
        return os.environ["BENCH_REDIS_URL"]
    procs.redis = RedisServer(procs.tmp)
    procs.redis.start()
    return procs.redis.url


def recreate_database() -> None:
    processes.recreate_database(PG_URL)


def drop_database() -> None:
    processes.recreate_database(PG_URL, create=False)


# ------------------------------------------------------------------------- the office


def setup_office(app: Any) -> dict[str, Any]:
    """Units, a duty officer and four sources on different units; returns tokens and ids."""
    from sentinel.auth.permissions import Actor
    from sentinel.extensions import db
    from sentinel.services import sources, units, users

    actor = Actor(label="bench")
    with app.app_context():
        root = units.create_unit(actor, "基准县政府办", "county")
        depts = [
            units.create_unit(actor, name, "department", root)
            for name in ("县教育局", "县卫健局", "县住建局", "县交通局", "县市场监管局")
        ]
        users.create_user(actor, "duty", PASSWORD, "duty_officer", [root])
        # A county department's officer: sees the cases of one department only.
        users.create_user(actor, "dept", PASSWORD, "duty_officer", [depts[2]])
        made = [
            sources.create_source(actor, "县政府网站留言板", "website", "", root),
            sources.create_source(actor, "县发布微博", "weibo", "基准县发布", root),
            sources.create_source(actor, "县长信箱", "mailbox", "", root),
            sources.create_source(actor, "12345热线", "hotline12345", "", depts[2]),
        ]
        tokens = [sources.issue_token(actor, s) for s in made]
        db.session.commit()
        return {
            "tokens": tokens,
            "source_ids": [s.id for s in made],
            "unit_ids": [d.id for d in depts],
            "root_id": root.id,
        }


def seed_cases(app: Any, texts: list[str], office: dict[str, Any], start: int) -> int:
    """Ingest more items through the service until there are TARGET_CASES cases."""
    from sqlalchemy import func, select

    from sentinel.auth.permissions import Actor
    from sentinel.extensions import db
    from sentinel.models import Case, Source
    from sentinel.services import ingest

    actor = Actor(label="bench")
    n = start
    with app.app_context():
        have = db.session.scalar(select(func.count()).select_from(Case)) or 0
        sources = [db.session.get(Source, i) for i in office["source_ids"]]
        batch_no = 0
        while have < TARGET_CASES:
            want = min(BATCH, int((TARGET_CASES - have) * 1.12) + 1)
            rows = make_items(texts, n, want, "seed")
            n += want
            source = sources[batch_no % len(sources)]
            batch_no += 1
            results = ingest.ingest_items(
                actor,
                source,
                [
                    ingest.IncomingItem(
                        external_id=r["external_id"],
                        text=r["text"],
                        author=r["author"],
                        kind=r["kind"],
                    )
                    for r in rows
                ],
            )
            db.session.commit()
            have += sum(1 for r in results if not r.duplicate)
        return int(db.session.scalar(select(func.count()).select_from(Case)) or 0)


def shape_cases(app: Any, office: dict[str, Any]) -> dict[str, int]:
    """Give the seeded cases an office's mix of states, units, priorities and dates."""
    from sqlalchemy import text

    from sentinel.extensions import db

    units = office["unit_ids"]
    unit_case = (
        "CASE id % 5 " + " ".join(f"WHEN {i} THEN {u}" for i, u in enumerate(units)) + " END"
    )
    with app.app_context():
        duty_id = db.session.execute(text("SELECT id FROM users WHERE username='duty'")).scalar()
        db.session.execute(
            text("""
            UPDATE cases SET
              last_item_at = now() - ((id * 7919) % (60 * 24 * 60)) * interval '1 minute',
              first_item_at = now() - ((id * 7919) % (60 * 24 * 60)) * interval '1 minute',
              priority = CASE WHEN id % 53 = 0 THEN 2 WHEN id % 11 = 0 THEN 1 ELSE 0 END,
              topic = (ARRAY['城乡建设','教育','医疗卫生','交通运输','劳动和社会保障',
                             '环境保护','商贸旅游'])[1 + id % 7],
              request_type = (ARRAY['咨询','投诉','建议','求助','举报'])[1 + id % 5],
              -- Only tier A and no sentiment: the label macro in templates/macros/ui.html
              -- cannot see TIER_LABELS / SENTIMENT_LABELS (imported without context),
              -- so B/C tiers and sentiments make /triage/ answer 500 for now.
              risk_tier = CASE WHEN id % 5 < 3 THEN 'A' END,
              rumour_score = (id % 100) / 100.0,
              status = CASE
                WHEN id % 100 < 25 THEN 'new'
                WHEN id % 100 < 30 THEN 'claimed'
                WHEN id % 100 < 45 THEN 'dispatched'
                WHEN id % 100 < 60 THEN 'acknowledged'
                WHEN id % 100 < 75 THEN 'answered'
                WHEN id % 100 < 92 THEN 'closed'
                WHEN id % 100 < 97 THEN 'noise'
                ELSE 'merged' END
        """)
        )
        db.session.execute(
            text(f"""
            UPDATE cases SET unit_id = {unit_case},
                   dispatched_at = last_item_at + interval '1 hour'
            WHERE status IN ('dispatched','acknowledged','answered','closed')
        """)
        )
        db.session.execute(
            text("UPDATE cases SET claimed_by_id = :u WHERE status = 'claimed'"), {"u": duty_id}
        )
        db.session.execute(text("UPDATE cases SET close_reason = 'spam' WHERE status = 'noise'"))
        # The workers label items within seconds of ingest (bench/pipeline.py); no worker
        # runs here, so mark them processed as the workers would have: the text search then
        # reads its index, as in a running office, not the backlog path for waiting items.
        db.session.execute(
            text(
                "UPDATE items SET processed_at = received_at + interval '1 second' "
                "WHERE processed_at IS NULL"
            )
        )
        db.session.commit()
        counts = dict(
            db.session.execute(text("SELECT status, count(*) FROM cases GROUP BY status")).all()
        )
    with app.app_context(), db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    return {k: int(v) for k, v in counts.items()}


# --------------------------------------------------------------------------- clients


def ingest_phase(port: int, office: dict[str, Any], texts: list[str]) -> float:
    """POST TOTAL_ITEMS items from CLIENTS threads; returns items per second."""
    tokens = office["tokens"]
    bodies: queue.Queue[tuple[str, bytes]] = queue.Queue()
    for b in range(TOTAL_ITEMS // BATCH):
        items = make_items(texts, b * BATCH, BATCH, "api")
        body = json.dumps({"items": items}, ensure_ascii=False).encode("utf-8")
        bodies.put((tokens[b % len(tokens)], body))
    errors: list[str] = []
    duplicates = [0]
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while True:
                try:
                    token, body = bodies.get_nowait()
                except queue.Empty:
                    return
                conn.request(
                    "POST",
                    "/api/v1/items",
                    body=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )
                response = conn.getresponse()
                data = response.read()
                with lock:
                    if response.status != 202:
                        errors.append(f"{response.status} {data[:200]!r}")
                    else:
                        duplicates[0] += sum(1 for r in json.loads(data)["items"] if r["duplicate"])
        finally:
            conn.close()

    # Warm up each server worker (imports, connection pool) outside the timed run.
    warm = make_items(texts, 10_000_000, 10, "warm")
    for _ in range(4):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request(
            "POST",
            "/api/v1/items",
            body=json.dumps({"items": warm}).encode(),
            headers={"Authorization": f"Bearer {tokens[0]}", "Content-Type": "application/json"},
        )
        conn.getresponse().read()
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"ingest failed: {len(errors)} batches, first: {errors[0]}")
    say(
        f"ingest: {TOTAL_ITEMS} items in {TOTAL_ITEMS // BATCH} batches of {BATCH}, "
        f"{CLIENTS} clients, {elapsed:.1f} s, duplicates attached {duplicates[0]}"
    )
    return TOTAL_ITEMS / elapsed


class Browser:
    """A keep-alive HTTP client with a cookie jar, enough for the login form and GETs."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        headers = dict(headers or {})
        headers["User-Agent"] = "sentinel-bench"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                self.cookies[key.strip()] = val.strip()
        return response.status, data

    def login(self, username: str, password: str) -> None:
        from urllib.parse import urlencode

        status, page = self.request("GET", "/login")
        match = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        if status != 200 or match is None:
            raise SystemExit(f"login page: {status}, no CSRF token")
        form = urlencode(
            {"csrf_token": match.group(1).decode(), "username": username, "password": password}
        ).encode()
        status, _ = self.request(
            "POST",
            "/login",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 302:
            raise SystemExit(f"login failed: HTTP {status}")


def triage_phase(port: int, office: dict[str, Any], username: str) -> list[float]:
    browser = Browser(port)
    browser.login(username, PASSWORD)
    say(f"triage as {username!r}:")
    src, unit = office["source_ids"][1], office["unit_ids"][2]
    variants = [
        "/triage/",
        "/triage/?sort=newest",
        "/triage/?status=open",
        "/triage/?status=all&sort=asked",
        f"/triage/?source_id={src}",
        f"/triage/?status=dispatched&unit_id={unit}",
        "/triage/?status=open&sort=rumour&risk_tier=A",
        "/triage/?q=%E7%89%A9%E4%B8%9A",  # q=物业: text search over the items
        "/triage/?date_from=2026-11-01&sort=newest",
        "/triage/?page=3",
    ]
    for path in variants:  # warm up, and check every variant renders
        status, _ = browser.request("GET", path)
        if status != 200:
            raise SystemExit(f"GET {path}: HTTP {status}")
    times: list[float] = []
    per_variant: dict[str, list[float]] = {v: [] for v in variants}
    for n in range(TRIAGE_REQUESTS):
        # The default view most often, as a duty officer's morning would have it.
        path = variants[0] if n % 2 == 0 else variants[1 + (n // 2) % (len(variants) - 1)]
        started = time.perf_counter()
        status, _ = browser.request("GET", path)
        ms = (time.perf_counter() - started) * 1000
        if status != 200:
            raise SystemExit(f"GET {path}: HTTP {status}")
        times.append(ms)
        per_variant[path].append(ms)
    for path, values in per_variant.items():
        say(
            f"  {path}: n={len(values)} median {statistics.median(values):.1f} ms "
            f"max {max(values):.1f} ms"
        )
    # Context, not the figure: the tail without and with text search.
    plain = [ms for path, values in per_variant.items() if "q=" not in path for ms in values]
    say(
        f"  without text search: n={len(plain)} p50 {percentile(plain, 0.5):.1f} ms "
        f"p95 {percentile(plain, 0.95):.1f} ms; all: p50 {percentile(times, 0.5):.1f} ms "
        f"p95 {percentile(times, 0.95):.1f} ms"
    )
    return times


def copy_phase() -> float:
    """COPY the items the API stored into scratch copies of ``items``: rows per second.

    The rows are read first (binary COPY TO, not timed); the timed part is one binary COPY
    FROM and its commit, into a table with the same columns, defaults and indexes as
    ``items`` (``LIKE items INCLUDING ALL``: the figure), and into one with the columns
    only (context: what the indexes cost). No foreign keys, no cases, no audit: the
    ceiling for the same rows on this machine, not a rival ingest path.
    """
    import psycopg

    rates = {}
    with psycopg.connect(PG_URL) as conn:
        data = bytearray()
        with conn.cursor().copy(
            "COPY (SELECT * FROM items WHERE external_id LIKE 'api-%') TO STDOUT (FORMAT BINARY)"
        ) as copy:
            for block in copy:
                data += block
        rows = conn.execute("SELECT count(*) FROM items WHERE external_id LIKE 'api-%'")
        count = int(rows.fetchone()[0])  # type: ignore[index]
        for name, like in (("indexed", "INCLUDING ALL"), ("bare", "")):
            conn.execute("DROP TABLE IF EXISTS bench_copy_scratch")
            conn.execute(f"CREATE TABLE bench_copy_scratch (LIKE items {like})")
            conn.commit()
            started = time.perf_counter()
            with conn.cursor().copy("COPY bench_copy_scratch FROM STDIN (FORMAT BINARY)") as copy:
                for start in range(0, len(data), 1 << 20):
                    copy.write(bytes(data[start : start + (1 << 20)]))
            conn.commit()
            rates[name] = count / (time.perf_counter() - started)
            conn.execute("DROP TABLE bench_copy_scratch")
            conn.commit()
        # Context: the API also opens a case per new text (nine items in ten here), into a
        # table with 22 indexes; what the same COPY allows for those rows.
        cases_data = bytearray()
        with conn.cursor().copy(
            "COPY (SELECT * FROM cases WHERE id IN (SELECT case_id FROM items "
            "WHERE external_id LIKE 'api-%')) TO STDOUT (FORMAT BINARY)"
        ) as copy:
            for block in copy:
                cases_data += block
        rows = conn.execute(
            "SELECT count(DISTINCT case_id) FROM items WHERE external_id LIKE 'api-%'"
        )
        case_count = int(rows.fetchone()[0])  # type: ignore[index]
        conn.execute("DROP TABLE IF EXISTS bench_copy_scratch")
        conn.execute("CREATE TABLE bench_copy_scratch (LIKE cases INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy("COPY bench_copy_scratch FROM STDIN (FORMAT BINARY)") as copy:
            for start in range(0, len(cases_data), 1 << 20):
                copy.write(bytes(cases_data[start : start + (1 << 20)]))
        conn.commit()
        cases_rate = case_count / (time.perf_counter() - started)
        conn.execute("DROP TABLE bench_copy_scratch")
        conn.commit()
    say(
        f"copy: {count} item rows ({len(data) / 1e6:.0f} MB) by one binary COPY: "
        f"{rates['indexed']:.0f} rows/s into a copy of items with its indexes, "
        f"{rates['bare']:.0f} rows/s without indexes"
    )
    both = 1 / (1 / rates["indexed"] + (case_count / count) / cases_rate)
    say(
        f"copy: {case_count} case rows of those items: {cases_rate:.0f} rows/s into a copy of "
        f"cases with its indexes; items and their cases together: {both:.0f} items/s "
        f"(no foreign keys, triggers, audit or Python: a ceiling, not a rival path)"
    )
    return rates["indexed"]


def explain_search(app: Any, words: tuple[str, ...] = ("物业", "补办")) -> None:
    """EXPLAIN ANALYZE of the triage text search for both officers.

    ``物业`` is in ~10 % of the messages (the bench's search), ``补办`` in ~0.2 %. Where
    the search finds its cases first (``text_search.matching_case_ids``), that query is
    explained too, then the page's count and first page.
    """
    from flask import g
    from sqlalchemy import func, select, text

    from sentinel.extensions import db
    from sentinel.models import Case, Item, User
    from sentinel.services import text_search
    from sentinel.services.case_queries import CaseFilters, case_query, ordered

    def explain(label: str, query: Any) -> None:
        sql = str(query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
        plan = db.session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars()
        say(f"plan: {label}")
        for line in plan:
            say(f"  {line}")

    for username in ("duty", "dept"):
        for q in words:
            with app.test_request_context():
                user = db.session.scalar(select(User).where(User.username == username))
                explain(
                    f"{username} q={q} matching cases",
                    text_search._pg_matching(q, Item.case_id),
                )
                stmt = case_query(user, CaseFilters(q=q))
                explain(
                    f"{username} q={q} count",
                    select(func.count()).select_from(stmt.order_by(None).subquery()),
                )
                explain(
                    f"{username} q={q} page",
                    ordered(stmt.with_only_columns(Case.id), "urgent").limit(50),
                )
                g.pop("_text_search_case_ids", None)
                db.session.rollback()


def server_times(log: Path) -> list[float]:
    """Server-side times of /triage/ requests from gunicorn's access log (``%(M)sms``)."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        match = re.search(r'"GET /triage/ HTTP[^"]*" 200 \d+ (\d+)ms', line)
        if match is None:
            match = re.search(r'"GET /triage/" 200 \d+ (\d+)ms', line)
        if match:
            out.append(float(match.group(1)))
    return out


# ------------------------------------------------------------------------------ main


def main() -> int:
    begun = time.monotonic()
    procs = ProcessGroup("sentinel-bench-")
    app = None
    try:
        say(
            f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
            f"python {sys.version.split()[0]}, database {PG_URL.rsplit('@', 1)[-1]}"
        )
        texts = load_texts()
        say(f"messages: {len(texts)} real government messages from data/gov_hot, data/gov_replies")
        recreate_database()
        redis_url = start_redis(procs)
        env = {
            "SENTINEL_DATABASE_URL": PG_URL,
            "SENTINEL_REDIS_URL": redis_url,
            "SENTINEL_INSTANCE_PATH": str(procs.tmp / "instance"),
            "SENTINEL_SECRET_KEY": "bench-secret",
            "SENTINEL_MODELS_DIR": str(procs.tmp / "models"),
            # The server imports this checkout's packages even if the venv's editable
            # install predates one of them.
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(env)
        from flask_migrate import upgrade

        from sentinel.app import create_app

        app = create_app({"RATELIMIT_ENABLED": False})
        with app.app_context():
            upgrade()
        office = setup_office(app)

        port = free_port()
        procs.start(
            [
                str(VENV_BIN / "sentinel"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            env=env,
            log="server.log",
        )

        def serving() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/login")
                ok = conn.getresponse().status == 200
                conn.close()
                return ok
            except OSError:
                return False

        wait_for(serving, 60, "sentinel serve")
        say(
            f"server: sentinel serve --workers 2 (gunicorn gthread) on port {port}, "
            f"jobs to Redis (no worker running)"
        )

        rate = ingest_phase(port, office, texts)
        copy_rate = copy_phase()

        seed_started = time.monotonic()
        cases = seed_cases(app, texts, office, start=TOTAL_ITEMS)
        counts = shape_cases(app, office)
        say(
            f"seeded: {cases} cases in {time.monotonic() - seed_started:.0f} s; statuses "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        )

        times = triage_phase(port, office, "duty")
        dept_times = triage_phase(port, office, "dept")
        explain_search(app)
        server = server_times(procs.tmp / "server.log")
        if server:
            say(
                f"triage server-side (gunicorn access log, every /triage/ GET): "
                f"n={len(server)} p50 {percentile(server, 0.5):.0f} ms "
                f"p95 {percentile(server, 0.95):.0f} ms"
            )
        say(f"triage: {len(times)} GETs per officer, one client, client-side wall time on loopback")
        say(
            f"total bench time: {time.monotonic() - begun:.0f} s, "
            f"load average now {os.getloadavg()[0]:.1f}"
        )
        say(f"ingest_items_per_s={rate:.0f}")
        say(f"copy_rows_per_s={copy_rate:.0f}")
        say(f"ingest_share_of_copy={rate / copy_rate:.2f}")
        say(f"triage_p50_ms={percentile(times, 0.5):.1f}")
        say(f"triage_p95_ms={percentile(times, 0.95):.1f}")
        say(f"triage_dept_p50_ms={percentile(dept_times, 0.5):.1f}")
        say(f"triage_dept_p95_ms={percentile(dept_times, 0.95):.1f}")
        return 0
    except BaseException:
        log = procs.tmp / "server.log"
        if log.exists():
            tail = log.read_text(errors="replace").splitlines()[-60:]
            print("server log (tail):\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        procs.close()
        try:
            from sentinel.extensions import db  # release pooled connections before DROP

            if app is not None:
                with app.app_context():
                    db.engine.dispose()
            if not os.environ.get("BENCH_KEEP_DB"):
                drop_database()
        except Exception as exc:  # cleanup must not hide the figures
            print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
