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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, text

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
from sentinel.services import bulk, event_heat, neardup_store

log = logging.getLogger(__name__)
# The advisory lock every clustering batch takes (an arbitrary constant: "events12").
EVENT_LOCK_KEY = 0x6576_656E_7473_12
# Status of events new items may still join: noise events keep attracting their kind of
# message (so spam does not start new events), but never heat up or escalate.
JOINABLE = ("open", "noise")
# Item counts at which a generated title is chosen again from more messages.
_RETITLE_AT = frozenset({2, 3, 5, 10, 20, 50, 100, 200, 500})
# Events compared per item: those sharing the most index keys with it.
CANDIDATES_PER_ITEM = 6
# In-memory ids of the events a batch starts (above any real id, so that, as real ids, the
# newest rank first among equally good candidates).
_NEW_ID_BASE = 1 << 62


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


@dataclass
class _Candidate:
    """What the assignment loop knows of an event: enough to compare and update it
    without loading (or, for a new one, inserting) the ORM row item by item."""

    id: int  # >= _NEW_ID_BASE: started by this batch, not inserted yet
    status: str
    first_at: datetime
    last_at: datetime
    item_count: int
    profile: dict[str, float]
    places: list[str]
    place_counts: Counter[str] | None = None
    norm: float = 1.0
    title: str = ""
    rows: list[_Row] = field(default_factory=list)
    # The profile the database holds (its index rows are this profile's keys).
    profile_before: dict[str, float] = field(default_factory=dict)
    similarities: list[float] = field(default_factory=list)


def cluster_items(
    item_ids: Sequence[int], *, now: datetime | None = None, heat: bool = True
) -> ClusterResult:
    """Place the given items (not yet in an event, not moved out by an officer) into events,
    in the order of their own time; then update the touched events' heat at ``now``
    (default: the current time). Takes the clustering lock; the caller commits.

    The assignment runs in memory on the candidate events the index returns; the database
    is written once per batch (new events in one INSERT, touched events updated, links and
    index rows inserted in bulk), so the cost per item does not grow with the batch."""
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

    candidates, per_item = _candidates(rows, max(window, long_window))
    # The events this batch touched or started, under their current keys: an item may join
    # an event an earlier item of the same batch changed or started.
    index = ev.CandidateIndex()
    touched: dict[int, _Candidate] = {}
    next_new_id = _NEW_ID_BASE
    for position, r in enumerate(rows):
        f = r.features
        assert f is not None
        best: _Candidate | None = None
        best_sim = 0.0
        for event_id in dict.fromkeys(
            [*per_item[position], *index.candidates(f.keys, limit=CANDIDATES_PER_ITEM)]
        ):
            cand = candidates[event_id]
            if cand.status not in JOINABLE:
                continue
            quiet = r.at - cand.last_at
            if quiet > long_window:
                continue
            sim = ev.similarity(f, cand.profile, cand.places, cand.norm)
            if sim >= (threshold if quiet <= window else long_threshold) and sim > best_sim:
                best, best_sim = cand, sim
        if best is not None:
            cand = best
            cand.profile = ev.merge_profile(cand.profile, f.vector)
            cand.item_count += 1
            cand.first_at = min(cand.first_at, r.at)
            cand.last_at = max(cand.last_at, r.at)
            result.joined += 1
        else:
            cand = _Candidate(
                id=next_new_id,
                status="open",
                first_at=r.at,
                last_at=r.at,
                item_count=1,
                profile=ev.merge_profile({}, f.vector),
                places=list(f.places[:5]),
                place_counts=Counter(),
                title=ev.title_from([r.text], f.vector) or "未命名事件",
            )
            next_new_id += 1
            candidates[cand.id] = cand
            best_sim = 1.0
            result.created += 1
        if cand.place_counts is None:
            cand.place_counts = Counter()
        cand.place_counts.update(f.places)
        cand.rows.append(r)
        cand.similarities.append(round(best_sim, 4))
        # Findable by the keys of the items it gained (its profile's keys are written to
        # the database index after the batch).
        index.add(cand.id, f.keys)
        cand.norm = ev.norm(cand.profile)
        touched[cand.id] = cand
        result.clustered += 1
    batch = list(touched.values())
    events = _write(batch)
    refresh_derived(events)
    reindex(
        events,
        {
            # A new event has no index rows yet: nothing to delete.
            event.id: ev.profile_keys(cand.profile_before) if cand.id < _NEW_ID_BASE else []
            for cand, event in zip(batch, events, strict=True)
        },
    )
    if heat:
        escalated = event_heat.update([e for e in events if e.status == "open"], now or utcnow())
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


