"""Benchmark: hot-event alert latency and clustering throughput, with real workers.

    python bench/hot.py

1. drops and creates a fresh PostgreSQL database (``BENCH_PG_URL``, default
   ``postgresql://postgres@127.0.0.1:5432/sentinel_bench_hot``), migrates it, starts a
   private ``redis-server`` and, as the README sets them up, ``sentinel serve --workers 2``,
   ``sentinel worker interactive`` and ``sentinel worker``;
2. replays the real messages of data/gov_hot (in their time order) through
   ``POST /api/v1/items`` at ``BENCH_RATE`` (default 200) items/s in batches of 20, for
   ``BENCH_SECONDS`` (default 20) s, while a logged-in duty officer polls ``/events/feed.json``
   every 0.2 s (what the events page reads without reloading);
3. ``hot_alert_p95_s``: for every (event, level) escalation, from the POST of the item whose
   clustering crossed the threshold (the event's last item placed at or before the
   escalation) to the duty officer seeing the level in the feed;
4. ``cluster_items_per_s``: the workers stopped, all events dropped, the replayed items are
   clustered again in this one process (one core) in batches of 100, each committed —
   clustering alone (index queries, profile updates, heat, escalation), no classification.
"""

from __future__ import annotations

import csv
import http.client
import http.cookiejar
import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent

