"""Item: one thing a member of the public wrote, on one channel."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.source import Source

if TYPE_CHECKING:
    from sentinel.models.case import Case

ITEM_KINDS = {
    "comment": "评论",
    "mention": "@提及",
    "message": "私信",
    "letter": "信件",
    "ticket": "工单",
}


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        # Only the items waiting for their worker (a few, normally): the recovery sweep and
        # the text search's unindexed part read it; processed items cost it nothing.
        Index(
            "ix_items_unprocessed",
            "id",
            postgresql_where=sql_text("processed_at IS NULL"),
            sqlite_where=sql_text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="comment")
    # What the member of the public wrote, exactly as received (the record kept for 信箱 and
    # 12345 archives) — unless ``text_verbatim`` is False, see there.
    text: Mapped[str] = mapped_column(Text)
    # ``classifiers.text.normalise(text)``: what classification, hashing and search use.
    text_normalised: Mapped[str] = mapped_column(Text)
    # False for items stored before the received text was kept (migration verbatim_01): their
    # ``text`` is the normalised form and the original could not be recovered.
    text_verbatim: Mapped[bool] = mapped_column(default=True)
    # SHA-256 of the normalised text: exact duplicates share it.
    text_hash: Mapped[str] = mapped_column(String(64), index=True)
    author: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    posted_at: Mapped[datetime | None]  # as the channel or file gave it
    # ``posted_at`` was later than the time of receipt (beyond INGEST_FUTURE_SKEW_SECONDS):
    # kept as given but flagged, and the case is ordered by the time of receipt instead.
    posted_in_future: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Fields the channel sent that we do not model (engagement counts, ...): kept, not lost.
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # True when the text equalled an existing case's and the item was attached to it.
    is_duplicate: Mapped[bool] = mapped_column(default=False)

    # Classification (filled by the classify job).
    processed_at: Mapped[datetime | None]
    topic: Mapped[str | None] = mapped_column(String(60))
    topic_confidence: Mapped[float | None]
    sentiment: Mapped[str | None] = mapped_column(String(10))
    sentiment_score: Mapped[float | None]
    request_type: Mapped[str | None] = mapped_column(String(10))
    rumour_score: Mapped[float | None]
    risk_tier: Mapped[str | None] = mapped_column(String(1))
    model_version: Mapped[str | None] = mapped_column(String(40))
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A near-duplicate below the attach threshold: suggested to the duty officer.
    suggested_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    suggested_similarity: Mapped[float | None]
    # How the item came into its case when it is not the case's own first item (issue 10,
    # services/duplicates.py): "exact" (identical text, at ingest), "neardup" (the
    # near-duplicate pass) or "manual" (a person's merge); None for a case's original.
    attach_kind: Mapped[str | None] = mapped_column(String(10))
    attached_at: Mapped[datetime | None]
    attach_similarity: Mapped[float | None]
    # Set when a person decided where the item belongs (拆分 or a manual merge): ingest,
    # the near-duplicate pass and ``reclassify --all`` never move it automatically again.
    attach_decided_at: Mapped[datetime | None]
    attach_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The case a person split the item out of (拆分).
    detached_from_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))

    source: Mapped[Source] = relationship(lazy="joined")
    case: Mapped[Case] = relationship(back_populates="items", foreign_keys=[case_id])

    @property
    def kind_label(self) -> str:
        return ITEM_KINDS.get(self.kind, self.kind)
