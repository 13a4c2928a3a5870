"""LintWord: an office's own wrong or sensitive word (错敏词) for the pre-publish lint."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.user import User

#: 错词 has a correct form (one-click fix); 敏感词 must be removed or rewritten.
LINT_WORD_KINDS = {"错词": "错词（有正确写法）", "敏感词": "敏感词（须删除或改写）"}


class LintWord(Base):
    """One row of the administrators' word list.

    It adds to the list shipped in ``classifiers/resources/wordlists/lint_words.txt`` and
    replaces a shipped row with the same word; an inactive row switches that word off.
    """

    __tablename__ = "lint_words"

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    suggestion: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    updated_by: Mapped[User | None] = relationship()
