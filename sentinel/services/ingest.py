"""Ingest: normalise, upsert on (source, external_id), attach exact duplicates to cases.

Batch-oriented on purpose: one query finds re-deliveries, one finds open cases with the
same text, and the new cases and items are inserted in bulk, so a batch of 1,000 items
costs a handful of round trips.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from classifiers.text import normalise
from sentinel.auth.permissions import Actor
from sentinel.errors import ValidationFailed
from sentinel.extensions import db
from sentinel.jobs import enqueue, queues
from sentinel.models import Case, Item, Source, utcnow
from sentinel.models.case import OPEN_STATUSES
from sentinel.services import audit

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
    # The text equalled an open case's (or an earlier item's in this batch).
    duplicate: bool
    # This (source, external_id) was stored before: nothing new was stored.
    redelivered: bool


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


def ingest_items(
    actor: Actor, source: Source, incoming: Sequence[IncomingItem], *, bulk: bool | None = None
) -> list[IngestResult]:
    """Store a batch of items for ``source``; return one result per input, in order.

    Re-delivery of an existing (source, external_id) stores nothing and returns the
    stored ids. Items whose normalised text equals an open case's attach to that case
    and raise its ask count. A concurrent delivery of the same new item is resolved by
    retrying once inside a savepoint.

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
    fresh: list[tuple[int, IncomingItem, str, str]] = []
    for index, item in enumerate(incoming):
        if item.external_id not in existing:
            text = normalise(item.text)
            if not text:
                raise ValidationFailed(
                    "内容为空",
                    details=[{"index": index, "field": "text", "message": "规范化后内容为空"}],
                )
            fresh.append((index, item, text, text_hash(text)))

    hashes = {h for *_, h in fresh}
    open_cases: dict[str, int] = {}
    if hashes:
        for case_id, h in db.session.execute(
            select(Case.id, Case.text_hash)
            .where(_in(Case.text_hash, list(hashes)), Case.status.in_((*OPEN_STATUSES, "answered")))
            .order_by(Case.id)
        ):
            open_cases[h] = case_id  # the newest open case with this text wins

    # How many items each text brings, and the latest time, for ask counts.
    per_hash: dict[str, tuple[int, datetime, datetime]] = {}
    for _, item, _text, h in fresh:
        at = item.posted_at or now
        count, first, last = per_hash.get(h, (0, at, at))
        per_hash[h] = (count + 1, min(first, at), max(last, at))

    # New cases for texts with no open case (one per distinct text in the batch).
    case_rows: list[dict[str, Any]] = []
    planned: set[str] = set()
    for _, _item, text, h in fresh:
        if h in open_cases or h in planned:
            continue
        planned.add(h)
        count, first, last = per_hash[h]
        case_rows.append(
            {
                "title": make_title(text),
                "status": "new",
                "priority": 0,
                "source_id": source.id,
                "owner_unit_id": source.unit_id,
                "text_hash": h,
                "ask_count": count,
                "first_item_at": first,
                "last_item_at": last,
                "created_at": now,
                "updated_at": now,
                "needs_person": False,
            }
        )
    existing_case_hashes = {h: open_cases[h] for h in per_hash if h in open_cases}
    new_case_hashes: set[str] = set()
    if case_rows:
        case_ids = _insert_rows(Case, case_rows)
        for case_id, h in zip(case_ids, (row["text_hash"] for row in case_rows), strict=True):
            open_cases[h] = case_id
            new_case_hashes.add(h)
    # Existing cases asked again: raise the count ("how many asked"), move last_item_at.
    if existing_case_hashes and _postgresql():
        _bump_cases_pg(
            [(case_id, *per_hash[h][::2]) for h, case_id in existing_case_hashes.items()], now
        )
        existing_case_hashes = {}
    for h, case_id in existing_case_hashes.items():
        count, _first, last = per_hash[h]
        db.session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(ask_count=Case.ask_count + count, updated_at=now)
        )
        db.session.execute(
            update(Case)
            .where(Case.id == case_id, Case.last_item_at < last)
            .values(last_item_at=last)
        )

    item_rows: list[dict[str, Any]] = []
    duplicate_flags: list[bool] = []
    first_of_new_case: set[str] = set()
    for _, item, text, h in fresh:
        # The first item of a case it created is the original; every other is a duplicate.
        is_dup = not (h in new_case_hashes and h not in first_of_new_case)
        first_of_new_case.add(h)
        duplicate_flags.append(is_dup)
        item_rows.append(
            {
                "source_id": source.id,
                "external_id": item.external_id,
                "kind": item.kind,
                "text": text,
                "text_hash": h,
                "author": item.author,
                "url": item.url,
                "posted_at": item.posted_at,
                "received_at": now,
                "extra": item.extra or None,
                "case_id": open_cases[h],
                "is_duplicate": is_dup,
            }
        )
    new_item_ids: list[int] = []
    if item_rows:
        new_item_ids = _insert_rows(Item, item_rows)

    results: list[IngestResult | None] = [None] * len(incoming)
    for (index, item, *_), item_id, row, dup in zip(
        fresh, new_item_ids, item_rows, duplicate_flags, strict=True
    ):
        results[index] = IngestResult(item.external_id, item_id, row["case_id"], dup, False)
    for index, item in enumerate(incoming):
        if results[index] is None:
            row = existing[item.external_id]
            results[index] = IngestResult(item.external_id, row.id, row.case_id, True, True)
    return [r for r in results if r is not None]


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
    ids = list(
        db.session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": len(rows)},
        )
    )
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
