"""Deadline rules, extension/pause requests (延期/暂停), returns (退单), reminders (催办)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.case import Case
from sentinel.models.source import Source
from sentinel.models.unit import Unit
from sentinel.models.user import User

CLOCKS = {"response": "首次响应", "resolution": "办理时限"}
START_EVENTS = {"dispatch": "分派", "acknowledge": "签收"}
AMOUNT_UNITS = {"days": "个工作日", "hours": "个工作小时"}
CHANGE_KINDS = {"extension": "延期", "pause": "暂停"}
CHANGE_STATUSES = {
    "pending": "待审批",
    "approved": "已批准",
    "rejected": "已驳回",
    # Voided when the case left the unit that asked (退单 / 改派); see sla.on_dispatch.
    "cancelled": "已撤销",
}
RETURN_REASONS = {
    "territory": "属地不符",
    "function": "职能不符",
    "authority": "权属不符",
    "other": "其他",
}
REMINDER_KINDS = {
    "due_soon": "即将到期（催办）",
    "overdue": "已超期",
    "notice": "催办通知书",
    "report": "列入通报",
    "assist_overdue": "协办超期",
}


class DeadlineRule(Base):
    """One row of the rules table: which clock, for which cases, how long, from when.

    The most specific active rule wins (urgent > unit > source > request type); rules
    with empty conditions apply to every case.
    """

    __tablename__ = "deadline_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    clock: Mapped[str] = mapped_column(String(20), default="resolution")
    request_type: Mapped[str | None] = mapped_column(String(10))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    urgent: Mapped[bool] = mapped_column(default=False)  # applies to urgent (priority 2) cases
    start_event: Mapped[str] = mapped_column(String(20), default="acknowledge")
    amount: Mapped[int] = mapped_column(default=13)
    amount_unit: Mapped[str] = mapped_column(String(10), default="days")
    approver_role: Mapped[str] = mapped_column(String(20), default="duty_officer")
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    source: Mapped[Source | None] = relationship()
    unit: Mapped[Unit | None] = relationship()


class DeadlineChange(Base):
    """A request to extend (延期) or pause (暂停) a case's clock, and its decision."""

    __tablename__ = "deadline_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    days: Mapped[int]  # working days asked for
    reason: Mapped[str] = mapped_column(String(500))
    approver_role: Mapped[str] = mapped_column(String(20))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(String(500))
    old_due_at: Mapped[datetime | None]
    new_due_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def kind_label(self) -> str:
        return CHANGE_KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return CHANGE_STATUSES.get(self.status, self.status)


class CaseReturn(Base):
    """退单: a unit sends a mis-dispatched case back, with a reason; then how it ended."""

    __tablename__ = "case_returns"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(500))
    suggested_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    returned_at: Mapped[datetime] = mapped_column(default=utcnow)
    # redispatched / arbitrated, once the dispatcher acted
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))

    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id])
    suggested_unit: Mapped[Unit | None] = relationship(foreign_keys=[suggested_unit_id])
    outcome_unit: Mapped[Unit | None] = relationship(foreign_keys=[outcome_unit_id])
    returned_by: Mapped[User | None] = relationship()

    @property
    def reason_label(self) -> str:
        return RETURN_REASONS.get(self.reason, self.reason)


class Reminder(Base):
    """One rung of the reminder ladder for one case and deadline round (idempotency key)."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "round"),
        Index("ix_reminders_pending", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # Which deadline this is about: bumped when an extension or pause moves the deadline.
    round: Mapped[int] = mapped_column(default=0)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    emailed: Mapped[int] = mapped_column(default=0)
    document_path: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    case: Mapped[Case] = relationship()
    unit: Mapped[Unit | None] = relationship()

    @property
    def kind_label(self) -> str:
        return REMINDER_KINDS.get(self.kind, self.kind)
