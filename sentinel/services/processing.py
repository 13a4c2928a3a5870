"""Post-ingest processing of items: classification labels onto items and their cases."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update

from sentinel.extensions import db
from sentinel.models import Item, utcnow

log = logging.getLogger(__name__)


def process_items(
    item_ids: list[int], *, heat_at: datetime | None = None, bulk: bool = False
) -> dict[str, int]:
    """Classify the given items that are not processed yet, and enqueue their placement in
    events (``cluster_items``, a job of its own on the same kind of queue, delivered after
    this transaction commits the labels).

    Idempotent: processed items are skipped, so a job delivered twice does the work once.
    ``heat_at`` is the clock event heat is computed at (default: the time the clustering
    runs; the event replay passes the time of the messages it replays)."""
    from sentinel import queues
    from sentinel.jobqueue import enqueue
    from sentinel.services import classification, rumours

    items = classification.load_rows(item_ids)
    if not items:
        return {"processed": 0}
    now = utcnow()
    classified = classification.classify_items(items, processed_at=now)
    if not classified:  # no model: processed all the same, labelled later by reclassify
        db.session.execute(
            update(Item).where(Item.id.in_([i.id for i in items])).values(processed_at=now)
        )
    db.session.flush()
    ids = [i.id for i in items]
    # 辟谣 (issue 13): new items repeating a clarified rumour are flagged as re-spread.
    respread = rumours.flag_respread(ids)
    enqueue(
        queues.cluster_job(bulk),
        item_ids=ids,
        heat_at=heat_at.isoformat() if heat_at is not None else None,
    )
    log.info("items_processed count=%s classified=%s respread=%s", len(items), classified, respread)
    return {"processed": len(items), "classified": classified, "respread": respread}


def cluster_items(item_ids: list[int], *, heat_at: str | None = None) -> dict[str, int]:
    """Place classified items in events (issue 12) and update the heat of the events they
    joined, at ``heat_at`` (ISO time; default now). Idempotent: placed items are skipped."""
    from sentinel.services import event_clustering

    at = datetime.fromisoformat(heat_at) if heat_at else None
    result = event_clustering.cluster_items(item_ids, now=at)
    return {
        "clustered": result.clustered,
        "created": result.created,
        "joined": result.joined,
        "escalated": result.escalated,
    }


def requeue_unlabelled(*, everything: bool = False, batch: int = 500) -> int:
    """Mark items without labels (or all items) unprocessed and enqueue their processing.

    Items ingested before any model was trained are processed without labels; this
    classifies them once a model is active. Returns how many items were queued."""
    from sentinel import queues
    from sentinel.jobqueue import enqueue

    stmt = select(Item.id).order_by(Item.id)
    if not everything:
        stmt = stmt.where(Item.model_version.is_(None))
    ids = list(db.session.scalars(stmt))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        db.session.execute(update(Item).where(Item.id.in_(chunk)).values(processed_at=None))
        enqueue(queues.PROCESS_ITEMS_BULK, item_ids=chunk)
    return len(ids)
