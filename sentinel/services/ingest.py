"""Ingest: keep the received text, upsert on (source, external_id), attach exact duplicates.

The text is stored exactly as received (``items.text``); its normalised form
(``items.text_normalised``) is what hashing, classification and search use.

Batch-oriented on purpose: one query finds re-deliveries, one finds open cases with the
same text, and the new cases and items are inserted in bulk, so a batch of 1,000 items
costs a handful of round trips.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    TypeDecorator,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from classifiers.text import normalise
from sentinel import queues
from sentinel.auth.permissions import Actor
from sentinel.errors import ValidationFailed
from sentinel.extensions import db
from sentinel.jobqueue import enqueue
from sentinel.models import Case, Item, Source, utcnow
from sentinel.models.case import OPEN_STATUSES
from sentinel.services import audit, bulk, duplicates

log = logging.getLogger(__name__)

TITLE_LENGTH = 60
PROCESS_BATCH = 500


@dataclass(frozen=True)
class IncomingItem:
    """One item as a connector or the API hands it over (already validated)."""

    external_id: str
    text: str
    kind: str = "comment"
    author: str | None = None
    posted_at: datetime | None = None
    url: str | None = None
    extra: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True)
class IngestResult:
    external_id: str
    id: int
    case_id: int
    # Attached automatically to a case with the same text (an open case of the same unit
    # inside the time window, or one opened by an earlier item of this batch).
    duplicate: bool
    # This (source, external_id) was stored before: nothing new was stored.
    redelivered: bool


@dataclass
class _Fresh:
    """A new item of the batch, normalised."""

    index: int
    item: IncomingItem
    text: str
    hash: str
    at: datetime  # when the asker wrote it (posted_at), else now; now when dated in the future
    in_future: bool = False  # dated after receipt beyond the clock-skew allowance


@dataclass(eq=False)
class _Target:
    """A case a new item goes to: an existing one (``id`` known) or one the batch opens."""

    id: int | None
    status: str
    owner_unit_id: int | None
    first_item_at: datetime
    text: str = ""
    hash: str = ""
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    # (case id, refusal reason) when this new case is a possible duplicate of another.
    link: tuple[int, str] | None = None
    opened: bool = False  # opened by this batch


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def storable_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored as received (PostgreSQL text holds no NUL character and
    UTF-8 no lone surrogate), or None."""
    if "\x00" in text:
        return "内容含有空字符（\\u0000），无法保存"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "内容含有无效的 Unicode 代理字符，无法保存"
    return None


def make_title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


def ingest_items(
    actor: Actor, source: Source, incoming: Sequence[IncomingItem], *, bulk: bool | None = None
) -> list[IngestResult]:
    """Store a batch of items for ``source``; return one result per input, in order.

    Re-delivery of an existing (source, external_id) stores nothing and returns the
    stored ids. Items whose normalised text equals a case's attach to it and raise its
    ask count only where ``duplicates.may_auto_attach`` allows (open, same owning unit,
    inside the time window); otherwise they open a case linked as a possible duplicate.
    A concurrent delivery of the same new item is resolved by retrying once inside a
    savepoint.

    Their classification goes to the bulk queue when ``bulk`` is true (a large import
    feeding its rows in chunks says so), by default when the batch is larger than
    ``queues.BULK_ROWS``; otherwise to the interactive queue.
    """
    if not incoming:
        return []
    for attempt in (1, 2):
        try:
            with db.session.begin_nested():
                results = _ingest(actor, source, incoming)
            break
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("ingest_retry source_id=%s reason=concurrent_delivery", source.id)
    new_ids = [r.id for r in results if not r.redelivered]
    job = queues.process_job(len(incoming) > queues.BULK_ROWS if bulk is None else bulk)
    for start in range(0, len(new_ids), PROCESS_BATCH):
        enqueue(job, item_ids=new_ids[start : start + PROCESS_BATCH])
    if new_ids:
        audit.record(
            actor,
            "items.ingest",
            "source",
            source.id,
            new=len(new_ids),
            redelivered=len(results) - len(new_ids),
            attached=sum(1 for r in results if r.duplicate and not r.redelivered),
            first_item_id=min(new_ids),
            last_item_id=max(new_ids),
        )
    return results


