"""Incremental event clustering: each classified item joins the best-matching recent event
above the similarity threshold, or starts a new one.

Candidates come from the ``event_terms`` index (hashed strongest terms of every open
event's profile), never from a scan of history: a batch asks for the events that share any
of its items' strongest terms and were active inside EVENT_WINDOW_DAYS, compares each item
with at most a few of them (``classifiers.events.similarity``) and updates the profiles,
the index rows, the event's derived fields and its heat.

Concurrency: clustering is serialised. On PostgreSQL the batch takes one transaction-level
advisory lock (``pg_advisory_xact_lock(EVENT_LOCK_KEY)``) before reading any candidate, and
holds it until the job commits. A lock per candidate key was considered and rejected: two
paraphrases of a matter that has no event yet may share none of their strongest terms with
each other's keys in the same way, so two workers could each start "the" event — exactly the
split we must not make. One lock is cheap because clustering is a few milliseconds per batch
(>= 1,000 items/s on one core, ``bench/hot.py``) and is taken only after classification, the
slow part, is done. SQLite (the embedded demo) has one writer at a time and runs jobs on one
in-process thread.

Officers' decisions stand: an item placed by an officer (``placed_by="officer"``) or moved
out of events (``EventDetached``) is never clustered again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, insert, select, text

from classifiers import events as ev
from sentinel.extensions import db
from sentinel.models import (
    Case,
    Event,
    EventDetached,
    EventItem,
    EventTerm,
    Item,
    utcnow,
)
from sentinel.services import event_heat, neardup_store

log = logging.getLogger(__name__)
# The advisory lock every clustering batch takes (an arbitrary constant: "events12").
EVENT_LOCK_KEY = 0x6576_656E_7473_12
# Status of events new items may still join: noise events keep attracting their kind of
# message (so spam does not start new events), but never heat up or escalate.
JOINABLE = ("open", "noise")
# Item counts at which a generated title is chosen again from more messages.
_RETITLE_AT = frozenset({2, 3, 5, 10, 20, 50, 100, 200, 500})


@dataclass
class _Row:
    id: int
    case_id: int
    text: str
    author: str | None
    source_id: int
    at: datetime
    sentiment: str | None
    extra: dict[str, Any] | None
    features: ev.ItemFeatures | None = None


def item_time(posted_at: datetime | None, in_future: bool, received_at: datetime) -> datetime:
    """The time an item counts at in an event: when it was posted, unless that is unknown
    or was in the future when it arrived (then when it was received)."""
    return posted_at if posted_at is not None and not in_future else received_at


def serialise() -> None:
    """Take the clustering lock until the transaction ends (PostgreSQL; see module doc)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_LOCK_KEY})


def _load(item_ids: Sequence[int]) -> list[_Row]:
    placed = select(EventItem.item_id).where(
        neardup_store.in_values(EventItem.item_id, ids := list(item_ids))
    )
    detached = select(EventDetached.item_id).where(
        neardup_store.in_values(EventDetached.item_id, ids)
    )
    rows = db.session.execute(
        select(
            Item.id,
            Item.case_id,
            Item.text_normalised,
            Item.author,
            Item.source_id,
            Item.posted_at,
            Item.posted_in_future,
            Item.received_at,
            Item.sentiment,
            Item.extra,
        )
        .join(Case, Case.id == Item.case_id)
        .where(
            neardup_store.in_values(Item.id, ids),
            Item.id.not_in(placed),
            Item.id.not_in(detached),
        )
    ).all()
    out = [
        _Row(
            r.id,
            r.case_id,
            r.text_normalised or "",
            r.author,
            r.source_id,
            item_time(r.posted_at, r.posted_in_future, r.received_at),
            r.sentiment,
            r.extra,
        )
        for r in rows
    ]
    out.sort(key=lambda r: (r.at, r.id))
    return out


@dataclass
class ClusterResult:
    clustered: int = 0
    joined: int = 0
    created: int = 0
    escalated: int = 0


