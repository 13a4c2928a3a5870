"""Case (工单): the unit of work, its assignments and its reply."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.item import Item
from sentinel.models.source import Source
from sentinel.models.unit import Unit
from sentinel.models.user import User

CASE_STATUSES = {
    "new": "待处理",
    "claimed": "已认领",
    "dispatched": "待签收",
    "acknowledged": "办理中",
    "answered": "已答复",
    "closed": "已办结",
    "noise": "无效",
    "merged": "已合并",
}
OPEN_STATUSES = ("new", "claimed", "dispatched", "acknowledged")
NOISE_REASONS = {
    "spam": "广告/垃圾信息",
    "irrelevant": "与本单位无关",
    "abusive": "辱骂/不文明",
    "empty": "无实质内容",
    "test": "测试信息",
    "other": "其他",
}


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # The triage queue: status filter, default order, and the scope columns, so the
        # page's ids, its total and the per-status counts are index-only scans.
        Index(
            "ix_cases_triage",
            "status",
            "priority",
            "last_item_at",
            "id",
            "owner_unit_id",
            "unit_id",
        ),
        Index("ix_cases_last_item_at", "last_item_at"),
        # The two queue views officers live in ("todo" and "open"), in the default order:
        # an ordered scan of a partial index serves the first page without sorting.
        Index(
            "ix_cases_queue_todo",
            "priority",
            "last_item_at",
            "id",
            postgresql_where=text("status IN ('new', 'claimed')"),
            sqlite_where=text("status IN ('new', 'claimed')"),
        ),
        Index(
            "ix_cases_queue_open",
            "priority",
            "last_item_at",
            "id",
            postgresql_where=text("status IN ('new', 'claimed', 'dispatched', 'acknowledged')"),
            sqlite_where=text("status IN ('new', 'claimed', 'dispatched', 'acknowledged')"),
        ),
        # The deadline sweep (services/reminder_ladder.py): open cases by due time.
        Index("ix_cases_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="new")
    # 0 normal, 1 important, 2 urgent: set by duty officers and by the classifiers.
    priority: Mapped[int] = mapped_column(default=0)
    # True once a duty officer set the priority by hand: the classifiers leave it alone.
    priority_manual: Mapped[bool] = mapped_column(default=False, server_default=false())
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    # The unit whose account received the first item (its duty officers triage it).
    owner_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # The unit handling it now (after dispatch).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text_hash: Mapped[str] = mapped_column(String(64), index=True)
    ask_count: Mapped[int] = mapped_column(default=1)  # 多少人问过
    first_item_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_item_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    dispatched_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(20))
    close_note: Mapped[str | None] = mapped_column(String(500))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # Items attached to this case automatically (identical text or near-duplicate; issue
    # 10): the queue's "自动合并 N" badge, kept here so the queue never counts items.
    auto_attached: Mapped[int] = mapped_column(default=0, server_default="0")
    # A possible duplicate of another case that was not merged automatically (answered or
    # closed, another unit's, outside the time window, or below the attach threshold):
    # a person decides (services/duplicates.py).
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    duplicate_similarity: Mapped[float | None]
    duplicate_reason: Mapped[str | None] = mapped_column(String(20))

    # Labels (from the first item's classification, correctable by officers).
    topic: Mapped[str | None] = mapped_column(String(60), index=True)
    topic_confidence: Mapped[float | None]
    needs_person: Mapped[bool] = mapped_column(default=False)
    sentiment: Mapped[str | None] = mapped_column(String(10), index=True)
    sentiment_score: Mapped[float | None]
    request_type: Mapped[str | None] = mapped_column(String(10), index=True)
    rumour_score: Mapped[float | None]
    risk_tier: Mapped[str | None] = mapped_column(String(1), index=True)

    # Deadlines (services/sla.py): two clocks, computed on the working-day calendar.
    response_due_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    # True when a year not yet loaded was crossed; recomputed once it is loaded.
    due_provisional: Mapped[bool] = mapped_column(default=False, server_default=false())
    clock_started_at: Mapped[datetime | None]
    # The rule each clock was set from, frozen on the case: {"response": {...}, ...}.
    clock_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    extension_days: Mapped[int] = mapped_column(default=0, server_default="0")
    paused_until: Mapped[datetime | None]
    deadline_round: Mapped[int] = mapped_column(default=0, server_default="0")
    # Open: the reminder rung reached (due_soon, overdue, notice, report; set by the
    # sweep in services/reminder_ladder.py). Answered: met / late.
    deadline_state: Mapped[str | None] = mapped_column(String(20))
    return_count: Mapped[int] = mapped_column(default=0, server_default="0")  # 退单次数

    source: Mapped[Source] = relationship(lazy="joined")
    owner_unit: Mapped[Unit | None] = relationship(foreign_keys=[owner_unit_id])
    unit: Mapped[Unit | None] = relationship(foreign_keys=[unit_id])
    claimed_by: Mapped[User | None] = relationship()
    items: Mapped[list[Item]] = relationship(
        back_populates="case", foreign_keys=[Item.case_id], order_by=Item.id
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="case", order_by="Assignment.id"
    )
    replies: Mapped[list[Reply]] = relationship(back_populates="case", order_by="Reply.id")

    @property
    def status_label(self) -> str:
        return CASE_STATUSES.get(self.status, self.status)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Assignment(Base):
    """A unit's part in a case: lead (主办) now, assisting units (协办) later."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    role: Mapped[str] = mapped_column(String(10), default="lead")
    # active → acknowledged → done; or withdrawn when the case is re-dispatched.
    status: Mapped[str] = mapped_column(String(20), default="active")
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    # 协办 units' own sub-deadline (services/sla.py).
    due_at: Mapped[datetime | None]
    # When a 协办 task was marked done (its on-time rate in the reports).
    finished_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(back_populates="assignments")
    unit: Mapped[Unit] = relationship()
    assigned_by: Mapped[User | None] = relationship(foreign_keys=[assigned_by_id])


class Reply(Base):
    """A text to the asker: drafted by the unit, reviewed (services/review.py), published."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # answer; notice: what the asker is told of an approved 延期/暂停 (a draft until reviewed);
    # ack, return, clarification (models/review.py REPLY_KINDS)
    kind: Mapped[str] = mapped_column(String(20), default="answer")
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft … final
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Review (services/review.py): draft → review → approved → final (published).
    # The tier decides how many levels (初审/复审/终审) must approve; ``review_round``
    # starts again at 初审 whenever the text changes after a step.
    tier: Mapped[str | None] = mapped_column(String(1))
    review_round: Mapped[int] = mapped_column(default=0, server_default="0")
    text_hash: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None]
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Publishing: by hand until a channel can post back; the text is frozen by its hash.
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_link: Mapped[str | None] = mapped_column(String(500))
    published_hash: Mapped[str | None] = mapped_column(String(64))
    publish_method: Mapped[str | None] = mapped_column(String(20))
    # A correction is a new reply linked to the published one it corrects.
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"))
    rumour_id: Mapped[int | None] = mapped_column(ForeignKey("rumours.id"), index=True)

    case: Mapped[Case] = relationship(back_populates="replies")
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])

    @property
    def status_label(self) -> str:
        from sentinel.models.review import REPLY_STATUSES

        return REPLY_STATUSES.get(self.status, self.status)

    @property
    def kind_label(self) -> str:
        from sentinel.models.review import REPLY_KINDS

        return REPLY_KINDS.get(self.kind, self.kind)
