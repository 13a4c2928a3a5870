"""Triage text search on an index gives exactly the substring search's results.

Runs on SQLite (FTS5 bigrams) and, with ``SENTINEL_TEST_DATABASE_URL``, on PostgreSQL
(GIN on characters). The reference is the plain substring scan (``LIKE '%q%'``).
"""

from __future__ import annotations

import csv
import os
import random

from sqlalchemy import select, text, update

from sentinel.extensions import db
from sentinel.models import Case, Item
from sentinel.services.case_queries import CaseFilters, case_query
from sentinel.services.text_search import item_match, substring_match, text_match

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRAFTED = [
    "ABC 物业费 100% 上涨",
    "abc 路灯 a_b 不亮",
    "反斜杠 C:\\temp 与 50%_折扣",
    "表情😀😀 物业😀",
    "物 业 分开写",
    "业物 倒过来",
]


def real_texts(limit: int = 300) -> list[str]:
    path = os.path.join(ROOT, "data", "gov_hot", "messages_with_votes.csv")
    with open(path, encoding="utf-8", newline="") as fh:
        rows = [row["留言详情"] for row in csv.DictReader(fh) if row["留言详情"].strip()]
    return rows[:limit]


def ingest_all(office, texts: list[str]) -> None:
    for start in range(0, len(texts), 100):
        office.ingest(*texts[start : start + 100])


def case_ids(condition) -> set[int]:
    return set(db.session.scalars(select(Case.id).where(condition)))


def queries(stored: list[str]) -> list[str]:
    rng = random.Random(20261201)
    out = ["物业", "小区", "学校", "补办", "工资", "停车", "物", "业", "我"]
    out += ["AB", "ab", "Ab", "%", "_", "\\", "100%", "a_b", "0%_", "C:\\t", "😀", "😀物", "物 业"]
    out += ["不存在的词语组合", "业物", " 路", "路灯 ", "费 1"]
    for length in (1, 2, 2, 2, 3, 4, 6):
        for _ in range(12):
            source = rng.choice(stored)
            if len(source) > length:
                start = rng.randrange(len(source) - length)
                out.append(source[start : start + length])
    return [q for q in out if q.strip()]


def test_indexed_search_equals_the_substring_search_on_real_texts(office):
    ingest_all(office, real_texts() + CRAFTED)
    stored = list(db.session.scalars(select(Item.text_normalised)))
    found_something = 0
    for q in queries(stored):
        expected = case_ids(substring_match(q))
        assert case_ids(text_match(q)) == expected, q
        found_something += bool(expected)
    assert found_something >= 60  # the comparison is not between empty sets


def test_triage_filter_uses_the_same_results(office):
    ingest_all(office, real_texts(120) + CRAFTED)
    duty = office.users["duty"]
    for q in ("物业", "路", "100%", "a_b", "ab"):
        got = set(db.session.scalars(case_query(duty, CaseFilters(q=q, status="all"))))
        assert {c.id for c in got} == case_ids(substring_match(q)), q
        assert got, q


def test_index_follows_new_and_changed_texts(office):
    ingest_all(office, CRAFTED)
    assert case_ids(text_match("垃圾清运")) == set()
    [result] = office.ingest("小区垃圾清运不及时")
    assert case_ids(text_match("垃圾清运")) == {result.case_id}
    # A changed text (as a correction would make it) is found by its new words only.
    db.session.execute(
        update(Item).where(Item.id == result.id).values(text_normalised="楼道灯坏了")
    )
    db.session.flush()
    assert case_ids(text_match("垃圾清运")) == set()
    assert case_ids(text_match("楼道灯")) == {result.case_id}
    from sentinel.models import EventItem

    # Its place in an event goes first (a foreign key on PostgreSQL).
    db.session.execute(EventItem.__table__.delete().where(EventItem.item_id == result.id))
    db.session.execute(Item.__table__.delete().where(Item.id == result.id))
    db.session.flush()
    assert case_ids(text_match("楼道灯")) == set()
    db.session.rollback()


def test_the_index_serves_two_character_queries(office):
    ingest_all(office, real_texts(50))
    stmt = select(Item.id).where(item_match("物业"))
    sql = str(stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "postgresql":
        # A tiny table: without this the planner rightly reads it whole.
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(db.session.scalars(text("EXPLAIN " + sql)))
        assert "ix_items_text_chars" in plan, plan
    else:
        rows = db.session.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
        plan = "\n".join(str(row[-1]) for row in rows)
        assert "VIRTUAL TABLE INDEX" in plan and "items_search" in plan, plan
    db.session.rollback()


def test_items_waiting_for_their_worker_are_found_too(office):
    """The PostgreSQL index holds processed items only (ingest writes no index entries);
    items not yet processed are found by the substring test on the unprocessed index."""
    ingest_all(office, real_texts(120) + CRAFTED)
    ids = sorted(db.session.scalars(select(Item.id)))
    waiting = ids[::2]
    db.session.execute(update(Item).where(Item.id.in_(waiting)).values(processed_at=None))
    db.session.flush()
    stored = list(db.session.scalars(select(Item.text_normalised)))
    waiting_cases = set(db.session.scalars(select(Item.case_id).where(Item.id.in_(waiting))))
    found_waiting = 0
    for q in queries(stored):
        expected = case_ids(substring_match(q))
        assert case_ids(text_match(q)) == expected, q
        found_waiting += bool(expected & waiting_cases)
    assert found_waiting >= 30  # waiting items were really among the results
    if db.engine.dialect.name == "postgresql":
        sql = str(
            select(Item.case_id)
            .where(item_match("物业"))
            .compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
        )
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(db.session.scalars(text("EXPLAIN " + sql)))
        assert "ix_items_text_chars" in plan and "ix_items_unprocessed" in plan, plan
    db.session.rollback()