def _ingest(actor: Actor, source: Source, incoming: Sequence[IncomingItem]) -> list[IngestResult]:
    seen_ids: dict[str, int] = {}
    for index, item in enumerate(incoming):
        if item.external_id in seen_ids:
            raise ValidationFailed(
                "同一批次中 external_id 重复",
                details=[
                    {
                        "index": index,
                        "field": "external_id",
                        "message": f"与本批次第 {seen_ids[item.external_id]} 条重复",
                    }
                ],
            )
        seen_ids[item.external_id] = index

    existing = {
        row.external_id: row
        for row in db.session.execute(
            select(Item.id, Item.external_id, Item.case_id, Item.is_duplicate).where(
                Item.source_id == source.id, _in(Item.external_id, list(seen_ids))
            )
        )
    }
    now = utcnow()
    # A message dated after its receipt (beyond the clock-skew allowance) is flagged and
    # placed by its time of receipt, not left at the top of the queue as "刚刚" for ever.
    latest_plausible = now + timedelta(
        seconds=current_app.config.get("INGEST_FUTURE_SKEW_SECONDS", 300)
    )
    fresh: list[_Fresh] = []
    for index, item in enumerate(incoming):
        if item.external_id not in existing:
            problem = storable_problem(item.text)
            if problem:
                raise ValidationFailed(
                    problem, details=[{"index": index, "field": "text", "message": problem}]
                )
            text = normalise(item.text)
            if not text:
                raise ValidationFailed(
                    "内容为空",
                    details=[{"index": index, "field": "text", "message": "规范化后内容为空"}],
                )
            in_future = item.posted_at is not None and item.posted_at > latest_plausible
            at = now if in_future else item.posted_at or now
            fresh.append(_Fresh(index, item, text, text_hash(text), at, in_future))

    # Cases an identical text may join or be linked to (services/duplicates.py decides):
    # the open cases with the text, and the newest answered/closed one.
    hashes = list({f.hash for f in fresh})
    pools: dict[str, list[_Target]] = {}
    if hashes:
        done_ids = (
            select(func.max(Case.id))
            .where(_in(Case.text_hash, hashes), Case.status.in_(("answered", "closed")))
            .group_by(Case.text_hash)
        )
        for stored_case in db.session.execute(
            select(Case.id, Case.text_hash, Case.status, Case.owner_unit_id, Case.first_item_at)
            .where(
                _in(Case.text_hash, hashes),
                or_(Case.status.in_(OPEN_STATUSES), Case.id.in_(done_ids)),
            )
            .order_by(Case.id)
        ):
            pools.setdefault(stored_case.text_hash, []).append(
                _Target(
                    stored_case.id,
                    stored_case.status,
                    stored_case.owner_unit_id,
                    stored_case.first_item_at,
                )
            )

    # Each new item, oldest first, joins the newest case the rule allows (an existing one
    # or one this batch opens); else it opens a case, linked to the newest existing case
    # with its text as a possible duplicate.
    window = duplicates.attach_window()
    unit_id = source.unit_id
    targets: dict[int, tuple[_Target, bool]] = {}  # fresh position -> (case, duplicate?)
    planned: list[_Target] = []
    for pos in sorted(range(len(fresh)), key=lambda p: (fresh[p].at, p)):
        f = fresh[pos]
        pool = pools.setdefault(f.hash, [])
        target = next(
            (
                t
                for t in reversed(pool)
                if duplicates.may_auto_attach(t, unit_id=unit_id, at=f.at, window=window)
            ),
            None,
        )
        if target is None:
            target = _Target(None, "new", unit_id, f.at, text=f.text, hash=f.hash, opened=True)
            # Prefer an open case (a person can merge into it) to an answered one.
            stored = [t for t in reversed(pool) if not t.opened]
            link = next((t for t in stored if t.status in OPEN_STATUSES), None) or next(
                iter(stored), None
            )
            if link is not None and link.id is not None:
                decision = duplicates.may_auto_attach(link, unit_id=unit_id, at=f.at, window=window)
                target.link = (link.id, decision.reason or "")
            pool.append(target)
            planned.append(target)
            targets[pos] = (target, False)
        else:
            targets[pos] = (target, True)
        target.count += 1
        target.first = min(target.first or f.at, f.at)
        target.last = max(target.last or f.at, f.at)

    if planned:
        case_rows = [
            {
                "title": make_title(t.text),
                "status": "new",
                "priority": 0,
                "source_id": source.id,
                "owner_unit_id": unit_id,
                "text_hash": t.hash,
                "ask_count": t.count,
                "first_item_at": t.first,
                "last_item_at": t.last,
                "created_at": now,
                "updated_at": now,
                "needs_person": False,
                "auto_attached": t.count - 1,
                "duplicate_of_id": t.link[0] if t.link else None,
                "duplicate_similarity": 1.0 if t.link else None,
                "duplicate_reason": t.link[1] if t.link else None,
            }
            for t in planned
        ]
        for target, case_id in zip(planned, _insert_rows(Case, case_rows), strict=True):
            target.id = case_id
    # Existing cases asked again: raise the count ("how many asked"), move last_item_at.
    bumped = {id(t): t for t, _dup in targets.values() if not t.opened}
    if bumped and _postgresql():
        _bump_cases_pg([(t.id, t.count, t.last) for t in bumped.values()], now)  # type: ignore[misc]
    elif bumped:
        for t in bumped.values():
            db.session.execute(
                update(Case)
                .where(Case.id == t.id)
                .values(
                    ask_count=Case.ask_count + t.count,
                    auto_attached=Case.auto_attached + t.count,
                    updated_at=now,
                )
            )
            db.session.execute(
                update(Case)
                .where(Case.id == t.id, Case.last_item_at < t.last)
                .values(last_item_at=t.last)
            )

    item_rows: list[dict[str, Any]] = []
    duplicate_flags: list[bool] = []
    for pos, f in enumerate(fresh):
        target, is_dup = targets[pos]
        duplicate_flags.append(is_dup)
        item_rows.append(
            {
                "source_id": source.id,
                "external_id": f.item.external_id,
                "kind": f.item.kind,
                "text": f.item.text,  # as received
                "text_normalised": f.text,
                "text_verbatim": True,
                "text_hash": f.hash,
                "author": f.item.author,
                "url": f.item.url,
                "posted_at": f.item.posted_at,
                "posted_in_future": f.in_future,
                "received_at": now,
                "extra": f.item.extra or None,
                "case_id": target.id,
                "is_duplicate": is_dup,
                # Visible and undoable (issue 10): how and when it joined the case.
                "attach_kind": "exact" if is_dup else None,
                "attached_at": now if is_dup else None,
                "attach_similarity": 1.0 if is_dup else None,
            }
        )
    new_item_ids: list[int] = []
    if item_rows:
        new_item_ids = _insert_rows(Item, item_rows)
    _audit_attaches(actor, targets, planned, new_item_ids)

    results: list[IngestResult | None] = [None] * len(incoming)
    for f, item_id, row, dup in zip(fresh, new_item_ids, item_rows, duplicate_flags, strict=True):
        results[f.index] = IngestResult(f.item.external_id, item_id, row["case_id"], dup, False)
    for index, item in enumerate(incoming):
        if results[index] is None:
            row = existing[item.external_id]
            results[index] = IngestResult(item.external_id, row.id, row.case_id, True, True)
    return [r for r in results if r is not None]


