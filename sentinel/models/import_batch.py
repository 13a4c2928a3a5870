"""ImportBatch: one uploaded CSV/XLSX file being imported, with per-row errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.source import Source
from sentinel.models.user import User

IMPORT_STATUSES = {
    "uploaded": "待映射",
    "queued": "排队中",
    "running": "导入中",
    "done": "已完成",
    "failed": "失败",
}


class ImportBatch(Base):
    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(500))
    encoding: Mapped[str | None] = mapped_column(String(20))
    columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    mapping: Mapped[dict[str, str] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="uploaded")
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    ok_rows: Mapped[int] = mapped_column(default=0)
    duplicate_rows: Mapped[int] = mapped_column(default=0)
    error_rows: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Why a failed batch stopped (Chinese, shown to the user); None unless status is failed.
    failure: Mapped[str | None] = mapped_column(String(500))
    # Set when a run claims the batch and at every committed chunk: a "running" batch whose
    # heartbeat is old has lost its worker and may be claimed again (or retried by hand).
    heartbeat_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    source: Mapped[Source] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def status_label(self) -> str:
        return IMPORT_STATUSES.get(self.status, self.status)

    def stalled(self, now: datetime, after_seconds: int) -> bool:
        """Running, but no chunk committed for ``after_seconds``: its worker is gone."""
        if self.status != "running":
            return False
        beat = self.heartbeat_at or self.created_at
        return (now - beat).total_seconds() > after_seconds

    @property
    def percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0