from bench.pipeline import load, models_dir, percentile  # noqa: E402
from tests.support import processes  # noqa: E402
from tests.support.processes import ProcessGroup, RedisServer, free_port, wait_for  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/sentinel_bench_hot")
RATE = float(os.environ.get("BENCH_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
BATCH = 20
PASSWORD = "bench-password-1"


def say(line: str) -> None:
    print(line, flush=True)


def messages() -> list[dict[str, str]]:
    """The board's messages in time order (subject + text)."""
    from sentinel.services.importer import parse_time

    with open(ROOT / "data" / "gov_hot" / "messages_with_votes.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rows.sort(key=lambda r: (parse_time(r["留言时间"]), r["留言编号"]))
    return [
        {
            "external_id": f"hot-{r['留言编号']}",
            "text": f"{r['留言主题'].strip()}\n{r['留言详情'].strip()}",
            "author": r["留言用户"],
            "kind": "comment",
            "extra": {"likes": int(r["点赞数"] or 0)},
        }
        for r in rows
    ]


def setup(app: Any) -> str:
    from sentinel.auth.permissions import Actor
    from sentinel.extensions import db
    from sentinel.services import sources, units, users

    actor = Actor(label="bench")
    with app.app_context():
        root = units.create_unit(actor, "基准县政府办", "county")
        source = sources.create_source(actor, "县政府网站留言板", "website", "", root)
        token = sources.issue_token(actor, source)
        users.create_user(actor, "duty", PASSWORD, "duty_officer", [root])
        db.session.commit()
        return token


class Officer:
    """A logged-in duty officer polling the events feed; records when each level shows."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.opener.open(self.base + "/login").read().decode()
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        data = urllib.parse.urlencode(
            {"username": "duty", "password": PASSWORD, "csrf_token": token}
        ).encode()
        self.opener.open(self.base + "/login", data)
        self.seen: dict[tuple[int, int], float] = {}
        self.stop = threading.Event()

    def poll(self) -> None:
        while not self.stop.is_set():
            try:
                body = self.opener.open(self.base + "/events/feed.json", timeout=10).read()
                now = time.time()
                for e in json.loads(body)["events"]:
                    for level in range(1, int(e["escalated_level"]) + 1):
                        self.seen.setdefault((e["id"], level), now)
            except (OSError, ValueError):
                pass
            time.sleep(0.2)


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


def replay(port: int, token: str, texts: list[dict[str, Any]]) -> dict[str, float]:
    total = min(len(texts), int(RATE * SECONDS))
    interval = BATCH / RATE
    sent: dict[str, float] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.monotonic()
    for n, first in enumerate(range(0, total, BATCH)):
        due = start + n * interval
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        batch = texts[first : first + BATCH]
        at = time.time()
        post(conn, token, batch)
        for item in batch:
            sent[item["external_id"]] = at
    conn.close()
    achieved = total / (time.monotonic() - start)
    say(f"posted {total} items at {achieved:.0f} items/s (target {RATE:.0f})")
    return sent


def latencies(app: Any, sent: dict[str, float], seen: dict[tuple[int, int], float]) -> list[float]:
    from sqlalchemy import select

    from sentinel.extensions import db
    from sentinel.models import EventEscalation, EventItem, Item

    out: list[float] = []
    with app.app_context():
        for esc in db.session.scalars(select(EventEscalation)):
            crossing = db.session.execute(
                select(Item.external_id)
                .join(EventItem, EventItem.item_id == Item.id)
                .where(EventItem.event_id == esc.event_id, EventItem.added_at <= esc.at)
                .order_by(EventItem.added_at.desc(), EventItem.id.desc())
                .limit(1)
            ).scalar()
            shown = seen.get((esc.event_id, esc.level))
            if crossing in sent and shown is not None:
                out.append(shown - sent[crossing])
        db.session.rollback()
    return out


def cluster_rate(app: Any) -> tuple[float, int]:
    """Drop every event and cluster the stored items again in this process."""
    from sqlalchemy import select, text

    from sentinel.extensions import db
    from sentinel.models import Item
    from sentinel.services import event_clustering

    with app.app_context():
        db.session.execute(
            text(
                "TRUNCATE event_terms, event_heat_samples, event_escalations, event_detached, "
                "event_items, events RESTART IDENTITY CASCADE"
            )
        )
        db.session.commit()
        ids = list(db.session.scalars(select(Item.id).order_by(Item.id)))
        start = time.process_time()
        wall = time.monotonic()
        for first in range(0, len(ids), 100):
            event_clustering.cluster_items(ids[first : first + 100])
            db.session.commit()
        cpu = time.process_time() - start
        say(
            f"clustered {len(ids)} items in {time.monotonic() - wall:.1f} s wall, "
            f"{cpu:.1f} s CPU of this process"
        )
        return len(ids) / max(cpu, 1e-9), len(ids)


def main() -> int:
    procs = ProcessGroup("sentinel-hot-")
    app = None
    try:
        say(f"machine: {os.cpu_count()} CPUs, load average {load()}")
        processes.recreate_database(PG_URL)
        procs.redis = RedisServer(procs.tmp)
        procs.redis.start()
        env = {
            "SENTINEL_DATABASE_URL": PG_URL,
            "SENTINEL_REDIS_URL": procs.redis.url,
            "SENTINEL_INSTANCE_PATH": str(procs.tmp / "instance"),
            "SENTINEL_SECRET_KEY": "bench-secret",
            "SENTINEL_MODELS_DIR": models_dir(procs.tmp),
            "SENTINEL_RATELIMIT_ENABLED": "false",
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(env)
        from flask_migrate import upgrade

        from sentinel.app import create_app

        app = create_app({"RATELIMIT_ENABLED": False})
        with app.app_context():
            upgrade()
        token = setup(app)
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
        officer = Officer(port)
        poller = threading.Thread(target=officer.poll, daemon=True)
        poller.start()
        texts = messages()
        sent = replay(port, token, texts)
        # Let the queue drain and the last escalations show.
        time.sleep(15)
        officer.stop.set()
        poller.join(timeout=5)
        lags = latencies(app, sent, officer.seen)
        say(f"escalations seen by the duty officer: {len(lags)}; load {load()}")
        procs.close()
        rate, _count = cluster_rate(app)
        say(f"hot_alert_p50_s={percentile(lags, 0.5):.2f}" if lags else "hot_alert_p50_s=nan")
        say(f"hot_alert_p95_s={percentile(lags, 0.95):.2f}" if lags else "hot_alert_p95_s=nan")
        say(f"cluster_items_per_s={rate:.0f}")
        return 0
    except BaseException:
        for name in ("server.log", "worker-interactive.log", "worker-all.log"):
            log = procs.tmp / name
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-30:]
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
                processes.recreate_database(PG_URL, create=False)
        except Exception as exc:
            print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
