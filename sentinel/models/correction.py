"""LabelCorrection: an officer's correction of a label; it becomes a training row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.user import User

CORRECTABLE_FIELDS = {"topic": "主题分类", "sentiment": "情感倾向", "request_type": "诉求类型"}


class LabelCorrection(Base):
    __tablename__ = "label_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # The case's original item: its text is the training row.
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    field: Mapped[str] = mapped_column(String(20))
    old_value: Mapped[str | None] = mapped_column(String(60))
    new_value: Mapped[str] = mapped_column(String(60))
    model_version: Mapped[str | None] = mapped_column(String(40))
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    corrected_at: Mapped[datetime] = mapped_column(default=utcnow)

    corrected_by: Mapped[User | None] = relationship()