def cluster_items(
    item_ids: Sequence[int], *, now: datetime | None = None, heat: bool = True
) -> ClusterResult:
    """Place the given items (not yet in an event, not moved out by an officer) into events,
    in the order of their own time; then update the touched events' heat at ``now``
    (default: the current time). Takes the clustering lock; the caller commits."""
    result = ClusterResult()
    if not item_ids:
        return result
    serialise()
    rows = [r for r in _load(item_ids) if r.text.strip()]
    if not rows:
        return result
    cfg = current_app.config
    threshold = float(cfg["EVENT_SIMILARITY_THRESHOLD"])
    window = timedelta(days=int(cfg["EVENT_WINDOW_DAYS"]))
    long_threshold = float(cfg["EVENT_LONG_SIMILARITY_THRESHOLD"])
    long_window = timedelta(days=int(cfg["EVENT_LONG_WINDOW_DAYS"]))
    for r in rows:
        r.features = ev.features(r.text)
    rows = [r for r in rows if r.features is not None and not r.features.empty]
    if not rows:
        return result

    index = ev.CandidateIndex()
    events = _candidates(rows, max(window, long_window), index)
    norms = {event_id: ev.norm(e.profile) for event_id, e in events.items()}
    touched: dict[int, Event] = {}
    new_links: list[dict[str, Any]] = []
    place_counts: dict[int, Counter[str]] = {}
    for r in rows:
        f = r.features
        assert f is not None
        best: Event | None = None
        best_sim = 0.0
        for event_id in index.candidates(f.keys):
            event = events[event_id]
            if event.status not in JOINABLE:
                continue
            quiet = r.at - event.last_at
            if quiet > long_window:
                continue
            sim = ev.similarity(f, event.profile, event.places, norms.get(event_id))
            if sim >= (threshold if quiet <= window else long_threshold) and sim > best_sim:
                best, best_sim = event, sim
        if best is not None:
            event = best
            event.profile = ev.merge_profile(event.profile, f.vector)
            event.item_count += 1
            event.first_at = min(event.first_at, r.at)
            event.last_at = max(event.last_at, r.at)
            result.joined += 1
        else:
            event = Event(
                title=ev.title_from([r.text], f.vector) or "未命名事件",
                keywords=[],
                places=list(f.places[:5]),
                status="open",
                first_at=r.at,
                last_at=r.at,
                item_count=1,
                asker_count=0,
                profile=ev.merge_profile({}, f.vector),
                stats={},
            )
            db.session.add(event)
            db.session.flush()  # the id: index rows and links point at it
            events[event.id] = event
            best_sim = 1.0
            result.created += 1
        pc = place_counts.setdefault(event.id, Counter((event.stats or {}).get("places", {})))
        pc.update(f.places)
        event.places = ev.top_places(pc)
        index.put(event.id, ev.profile_keys(event.profile))
        norms[event.id] = ev.norm(event.profile)
        touched[event.id] = event
        new_links.append(
            {
                "event_id": event.id,
                "item_id": r.id,
                "case_id": r.case_id,
                "placed_by": "auto",
                "similarity": round(best_sim, 4),
                "item_at": r.at,
                "added_at": utcnow(),
            }
        )
        _add_stats(event, r, pc)
        result.clustered += 1
    db.session.execute(insert(EventItem), new_links)
    refresh_derived(list(touched.values()))
    reindex(list(touched.values()))
    if heat:
        escalated = event_heat.update(
            [e for e in touched.values() if e.status == "open"], now or utcnow()
        )
        result.escalated = len(escalated)
    db.session.flush()
    log.info(
        "events_clustered count=%s joined=%s created=%s escalated=%s",
        result.clustered,
        result.joined,
        result.created,
        result.escalated,
    )
    return result


def _candidates(rows: list[_Row], window: timedelta, index: ev.CandidateIndex) -> dict[int, Event]:
    """The joinable events sharing an index key with any item of the batch, active inside
    the window of the batch's earliest item; ``index`` gets their matching keys."""
    keys = sorted({k for r in rows if r.features for k in r.features.keys})
    earliest = min(r.at for r in rows) - window
    hits = db.session.execute(
        select(EventTerm.event_id, EventTerm.key)
        .join(Event, Event.id == EventTerm.event_id)
        .where(
            neardup_store.in_values(EventTerm.key, keys),
            Event.status.in_(JOINABLE),
            Event.last_at >= earliest,
        )
    ).all()
    by_event: dict[int, list[int]] = {}
    for h in hits:
        by_event.setdefault(h.event_id, []).append(h.key)
    if not by_event:
        return {}
    events = {
        e.id: e
        for e in db.session.scalars(
            select(Event).where(neardup_store.in_values(Event.id, sorted(by_event)))
        )
    }
    for event_id, event_keys in by_event.items():
        index.put(event_id, event_keys)
    return events


