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

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from classifiers.text import normalise
from sentinel.auth.permissions import Actor
from sentinel.errors import ValidationFailed
from sentinel.extensions import db
from sentinel.jobs import enqueue
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


def ingest_items(actor: Actor, source: Source, incoming: Sequence[IncomingItem]) -> list[IngestResult]:
    """Store a batch of items for ``source``; return one result per input, in order.

    Re-delivery of an existing (source, external_id) stores nothing and returns the
    stored ids. Items whose normalised text equals an open case's attach to that case
    and raise its ask count. A concurrent delivery of the same new item is resolved by
    retrying once inside a savepoint.
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
    for start in range(0, len(new_ids), PROCESS_BATCH):
        enqueue("process_items", item_ids=new_ids[start : start + PROCESS_BATCH])
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
                details=[{"index": index, "field": "external_id", "message": "与本批次第 "
                          f"{seen_ids[item.external_id]} 条重复"}],
            )
        seen_ids[item.external_id] = index

    existing = {
        row.external_id: row
        for row in db.session.execute(
            select(Item.id, Item.external_id, Item.case_id, Item.is_duplicate).where(
                Item.source_id == source.id, Item.external_id.in_(list(seen_ids))
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
            .where(Case.text_hash.in_(hashes), Case.status.in_((*OPEN_STATUSES, "answered")))
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
        inserted = db.session.execute(
            insert(Case).returning(Case.id, Case.text_hash, sort_by_parameter_order=True),
            case_rows,
        )
        for case_id, h in inserted:
            open_cases[h] = case_id
            new_case_hashes.add(h)
    # Existing cases asked again: raise the count ("how many asked"), move last_item_at.
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
        new_item_ids = list(
            db.session.scalars(
                insert(Item).returning(Item.id, sort_by_parameter_order=True), item_rows
            )
        )

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
