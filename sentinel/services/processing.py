"""Post-ingest processing of items: classification labels onto items and their cases."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select, update

from sentinel.extensions import db
from sentinel.models import EventPending, Item, utcnow

log = logging.getLogger(__name__)


def process_items(
    item_ids: list[int], *, heat_at: datetime | None = None, bulk: bool = False
) -> dict[str, int]:
    """Classify the given items that are not processed yet, and queue them for placement in
    events (``cluster_pending``, the job of the ``events`` queue, delivered after this
    transaction commits the labels).

    Idempotent: processed items are skipped, so a job delivered twice does the work once.
    ``heat_at`` is the clock event heat is computed at (default: the time the clustering
    runs; the event replay passes the time of the messages it replays)."""
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
    _queue_for_events(ids, bulk=bulk, heat_at=heat_at)
    log.info("items_processed count=%s classified=%s respread=%s", len(items), classified, respread)
    return {"processed": len(items), "classified": classified, "respread": respread}


# Items one clustering job places at most (then it enqueues a successor): a few seconds
# of work, so a worker serving every queue is back on interactive work soon.
CLUSTER_BATCH = 500


def _queue_for_events(ids: list[int], *, bulk: bool, heat_at: datetime | None) -> None:
    """Add the items to the clustering work list and enqueue a clustering job (delivered
    when this transaction commits, with the labels)."""
    from sentinel import queues
    from sentinel.jobqueue import enqueue

    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    now = utcnow()
    db.session.execute(
        insert(EventPending).on_conflict_do_nothing(),
        [{"item_id": i, "bulk": bulk, "queued_at": now} for i in ids],
    )
    enqueue(
        queues.CLUSTER_EVENTS,
        item_ids=ids,
        heat_at=heat_at.isoformat() if heat_at is not None else None,
    )


def cluster_pending(*, heat_at: str | None = None, limit: int = CLUSTER_BATCH) -> dict[str, int]:
    """Place the items waiting for events (interactive before bulk, oldest first, at most
    ``limit``) and update the heat of the events they joined at ``heat_at`` (ISO time;
    default now). If more are waiting, enqueue the next clustering job.

    Takes the clustering lock before reading the work list, so two jobs never take the same
    items; a job that finds the list empty (another took its items) does nothing."""
    from sentinel import queues
    from sentinel.jobqueue import enqueue
    from sentinel.services import event_clustering

    event_clustering.serialise()
    ids = list(
        db.session.scalars(
            select(EventPending.item_id)
            .order_by(EventPending.bulk, EventPending.item_id)
            .limit(limit + 1)
        )
    )
    more = len(ids) > limit
    ids = ids[:limit]
    if not ids:
        return {"clustered": 0}
    at = datetime.fromisoformat(heat_at) if heat_at else None
    result = event_clustering.cluster_items(ids, now=at)
    db.session.execute(delete(EventPending).where(EventPending.item_id.in_(ids)))
    if more:
        enqueue(queues.CLUSTER_EVENTS, heat_at=heat_at)
    return {
        "taken": len(ids),
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