def _write(touched: list[_Candidate]) -> list[Event]:
    """Write the batch's decisions: new events inserted in one flush, existing ones updated,
    the item links inserted in bulk. Returns the touched events (ORM rows, with ids)."""
    existing_ids = [c.id for c in touched if c.id < _NEW_ID_BASE]
    loaded = (
        {
            e.id: e
            for e in db.session.scalars(
                select(Event).where(neardup_store.in_values(Event.id, existing_ids))
            )
        }
        if existing_ids
        else {}
    )
    pairs: list[tuple[_Candidate, Event]] = []
    for cand in touched:
        if cand.id < _NEW_ID_BASE:
            event = loaded[cand.id]
            event.profile = cand.profile
            event.item_count = cand.item_count
            event.first_at = cand.first_at
            event.last_at = cand.last_at
        else:
            event = Event(
                title=cand.title,
                keywords=[],
                places=[],
                status="open",
                first_at=cand.first_at,
                last_at=cand.last_at,
                item_count=cand.item_count,
                asker_count=0,
                profile=cand.profile,
                stats={},
            )
            db.session.add(event)
        pairs.append((cand, event))
    new_events = [event for cand, event in pairs if cand.id >= _NEW_ID_BASE]
    if new_events and db.session.get_bind().dialect.name == "postgresql":
        # Ids from the sequence up front: the flush then inserts with one prepared
        # statement instead of one multi-row INSERT … RETURNING whose text (thousands of
        # placeholders) the driver parses anew for every batch.
        ids = bulk.reserve_ids(Event, len(new_events))
        for event, event_id in zip(new_events, ids, strict=True):
            event.id = event_id
    for cand, event in pairs:
        counts = Counter((event.stats or {}).get("places", {}))
        counts.update(cand.place_counts or {})
        event.places = ev.top_places(counts)
        _add_stats(event, cand.rows, counts)
    db.session.flush()  # one INSERT for every new event (their ids), UPDATEs for the rest
    added = utcnow()
    links = [
        {
            "event_id": event.id,
            "item_id": r.id,
            "case_id": r.case_id,
            "placed_by": "auto",
            "similarity": sim,
            "item_at": r.at,
            "added_at": added,
        }
        for cand, event in pairs
        for r, sim in zip(cand.rows, cand.similarities, strict=True)
    ]
    if links:
        db.session.connection().execute(EventItem.__table__.insert(), links)
    return [event for _, event in pairs]


def _candidates(
    rows: list[_Row], window: timedelta
) -> tuple[dict[int, _Candidate], list[list[int]]]:
    """The joinable events active inside the window of the batch's earliest item that share
    index keys with its items: for each item (by position) the CANDIDATES_PER_ITEM events
    sharing most of its keys (ties: newest first), and those events. Only they are loaded,
    so a term many events share does not bring them all into every batch."""
    earliest = min(r.at for r in rows) - window
    if db.session.get_bind().dialect.name == "postgresql":
        per_item = _ranked_pg(rows, earliest)
    else:
        per_item = _ranked_python(rows, earliest)
    wanted = sorted({e for ranked in per_item for e in ranked})
    out: dict[int, _Candidate] = {}
    if not wanted:
        return out, per_item
    for e in db.session.execute(
        select(
            Event.id,
            Event.status,
            Event.first_at,
            Event.last_at,
            Event.item_count,
            Event.profile,
            Event.places,
        ).where(neardup_store.in_values(Event.id, wanted))
    ):
        profile = dict(e.profile or {})
        out[e.id] = _Candidate(
            id=e.id,
            status=e.status,
            first_at=e.first_at,
            last_at=e.last_at,
            item_count=e.item_count,
            profile=profile,
            places=list(e.places or []),
            norm=ev.norm(profile),
            profile_before=profile,
        )
    return out, per_item


