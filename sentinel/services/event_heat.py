"""Event heat over sliding windows, the heat curve, and automatic escalation.

Heat is a sum of weighted components (the event page shows each one), computed from the
event's items whose own time falls in the windows ending at ``now``:

- volume: items in the last 1 h / 6 h / 24 h / 7 d (log-scaled, nearer windows weigh more);
- growth: the last 24 h against the average day of the 6 days before;
- askers: distinct authors in 7 d; sources: distinct channels in 7 d beyond the first;
- engagement: likes, reposts and comments the channel reported (item ``extra``);
- negative: the share of negative items in 7 d (damped for very small events);
- risk: the highest risk tier (C 1, B 0.5); rumour: the highest rumour suspicion (>= 0.5).

Weights (EVENT_HEAT_WEIGHTS) and the escalation thresholds (EVENT_ESCALATION_THRESHOLDS,
one per level) are settings. Crossing a threshold calls ``events.escalate`` once per level.
``now`` is a parameter: live it is the current time; ``sentinel events replay`` passes the
time of the message being replayed, so the same code gives the heat the event had then.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import Event, EventItem, HeatSample, Item, Source
from sentinel.services import events as event_service

SYSTEM = Actor.system("heat")
WINDOWS = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24)}
WEEK = timedelta(days=7)
COMPONENT_LABELS = {
    "volume": "声量（1小时/6小时/24小时/7天）",
    "growth": "增长（近24小时对比前6天日均）",
    "askers": "不同留言人",
    "sources": "渠道/平台扩散",
    "engagement": "互动量（点赞/转发/评论）",
    "negative": "负面情绪占比",
    "risk": "风险等级",
    "rumour": "疑似谣言",
}
ENGAGEMENT_KEYS = ("likes", "like_count", "reposts", "repost_count", "comments", "comment_count")


def engagement_of(extra: dict[str, Any] | None) -> tuple[int, int]:
    """(likes, reposts+comments) from an item's ``extra`` (what the channel reported)."""
    if not extra:
        return 0, 0
    likes = reposts = 0
    for key in ENGAGEMENT_KEYS:
        value = extra.get(key)
        try:
            n = max(0, int(value)) if value is not None else 0
        except (TypeError, ValueError):
            n = 0
        if "like" in key:
            likes += n
        else:
            reposts += n
    return likes, reposts


def compute(rows: Iterable[Any], now: datetime, weights: dict[str, float]) -> dict[str, Any]:
    """Heat and its breakdown from an event's rows in the last 7 days at ``now``.

    Each row has ``item_at``, ``author``, ``source_id``, ``sentiment``, ``risk_tier``,
    ``rumour_score`` and ``extra``. Returns {"heat", "components", "counts"}."""
    counts = {"1h": 0, "6h": 0, "24h": 0, "7d": 0}
    authors: set[str] = set()
    authors_24h: set[str] = set()
    sources: set[int] = set()
    negative = 0
    likes = reposts = 0
    risk = 0.0
    rumour = 0.0
    anonymous = 0
    for r in rows:
        age = now - r.item_at
        if age < timedelta(0) or age > WEEK:
            continue
        counts["7d"] += 1
        for name, span in WINDOWS.items():
            if age <= span:
                counts[name] += 1
        if r.author:
            authors.add(r.author)
            if age <= WINDOWS["24h"]:
                authors_24h.add(r.author)
        else:
            anonymous += 1
        sources.add(r.source_id)
        if r.sentiment == "negative":
            negative += 1
        like, repost = engagement_of(r.extra)
        likes += like
        reposts += repost
        risk = max(risk, {"C": 1.0, "B": 0.5}.get(r.risk_tier or "", 0.0))
        if r.rumour_score is not None and r.rumour_score >= 0.5:
            rumour = max(rumour, float(r.rumour_score))
    total = counts["7d"]
    features = {
        "volume": (
            1.0 * math.log1p(counts["1h"])
            + 0.8 * math.log1p(counts["6h"])
            + 0.6 * math.log1p(counts["24h"])
            + 0.4 * math.log1p(total)
        ),
        "growth": math.log1p(counts["24h"] / ((total - counts["24h"]) / 6.0 + 1.0)),
        # Anonymous items count as distinct askers only up to one.
        "askers": math.log1p(len(authors) + min(anonymous, 1)),
        "sources": float(max(0, len(sources) - 1)),
        "engagement": math.log1p(likes + reposts),
        "negative": (negative / total) * min(1.0, total / 5.0) if total else 0.0,
        "risk": risk if total else 0.0,
        "rumour": rumour,
    }
    components = {
        name: round(float(weights.get(name, 0.0)) * value, 2) for name, value in features.items()
    }
    heat = round(sum(components.values()), 2)
    return {
        "heat": heat,
        "components": components,
        "counts": {
            **counts,
            "askers_7d": len(authors) + min(anonymous, 1),
            "askers_24h": len(authors_24h),
            "sources_7d": len(sources),
            "likes_7d": likes,
            "reposts_7d": reposts,
            "negative_7d": negative,
        },
    }


