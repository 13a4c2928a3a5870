"""Reply review (先审后发): templates, text versions, review steps, and rumours (辟谣).

``Reply`` itself lives in ``models/case.py``; this module holds what the review flow adds
around it. Every approval stores the sha256 of the exact text approved, so an approval
can never be carried over to a text nobody approved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.user import User

# Reply kinds (Reply.kind) and the template kinds that produce them.
REPLY_KINDS = {
    "ack": "受理告知",
    "answer": "答复",
    "notice": "延期告知",
    "return": "退回说明",
    "clarification": "辟谣",
}
REPLY_STATUSES = {
    "draft": "草稿",
    "review": "审核中",
    "approved": "待发布",
    "final": "已发布",
}
LEVEL_LABELS = {1: "初审", 2: "复审", 3: "终审"}
RUMOUR_STATUSES = {
    "suspected": "疑似谣言",
    "verified": "已核实",
    "clarified": "已辟谣",
    "dismissed": "不属谣言",
}
SOURCE_KINDS = {"document": "文件", "link": "链接", "attachment": "附件"}
REFERRAL_AGENCIES = {"police": "公安机关", "cac": "网信部门"}


class ReplyTemplate(Base):
    """An editable wording for a reply kind, optionally narrowed to a topic, a request
    type and a case state; placeholders like ``{留言人}`` are filled from the case."""

    __tablename__ = "reply_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str | None] = mapped_column(String(60))
    request_type: Mapped[str | None] = mapped_column(String(10))
    case_state: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ReplyVersion(Base):
    """One saved text of a reply: who wrote it, when, and its sha256."""

    __tablename__ = "reply_versions"
    __table_args__ = (UniqueConstraint("reply_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id"), index=True)
    number: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Why this version exists when it is not a plain edit ("mask:mobile", "template").
    note: Mapped[str | None] = mapped_column(String(100))

    author: Mapped[User | None] = relationship()


class ReviewStep(Base):
    """One decision on a reply: approve (a level) or reject, on the exact text hashed."""

    __tablename__ = "review_steps"
    __table_args__ = (Index("ix_review_steps_reply_round", "reply_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id"))
    # The review round: every edit after a step starts a new round at 初审.
    round: Mapped[int]
    level: Mapped[int]
    decision: Mapped[str] = mapped_column(String(10))  # approve, reject
    tier: Mapped[str] = mapped_column(String(1))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    opinion: Mapped[str | None] = mapped_column(String(1000))
    text_hash: Mapped[str] = mapped_column(String(64))

    reviewer: Mapped[User | None] = relationship()

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS.get(self.level, f"第{self.level}级")


class Rumour(Base):
    """A suspected rumour (谣言) and its clarification (辟谣).

    Case-level for now: a rumour gathers one or more cases (``rumour_cases``). A hot event
    can be linked later with a nullable ``event_id`` column beside ``unit_id``.
    """

    __tablename__ = "rumours"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="suspected", index=True)
    # The responsible unit: it verifies and drafts the clarification.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    score: Mapped[float | None]  # the classifier's rumour score when marked
    note: Mapped[str | None] = mapped_column(String(1000))
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verified_at: Mapped[datetime | None]
    finding: Mapped[str | None] = mapped_column(String(2000))
    source_kind: Mapped[str | None] = mapped_column(String(20))
    source_title: Mapped[str | None] = mapped_column(String(300))
    source_url: Mapped[str | None] = mapped_column(String(500))
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment_path: Mapped[str | None] = mapped_column(String(300))
    clarified_at: Mapped[datetime | None]
    # MinHash signatures of the rumour's texts (services/rumours.py): re-spread check.
    signatures: Mapped[list[Any] | None] = mapped_column(JSON)
    respread_count: Mapped[int] = mapped_column(default=0, server_default="0")

    marked_by: Mapped[User | None] = relationship(foreign_keys=[marked_by_id])
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id])

    @property
    def status_label(self) -> str:
        return RUMOUR_STATUSES.get(self.status, self.status)


class RumourCase(Base):
    __tablename__ = "rumour_cases"

    rumour_id: Mapped[int] = mapped_column(ForeignKey("rumours.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class RumourDelivery(Base):
    """A clarification (or its correction) delivered to one account or one asker."""

    __tablename__ = "rumour_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    rumour_id: Mapped[int] = mapped_column(ForeignKey("rumours.id"), index=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id"))
    target_kind: Mapped[str] = mapped_column(String(10))  # account, asker
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    # manual: published by hand (no channel posts back yet).
    method: Mapped[str] = mapped_column(String(20), default="manual")
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class RumourReferral(Base):
    """A referral (移送) of the rumour to the police or the internet regulator."""

    __tablename__ = "rumour_referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    rumour_id: Mapped[int] = mapped_column(ForeignKey("rumours.id"), index=True)
    agency: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(1000))
    referred_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    recorded_by: Mapped[User | None] = relationship()


class RumourSpread(Base):
    """An item received after the clarification that repeats the rumour (re-spread)."""

    __tablename__ = "rumour_spreads"
    __table_args__ = (UniqueConstraint("rumour_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rumour_id: Mapped[int] = mapped_column(ForeignKey("rumours.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    similarity: Mapped[float]
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
