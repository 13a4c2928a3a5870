"""FAQ knowledge base (咨询问答库): entries, their versions, source cases and uses."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.case import Case
from sentinel.models.unit import Unit
from sentinel.models.user import User

FAQ_VISIBILITIES = {"draft": "草稿", "internal": "内部", "public": "公开"}
FAQ_STATUSES = {
    "pending": "待审核",
    "approved": "已通过",
    "rejected": "已驳回",
    # A suggestion whose text was written onto the entry it updates.
    "merged": "已并入",
    "retired": "已停用",
}

# What a version row records (FaqVersion.change), as shown in an entry's history.
FAQ_CHANGES = {
    "suggested": "生成建议",
    "approved": "审核通过",
    "merged": "并入已有问答",
    "updated": "按建议更新",
    "rejected": "驳回",
    "reconfirmed": "复核确认",
    "retired": "停用",
    "imported": "导入",
    "reimported": "重新导入",
    "edited": "编辑",
}


class FaqEntry(Base):
    """One question with its canonical answer.

    A suggestion made from an answered 咨询 case is ``pending`` until a person with
    ``faq.approve`` approves it; only ``approved`` entries are searched at triage, and only
    approved + public + current ones are on the public page. A suggestion that updates an
    existing entry is its own pending row with ``updates_id`` set; approving it copies the
    text onto the existing entry (a new version) and retires the suggestion row.
    """

    __tablename__ = "faq_entries"
    __table_args__ = (
        Index("ix_faq_entries_status_visibility", "status", "visibility"),
        Index("ix_faq_entries_review_by", "review_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(60), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    visibility: Mapped[str] = mapped_column(String(10), default="draft")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    valid_from: Mapped[date | None]
    review_by: Mapped[date | None]
    # 编号 of an imported list: re-importing the same 编号 updates the entry.
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    # A pending suggestion that proposes new text for this existing entry.
    updates_id: Mapped[int | None] = mapped_column(ForeignKey("faq_entries.id"), index=True)
    similarity: Mapped[float | None]
    # The search terms (classifiers.faq_search.analyse), written with the text, so the
    # in-process index is built without segmenting 50,000 texts again.
    search_terms: Mapped[str | None] = mapped_column(Text)
    use_count: Mapped[int] = mapped_column(default=0, server_default="0")
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    review_reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit | None] = relationship()
    updates: Mapped[FaqEntry | None] = relationship(remote_side=[id])
    sources: Mapped[list[FaqSource]] = relationship(back_populates="entry", order_by="FaqSource.id")
    versions: Mapped[list[FaqVersion]] = relationship(
        back_populates="entry", order_by="FaqVersion.id"
    )

    @property
    def status_label(self) -> str:
        return FAQ_STATUSES.get(self.status, self.status)

    @property
    def visibility_label(self) -> str:
        return FAQ_VISIBILITIES.get(self.visibility, self.visibility)


class FaqVersion(Base):
    """A snapshot of an entry after each change; the newest id is the search index version."""

    __tablename__ = "faq_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id"), index=True)
    version: Mapped[int]
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(60))
    visibility: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    change: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    entry: Mapped[FaqEntry] = relationship(back_populates="versions")
    actor: Mapped[User | None] = relationship()


class FaqSource(Base):
    """A case an entry was made from or updated by."""

    __tablename__ = "faq_sources"
    __table_args__ = (UniqueConstraint("entry_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    entry: Mapped[FaqEntry] = relationship(back_populates="sources")
    case: Mapped[Case] = relationship()


class FaqUse(Base):
    """One "use this answer" click: which entry was put into which case's draft."""

    __tablename__ = "faq_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