def _audit_attaches(
    actor: Actor,
    targets: dict[int, tuple[_Target, bool]],
    planned: list[_Target],
    item_ids: list[int],
) -> None:
    """One audit event per case that took items automatically, one per new case linked
    as a possible duplicate (ids and reasons only)."""
    attached: dict[int, list[int]] = {}
    for pos, item_id in enumerate(item_ids):
        target, is_dup = targets[pos]
        if is_dup and target.id is not None:
            attached.setdefault(target.id, []).append(item_id)
    events = [
        duplicates.auto_attach_event(case_id, ids, "exact", 1.0)
        for case_id, ids in attached.items()
    ]
    events += [
        (
            "case.possible_duplicate",
            "case",
            target.id,
            {"of_case_id": target.link[0], "similarity": 1.0, "reason": target.link[1]},
        )
        for target in planned
        if target.link is not None and target.id is not None
    ]
    audit.record_many(actor, events)


# PostgreSQL fast path. A batch of 1,000 rows as a multi-VALUES INSERT or an IN (...) list
# makes statements with thousands of placeholders, which the driver re-parses on every
# batch (most of the ingest time in profiles). On PostgreSQL the rows go in by COPY with
# ids drawn from the table's sequence first, and lists travel as one array parameter.


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _in(column: Any, values: list[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)`` with one parameter."""
    if not _postgresql():
        return column.in_(values)
    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))


def _insert_rows(model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (dicts with the same keys); return the new ids in row order."""
    if not _postgresql():
        stmt = insert(model).returning(model.id, sort_by_parameter_order=True)
        return list(db.session.scalars(stmt, rows))
    import psycopg

    table = model.__table__
    ids = bulk.reserve_ids(model, len(rows))
    names = list(rows[0])
    dialect = db.session.get_bind().dialect
    converters: list[Any] = []
    pg_types = ["int4"]
    for name in names:
        column_type = table.c[name].type
        # JSON values go to psycopg as they are: its json dumper encodes them.
        is_json = isinstance(column_type, JSON)
        converters.append(None if is_json else column_type.bind_processor(dialect))
        pg_types.append(_binary_copy_type(column_type))
    driver = db.session.connection().connection.driver_connection
    # Binary COPY: long texts are sent as they are, not scanned and escaped.
    copy_sql = f"COPY {table.name} (id, {', '.join(names)}) FROM STDIN (FORMAT BINARY)"
    try:
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.set_types(pg_types)
            for row_id, row in zip(ids, rows, strict=True):
                copy.write_row(
                    [row_id]
                    + [
                        row[name] if convert is None else convert(row[name])
                        for name, convert in zip(names, converters, strict=True)
                    ]
                )
    except psycopg.IntegrityError as exc:
        # The same shape as the ORM path's error, for the caller's concurrent-delivery retry.
        raise IntegrityError(copy_sql, None, exc) from exc
    return ids


def _binary_copy_type(column_type: Any) -> str:
    """The PostgreSQL type name psycopg needs to send a column's values in binary COPY."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl
    for sa_type, pg_type in (
        (JSON, "json"),
        (Boolean, "bool"),
        (DateTime, "timestamptz" if getattr(column_type, "timezone", False) else "timestamp"),
        (Integer, "int4"),
        (Float, "float8"),
        (Text, "text"),
        (String, "varchar"),
    ):
        if isinstance(column_type, sa_type):
            return pg_type
    raise TypeError(f"no binary COPY type for {column_type!r}")


def _bump_cases_pg(rows: list[tuple[int, int, datetime]], now: datetime) -> None:
    """One UPDATE for every existing case asked again: ``(case_id, count, last_item_at)``."""
    db.session.execute(
        text(
            "UPDATE cases SET ask_count = cases.ask_count + v.n, updated_at = :now, "
            "auto_attached = cases.auto_attached + v.n, "
            "last_item_at = GREATEST(cases.last_item_at, v.last) "
            "FROM unnest(CAST(:ids AS INTEGER[]), CAST(:ns AS INTEGER[]), "
            "CAST(:lasts AS TIMESTAMP WITH TIME ZONE[])) AS v(id, n, last) "
            "WHERE cases.id = v.id"
        ),
        {
            "now": now,
            "ids": [r[0] for r in rows],
            "ns": [r[1] for r in rows],
            "lasts": [r[2] for r in rows],
        },
    )