# The ranking in the database: (item position, key) pairs joined with the index, shared
# keys counted per (item, event), the best few events kept per item. Thousands of keys
# match tens of thousands of index rows; only a few thousand (item, event) pairs come back.
_RANKED_SQL = text(
    """
    WITH q AS (
        SELECT * FROM unnest(CAST(:items AS INTEGER[]), CAST(:keys AS BIGINT[]))
            AS q(item, key)
    ), hits AS (
        SELECT q.item, t.event_id, count(*) AS shared
        FROM q JOIN event_terms t ON t.key = q.key
        GROUP BY q.item, t.event_id
    ), ranked AS (
        SELECT hits.item, hits.event_id,
               row_number() OVER (
                   PARTITION BY hits.item ORDER BY hits.shared DESC, hits.event_id DESC
               ) AS rank
        FROM hits JOIN events e ON e.id = hits.event_id
        WHERE e.status = ANY(CAST(:joinable AS TEXT[])) AND e.last_at >= :earliest
    )
    SELECT item, event_id FROM ranked WHERE rank <= :per_item ORDER BY item, rank
    """
)


def _ranked_pg(rows: list[_Row], earliest: datetime) -> list[list[int]]:
    items: list[int] = []
    keys: list[int] = []
    for position, r in enumerate(rows):
        assert r.features is not None
        for key in dict.fromkeys(r.features.keys):
            items.append(position)
            keys.append(key)
    per_item: list[list[int]] = [[] for _ in rows]
    if not keys:
        return per_item
    for position, event_id in db.session.execute(
        _RANKED_SQL,
        {
            "items": items,
            "keys": keys,
            "earliest": earliest,
            "per_item": CANDIDATES_PER_ITEM,
            "joinable": list(JOINABLE),
        },
    ):
        per_item[position].append(event_id)
    return per_item


def _ranked_python(rows: list[_Row], earliest: datetime) -> list[list[int]]:
    """The same ranking as ``_RANKED_SQL``, in memory (SQLite: the embedded demo)."""
    keys = sorted({k for r in rows if r.features for k in r.features.keys})
    hits = db.session.execute(
        select(EventTerm.event_id, EventTerm.key)
        .join(Event, Event.id == EventTerm.event_id)
        .where(
            neardup_store.in_values(EventTerm.key, keys),
            Event.status.in_(JOINABLE),
            Event.last_at >= earliest,
        )
    ).all()
    postings = ev.CandidateIndex()
    keys_of: dict[int, list[int]] = {}
    for h in hits:
        keys_of.setdefault(h.event_id, []).append(h.key)
    for event_id, event_keys in keys_of.items():
        postings.put(event_id, event_keys)
    out: list[list[int]] = []
    for r in rows:
        assert r.features is not None
        out.append(postings.candidates(r.features.keys, limit=CANDIDATES_PER_ITEM))
    return out


def _add_stats(event: Event, rows: list[_Row], places: Counter[str]) -> None:
    stats = dict(event.stats or {})
    sentiment = dict(stats.get("sentiment", {}))
    likes = int(stats.get("likes", 0))
    reposts = int(stats.get("reposts", 0))
    for r in rows:
        label = r.sentiment or "unknown"
        sentiment[label] = sentiment.get(label, 0) + 1
        like, repost = event_heat.engagement_of(r.extra)
        likes += like
        reposts += repost
    stats["sentiment"] = sentiment
    stats["likes"] = likes
    stats["reposts"] = reposts
    stats["places"] = dict(places.most_common(20))
    event.stats = stats