def _add_stats(event: Event, r: _Row, places: Counter[str]) -> None:
    stats = dict(event.stats or {})
    sentiment = dict(stats.get("sentiment", {}))
    label = r.sentiment or "unknown"
    sentiment[label] = sentiment.get(label, 0) + 1
    stats["sentiment"] = sentiment
    likes, reposts = event_heat.engagement_of(r.extra)
    stats["likes"] = int(stats.get("likes", 0)) + likes
    stats["reposts"] = int(stats.get("reposts", 0)) + reposts
    stats["places"] = dict(places.most_common(20))
    event.stats = stats


def refresh_derived(events: list[Event]) -> None:
    """Keywords, asker count and (unless an officer named it) the title of ``events``."""
    if not events:
        return
    from sqlalchemy import func

    ids = [e.id for e in events]
    askers = dict(
        db.session.execute(
            select(EventItem.event_id, func.count(func.distinct(Item.author)))
            .join(Item, Item.id == EventItem.item_id)
            .where(neardup_store.in_values(EventItem.event_id, ids))
            .group_by(EventItem.event_id)
        ).all()
    )
    anonymous = set(
        db.session.scalars(
            select(EventItem.event_id)
            .join(Item, Item.id == EventItem.item_id)
            .where(neardup_store.in_values(EventItem.event_id, ids), Item.author.is_(None))
            .distinct()
        )
    )
    for event in events:
        event.asker_count = int(askers.get(event.id, 0)) + (1 if event.id in anonymous else 0)
        event.keywords = ev.keywords(event.profile)
        if not event.title_manual and event.item_count in _RETITLE_AT:
            texts = list(
                db.session.scalars(
                    select(Item.text_normalised)
                    .join(EventItem, EventItem.item_id == Item.id)
                    .where(EventItem.event_id == event.id)
                    .order_by(EventItem.item_at.desc())
                    .limit(20)
                )
            )
            title = ev.title_from(texts, event.profile)
            if title:
                event.title = title


def reindex(events: list[Event]) -> None:
    """Replace the index rows of ``events`` (joinable ones only) by their profiles' keys."""
    if not events:
        return
    ids = [e.id for e in events]
    db.session.execute(delete(EventTerm).where(neardup_store.in_values(EventTerm.event_id, ids)))
    rows = [
        {"key": key, "event_id": e.id}
        for e in events
        if e.status in JOINABLE
        for key in dict.fromkeys(ev.profile_keys(e.profile))
    ]
    if rows:
        db.session.execute(insert(EventTerm), rows)


def rebuild_profile(event: Event) -> None:
    """Recompute an event's profile, places and counts from its items (after an officer's
    merge or move): what clustering compares new items with."""
    rows = db.session.execute(
        select(Item.text_normalised, EventItem.item_at, Item.sentiment, Item.extra)
        .join(EventItem, EventItem.item_id == Item.id)
        .where(EventItem.event_id == event.id)
    ).all()
    profile: dict[str, float] = {}
    places: Counter[str] = Counter()
    sentiment: Counter[str] = Counter()
    likes = reposts = 0
    for r in rows:
        f = ev.features(r.text_normalised or "")
        profile = ev.merge_profile(profile, f.vector)
        places.update(f.places)
        sentiment[r.sentiment or "unknown"] += 1
        like, repost = event_heat.engagement_of(r.extra)
        likes += like
        reposts += repost
    event.profile = profile
    event.places = ev.top_places(places)
    event.item_count = len(rows)
    if rows:
        event.first_at = min(r.item_at for r in rows)
        event.last_at = max(r.item_at for r in rows)
    stats = dict(event.stats or {})
    stats.update(
        sentiment=dict(sentiment),
        likes=likes,
        reposts=reposts,
        places=dict(places.most_common(20)),
    )
    event.stats = stats
