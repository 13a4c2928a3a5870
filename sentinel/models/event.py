"""Event (热点/舆情事件): the items and cases about one concrete matter, with its heat.

An event is built incrementally by ``services.event_clustering`` (each classified item
joins the best-matching recent event or starts one) and corrected by duty officers
(``services.events``). ``EventTerm`` rows are the candidate index clustering queries
instead of scanning history; ``HeatSample`` rows are the heat curve; ``EventEscalation``
rows record each level an event reached, once (the unique key is what keeps alerts from
firing twice for one level).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow

EVENT_STATUSES = {
    "open": "进行中",
    "noise": "无效",
    "merged": "已合并",
    "closed": "已结束",
}
# Escalation levels, the same words as the 会商 assessment (研判等级).
ESCALATION_LEVELS = {1: "一般", 2: "较大", 3: "重大"}
PLACED_BY = {"auto": "自动聚类", "officer": "值班员调整"}


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # The events list: open events by current heat; clustering: recent open events.
        Index("ix_events_status_heat", "status", "heat"),
        Index("ix_events_status_last_at", "status", "last_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    # True once an officer renamed it: the generated title no longer replaces it.
    title_manual: Mapped[bool] = mapped_column(default=False)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    places: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="open")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    # Time of the first and last item (the item's own time, not when we computed it).
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    item_count: Mapped[int] = mapped_column(default=0)
    asker_count: Mapped[int] = mapped_column(default=0)
    # Weighted term profile (term -> weight, the strongest terms only): what a new item is
    # compared with. Places and organisations carry more weight than common words.
    profile: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    # Sentiment mix, engagement (likes/reposts), platforms: {"sentiment": {...}, ...}.
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    heat: Mapped[float] = mapped_column(default=0.0)
    heat_peak: Mapped[float] = mapped_column(default=0.0)
    heat_breakdown: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    heat_at: Mapped[datetime | None]
    # 0: not escalated; otherwise the highest level reached (ESCALATION_LEVELS).
    escalated_level: Mapped[int] = mapped_column(default=0)
    escalated_at: Mapped[datetime | None]
    # Who raised it to its current level; None means the heat threshold did.
    escalated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[EventItem]] = relationship(
        back_populates="event", order_by="EventItem.item_at", passive_deletes=True
    )

    @property
    def status_label(self) -> str:
        return EVENT_STATUSES.get(self.status, self.status)

    @property
    def level_label(self) -> str:
        return ESCALATION_LEVELS.get(self.escalated_level, "")

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class EventItem(Base):
    """One item's place in an event (an item is in at most one event)."""

    __tablename__ = "event_items"
    __table_args__ = (Index("ix_event_items_event_at", "event_id", "item_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # "auto": clustering put it here; "officer": a person did, and clustering never moves it.
    placed_by: Mapped[str] = mapped_column(String(10), default="auto")
    similarity: Mapped[float | None]
    # The item's own time (posted, or received when the posted time is missing or in the
    # future): heat windows count by it.
    item_at: Mapped[datetime]
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship(back_populates="items")


class EventPending(Base):
    """A classified item waiting to be placed in an event: the clustering job's work list.

    Classification adds the row in the transaction that writes the labels; a clustering
    job takes the oldest rows, places their items and deletes the rows in its own
    transaction. So one job places whatever is waiting (many small classification jobs
    cost one clustering pass, not one each), nothing is lost when a job is, and a job
    delivered twice finds nothing left to do."""

    __tablename__ = "event_pending"
    __table_args__ = (Index("ix_event_pending_order", "bulk", "item_id"),)

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # Items of a bulk ingest (a large import, a reclassify) wait behind interactive ones.
    bulk: Mapped[bool] = mapped_column(default=False)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventDetached(Base):
    """An item an officer moved out of every event: clustering leaves it alone for good."""

    __tablename__ = "event_detached"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    detached_at: Mapped[datetime] = mapped_column(default=utcnow)
    detached_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class EventTerm(Base):
    """Candidate index: one hashed term (or place) of an open event's profile."""

    __tablename__ = "event_terms"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class HeatSample(Base):
    """One point of an event's heat curve (written when its heat is recomputed)."""

    __tablename__ = "event_heat_samples"
    __table_args__ = (Index("ix_event_heat_samples_event_at", "event_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    heat: Mapped[float]
    volume_1h: Mapped[int] = mapped_column(default=0)
    volume_6h: Mapped[int] = mapped_column(default=0)
    volume_24h: Mapped[int] = mapped_column(default=0)
    volume_7d: Mapped[int] = mapped_column(default=0)
    askers_24h: Mapped[int] = mapped_column(default=0)


class EventEscalation(Base):
    """One level an event reached, automatically (heat) or raised by an officer.

    Unique per (event, level): an alert hooked on it fires once per event per level."""

    __tablename__ = "event_escalations"
    __table_args__ = (UniqueConstraint("event_id", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    level: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # None: the heat threshold (automatic); otherwise the officer who raised it.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    heat: Mapped[float]
    reason: Mapped[str | None] = mapped_column(Text)

    event: Mapped[Event] = relationship()