def refresh_derived(events: list[Event], *, reread: bool = False) -> None:
    """Keywords, asker count and (unless an officer named it) the title of ``events``.

    Two queries whatever the number of events: the askers of all of them, grouped, and the
    latest texts of those whose item count reached a re-titling point (all of them with
    ``reread``, after an officer's merge or move). Keywords are whole words of those texts;
    an event not re-read keeps its words (a new one gets its profile's strongest terms)."""
    if not events:
        return
    from sqlalchemy import case, func

    ids = [e.id for e in events]
    with db.session.no_autoflush:
        askers = {
            r.event_id: int(r.named) + int(r.anonymous or 0)
            for r in db.session.execute(
                select(
                    EventItem.event_id,
                    func.count(func.distinct(Item.author)).label("named"),
                    # Anonymous items count as one asker at most.
                    func.max(case((Item.author.is_(None), 1), else_=0)).label("anonymous"),
                )
                .join(Item, Item.id == EventItem.item_id)
                .where(neardup_store.in_values(EventItem.event_id, ids))
                .group_by(EventItem.event_id)
            )
        }
        retitle = [e for e in events if reread or e.item_count in _RETITLE_AT]
        texts: dict[int, list[str]] = {e.id: [] for e in retitle}
        if retitle:
            for event_id, text_ in db.session.execute(
                select(EventItem.event_id, Item.text_normalised)
                .join(Item, Item.id == EventItem.item_id)
                .where(neardup_store.in_values(EventItem.event_id, [e.id for e in retitle]))
                .order_by(EventItem.event_id, EventItem.item_at.desc())
            ):
                if len(texts[event_id]) < 20:
                    texts[event_id].append(text_ or "")
    for event in events:
        event.asker_count = askers.get(event.id, 0)
        if event.id in texts:
            event.keywords = ev.keywords_from(texts[event.id], event.profile)
            title = ev.title_from(texts[event.id], event.profile)
            if title and not event.title_manual:
                event.title = title
        elif not event.keywords:
            event.keywords = ev.keywords(event.profile)


def reindex(events: list[Event], previous: dict[int, list[int]] | None = None) -> None:
    """Make the index rows of ``events`` (joinable ones only) their profiles' keys.

    ``previous`` maps an event id to the keys its rows hold now (clustering knows them: they
    are its profile's keys before the batch); for those events only the difference is
    written, which is most of the saving on an event that gained one item. Other events'
    rows are replaced."""
    if not events:
        return
    previous = previous or {}
    removed: list[tuple[int, int]] = []
    added: list[tuple[int, int]] = []
    replaced: list[int] = []
    for e in events:
        keys = dict.fromkeys(ev.profile_keys(e.profile)) if e.status in JOINABLE else {}
        before = previous.get(e.id)
        if before is None:
            replaced.append(e.id)
            added.extend((key, e.id) for key in keys)
            continue
        old = dict.fromkeys(before)
        removed.extend((key, e.id) for key in old if key not in keys)
        added.extend((key, e.id) for key in keys if key not in old)
    if replaced:
        db.session.execute(
            delete(EventTerm).where(neardup_store.in_values(EventTerm.event_id, replaced))
        )
    _write_terms(removed, delete=True)
    _write_terms(added, delete=False)


def _write_terms(pairs: list[tuple[int, int]], *, delete: bool) -> None:
    """Insert or delete ``(key, event_id)`` index rows in one statement (PostgreSQL: two
    array parameters; tens of thousands of rows per batch) or one executemany (SQLite)."""
    if not pairs:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        pairs_sql = "unnest(CAST(:keys AS BIGINT[]), CAST(:ids AS INTEGER[]))"
        sql = (
            f"DELETE FROM event_terms t USING {pairs_sql} AS d(key, event_id) "
            "WHERE t.key = d.key AND t.event_id = d.event_id"
            if delete
            else f"INSERT INTO event_terms (key, event_id) SELECT * FROM {pairs_sql} "
            "ON CONFLICT DO NOTHING"
        )
        db.session.execute(text(sql), {"keys": [k for k, _ in pairs], "ids": [e for _, e in pairs]})
        return
    sql = (
        "DELETE FROM event_terms WHERE key = :key AND event_id = :event_id"
        if delete
        else "INSERT OR IGNORE INTO event_terms (key, event_id) VALUES (:key, :event_id)"
    )
    db.session.execute(text(sql), [{"key": k, "event_id": e} for k, e in pairs])


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
