"""Seed a report-sized database by binary COPY: a unit tree, cases with their assignment
history, returns (退单), 协办 tasks, extensions and pauses, and their items.

Reusable: ``bench/report.py`` times the quarterly 留言办理情况 report on it, and the
dashboard bench can time its queries on the same data (``seed(app, url, n_items)``).

Shape (fixed random seed, so every run seeds the same rows):

- a city office with 12 counties, each a county office and 10 departments (133 units);
- ``n_items`` items on ``0.8 × n_items`` cases over the 400 days before ``now`` (one case
  in four has a second item);
- case statuses: new 5%, claimed 3%, dispatched 7%, acknowledged 15%, answered 30%,
  closed 35%, noise 4%, merged 1%; dispatched cases get a lead assignment per unit they
  went to: 6% were returned once (a second unit, a ``case_returns`` row), 1% twice;
- 协办 on 6% of dispatched cases, an approved extension on 3%, a pause on 1%.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

STATUS_WEIGHTS = (
    ("new", 5),
    ("claimed", 3),
    ("dispatched", 7),
    ("acknowledged", 15),
    ("answered", 30),
    ("closed", 35),
    ("noise", 4),
    ("merged", 1),
)
TOPICS = ("城乡建设", "教育", "医疗卫生", "交通运输", "劳动和社会保障", "环境保护", "市场监管")
SENTIMENTS = ("negative", "neutral", "neutral", "positive")
REQUEST_TYPES = ("咨询", "投诉", "建议", "求助", "举报")


@dataclass
class Seeded:
    units: int
    cases: int
    items: int
    assignments: int
    returns: int
    changes: int
    seconds: float
    now: datetime
    root_id: int


def setup_units(app: Any) -> tuple[int, list[int], list[int], int]:
    """The unit tree and one source; returns (root id, office ids, department ids, source)."""
    from sentinel.auth.permissions import Actor
    from sentinel.extensions import db
    from sentinel.services import sources, units

    actor = Actor(label="bench")
    with app.app_context():
        root = units.create_unit(actor, "基准市政务新媒体办公室", "city")
        offices, departments = [], []
        for c in range(12):
            county = units.create_unit(actor, f"基准县{c + 1}政府办", "county", root)
            offices.append(county.id)
            for d in range(10):
                dept = units.create_unit(actor, f"基准县{c + 1}部门{d + 1}", "department", county)
                departments.append(dept.id)
        source = sources.create_source(actor, "市长信箱", "mailbox", "", root)
        db.session.commit()
        return root.id, offices, departments, source.id


def _status(rng: random.Random) -> str:
    pick = rng.randrange(100)
    for status, weight in STATUS_WEIGHTS:
        if pick < weight:
            return status
        pick -= weight
    return "closed"


def seed(app: Any, url: str, n_items: int = 1_000_000, now: datetime | None = None) -> Seeded:
    """Seed the database at ``url`` (already migrated, empty) by COPY; VACUUM ANALYZE."""
    import psycopg

    started = time.monotonic()
    now = now or datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(14)
    root_id, offices, departments, source_id = setup_units(app)
    n_cases = n_items * 4 // 5
    url = url.replace("postgresql+psycopg://", "postgresql://")
    case_cols = (
        "id, title, status, priority, source_id, owner_unit_id, unit_id, text_hash, ask_count, "
        "first_item_at, last_item_at, created_at, updated_at, dispatched_at, acknowledged_at, "
        "answered_at, closed_at, close_reason, merged_into_id, topic, sentiment, request_type, "
        "needs_person, response_due_at, due_at, clock_started_at, extension_days, "
        "deadline_round, deadline_state, return_count, due_provisional, priority_manual, "
        "auto_attached"
    )
    item_cols = (
        "id, source_id, external_id, kind, text, text_normalised, text_hash, received_at, "
        "case_id, is_duplicate, topic, sentiment, request_type, text_verbatim, posted_in_future"
    )
    assignment_cols = (
        "id, case_id, unit_id, role, status, assigned_at, acknowledged_at, due_at, finished_at"
    )
    return_cols = "id, case_id, unit_id, reason, returned_at, outcome, outcome_unit_id"
    change_cols = "id, case_id, kind, status, days, reason, approver_role, requested_at, decided_at"
    items: list[tuple[Any, ...]] = []
    assignments: list[tuple[Any, ...]] = []
    returns: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    span = 400 * 24 * 3600
    hour = timedelta(hours=1)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY cases ({case_cols}) FROM STDIN") as copy:
            for n in range(1, n_cases + 1):
                status = _status(rng)
                first = now - timedelta(seconds=rng.randrange(span))
                county = rng.randrange(12)
                owner = offices[county]
                dept = departments[county * 10 + rng.randrange(10)]
                topic = TOPICS[n % len(TOPICS)]
                h = f"{n:064x}"
                asks = 2 if n % 4 == 0 else 1
                unit_id = dispatched = ack = answered = closed = None
                response_due = due = clock = state = close_reason = merged_into = None
                return_count = extension = 0
                if status in ("dispatched", "acknowledged", "answered", "closed", "merged"):
                    dispatched = first + hour * rng.uniform(0.2, 30)
                    # Returns (退单): earlier units' assignments and the return records.
                    bounces = 2 if rng.random() < 0.01 else 1 if rng.random() < 0.06 else 0
                    at = dispatched
                    for _ in range(bounces):
                        other = departments[county * 10 + rng.randrange(10)]
                        assignments.append(
                            (
                                len(assignments) + 1,
                                n,
                                other,
                                "lead",
                                "returned",
                                at,
                                None,
                                None,
                                None,
                            )
                        )
                        back = at + hour * rng.uniform(0.5, 20)
                        returns.append(
                            (len(returns) + 1, n, other, "function", back, "redispatched", dept)
                        )
                        at = back + hour * rng.uniform(0.5, 10)
                    dispatched = at
                    return_count = bounces
                    unit_id = dept
                    response_due = dispatched + hour * 6
                    if status != "dispatched" and status != "merged":
                        ack = dispatched + hour * rng.expovariate(1 / 5)
                        clock = ack
                        due = ack + timedelta(days=rng.choice((3, 5, 13, 13)) * 7 / 5)
                    lead_status = {
                        "dispatched": "active",
                        "merged": "active",
                        "acknowledged": "acknowledged",
                    }.get(status, "done")
                    assignments.append(
                        (
                            len(assignments) + 1,
                            n,
                            dept,
                            "lead",
                            lead_status,
                            dispatched,
                            ack,
                            None,
                            None,
                        )
                    )
                    if ack is not None and rng.random() < 0.06:
                        helper = departments[county * 10 + rng.randrange(10)]
                        assist_due = ack + timedelta(days=2)
                        finished = ack + timedelta(days=rng.uniform(0.2, 4))
                        assignments.append(
                            (
                                len(assignments) + 1,
                                n,
                                helper,
                                "assist",
                                "done",
                                ack,
                                None,
                                assist_due,
                                finished,
                            )
                        )
                    if due is not None and rng.random() < 0.04:
                        kind = "extension" if rng.random() < 0.75 else "pause"
                        decided = ack + timedelta(days=rng.uniform(0.5, 3))
                        extension = 3
                        due += timedelta(days=extension * 7 / 5)
                        changes.append(
                            (
                                len(changes) + 1,
                                n,
                                kind,
                                "approved",
                                3,
                                "需协调",
                                "duty_officer",
                                decided - hour,
                                decided,
                            )
                        )
                    if status in ("answered", "closed") and ack is not None:
                        answered = ack + timedelta(days=rng.expovariate(1 / 5))
                        state = "met" if due is None or answered <= due else "late"
                        if status == "closed":
                            closed = answered + timedelta(days=1)
                            close_reason = "answered"
                    if status == "merged":
                        closed = dispatched + hour
                        close_reason = "merged"
                        merged_into = max(1, n - 1)
                elif status == "noise":
                    closed = first + hour * 2
                    close_reason = "spam"
                last = first + (timedelta(hours=rng.uniform(1, 48)) if asks == 2 else timedelta())
                copy.write_row(
                    (
                        n,
                        f"基准留言{n}",
                        status,
                        0,
                        source_id,
                        owner,
                        unit_id,
                        h,
                        asks,
                        first,
                        last,
                        first,
                        last,
                        dispatched,
                        ack,
                        answered,
                        closed,
                        close_reason,
                        merged_into,
                        topic,
                        SENTIMENTS[n % 4],
                        REQUEST_TYPES[n % 5],
                        False,
                        response_due,
                        due,
                        clock,
                        extension,
                        1 if dispatched else 0,
                        state,
                        return_count,
                        False,
                        False,
                        0,
                    )
                )
                items.append(
                    (
                        len(items) + 1,
                        source_id,
                        f"b{n}",
                        "letter",
                        f"基准留言{n}",
                        f"基准留言{n}",
                        h,
                        first,
                        n,
                        False,
                        topic,
                        SENTIMENTS[n % 4],
                        REQUEST_TYPES[n % 5],
                        True,
                        False,
                    )
                )
                if asks == 2 and len(items) < n_items:
                    items.append(
                        (
                            len(items) + 1,
                            source_id,
                            f"b{n}-2",
                            "letter",
                            f"基准留言{n}",
                            f"基准留言{n}",
                            h,
                            last,
                            n,
                            True,
                            topic,
                            SENTIMENTS[n % 4],
                            REQUEST_TYPES[n % 5],
                            True,
                            False,
                        )
                    )
        while len(items) < n_items:  # the remainder: second items on the newest cases
            n = n_cases - (n_items - len(items))
            items.append(
                (
                    len(items) + 1,
                    source_id,
                    f"b{n}-3",
                    "letter",
                    f"基准留言{n}",
                    f"基准留言{n}",
                    f"{n:064x}",
                    now - hour,
                    n,
                    True,
                    None,
                    None,
                    None,
                    True,
                    False,
                )
            )
        for table, cols, rows in (
            ("items", item_cols, items),
            ("assignments", assignment_cols, assignments),
            ("case_returns", return_cols, returns),
            ("deadline_changes", change_cols, changes),
        ):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", (max(len(rows), 1),)
            )
        cur.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), %s)", (n_cases,))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return Seeded(
        units=1 + 12 * 11,
        cases=n_cases,
        items=len(items),
        assignments=len(assignments),
        returns=len(returns),
        changes=len(changes),
        seconds=time.monotonic() - started,
        now=now,
        root_id=root_id,
    )