def _rows(event_ids: list[int], now: datetime) -> dict[int, list[Any]]:
    rows = db.session.execute(
        select(
            EventItem.event_id,
            EventItem.item_at,
            Item.author,
            Item.source_id,
            Item.sentiment,
            Item.risk_tier,
            Item.rumour_score,
            Item.extra,
        )
        .join(Item, Item.id == EventItem.item_id)
        .where(
            EventItem.event_id.in_(event_ids),
            EventItem.item_at >= now - WEEK,
            EventItem.item_at <= now,
        )
    ).all()
    by_event: dict[int, list[Any]] = {e: [] for e in event_ids}
    for r in rows:
        by_event[r.event_id].append(r)
    return by_event


def update(events: list[Event], now: datetime) -> list[Event]:
    """Recompute the heat of ``events`` at ``now``, add heat-curve samples, and escalate
    those that crossed a threshold. Returns the events that were escalated."""
    if not events:
        return []
    cfg = current_app.config
    weights = dict(cfg["EVENT_HEAT_WEIGHTS"])
    thresholds = list(cfg["EVENT_ESCALATION_THRESHOLDS"])
    sample_every = timedelta(seconds=int(cfg["EVENT_HEAT_SAMPLE_S"]))
    rows = _rows([e.id for e in events], now)
    escalated: list[Event] = []
    for event in events:
        result = compute(rows[event.id], now, weights)
        heat = result["heat"]
        event.heat = heat
        event.heat_peak = max(event.heat_peak or 0.0, heat)
        event.heat_breakdown = {"components": result["components"], "counts": result["counts"]}
        previous_at = event.heat_at
        event.heat_at = now
        stats = dict(event.stats or {})
        last_sample = stats.get("sample_at")
        last_heat = float(stats.get("sample_heat", -1.0))
        due = (
            last_sample is None
            or now - datetime.fromisoformat(last_sample) >= sample_every
            or abs(heat - last_heat) >= max(5.0, 0.1 * last_heat)
        )
        if due and (previous_at is None or now >= previous_at or last_sample is None):
            c = result["counts"]
            db.session.add(
                HeatSample(
                    event_id=event.id,
                    at=now,
                    heat=heat,
                    volume_1h=c["1h"],
                    volume_6h=c["6h"],
                    volume_24h=c["24h"],
                    volume_7d=c["7d"],
                    askers_24h=c["askers_24h"],
                )
            )
            stats["sample_at"] = now.isoformat()
            stats["sample_heat"] = heat
            event.stats = stats
        if event.status == "open":
            level = event_service.level_for_heat(heat, thresholds)
            if level > event.escalated_level:
                db.session.flush()
                if event_service.escalate(event, level=level, actor=SYSTEM, reason="热度超过阈值"):
                    escalated.append(event)
    return escalated


def refresh_open(now: datetime, *, limit: int = 500) -> int:
    """Recompute the heat of open events with heat left (it decays as windows empty);
    the periodic ``events_heat_refresh`` job. Returns how many were updated."""
    events = list(
        db.session.scalars(
            select(Event)
            .where(Event.status == "open", Event.heat > 0)
            .order_by(Event.heat_at)
            .limit(limit)
        )
    )
    update(events, now)
    db.session.flush()
    return len(events)


def curve(event: Event, limit: int = 500) -> list[dict[str, Any]]:
    """The event's heat curve, oldest first (at most ``limit`` latest points)."""
    samples = list(
        db.session.scalars(
            select(HeatSample)
            .where(HeatSample.event_id == event.id)
            .order_by(HeatSample.at.desc(), HeatSample.id.desc())
            .limit(limit)
        )
    )
    samples.reverse()
    return [
        {
            "at": s.at.isoformat(),
            "heat": s.heat,
            "volume_1h": s.volume_1h,
            "volume_24h": s.volume_24h,
            "volume_7d": s.volume_7d,
        }
        for s in samples
    ]


def platforms(event_ids: list[int]) -> dict[int, dict[str, int]]:
    """Items per platform of each event (channels the event spread to)."""
    rows = db.session.execute(
        select(EventItem.event_id, Source.platform)
        .join(Item, Item.id == EventItem.item_id)
        .join(Source, Source.id == Item.source_id)
        .where(EventItem.event_id.in_(event_ids))
    ).all()
    out: dict[int, dict[str, int]] = {e: {} for e in event_ids}
    for r in rows:
        out[r.event_id][r.platform] = out[r.event_id].get(r.platform, 0) + 1
    return out
