"""Consultation (会商) on an escalated event: level, owners, minutes, agreed line, clocks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.unit import Unit
from sentinel.models.user import User

# 研判等级 (assessment level).
CONSULT_LEVELS = {"general": "一般", "large": "较大", "major": "重大"}
CONSULT_STATUSES = {"open": "会商中", "decided": "已决策", "closed": "已复盘"}
OPEN_CONSULT_STATUSES = ("open", "decided")
# 国办发〔2016〕61号 clocks; which levels each applies to is in services/consult_clocks.py.
CLOCK_KINDS = {"respond": "回应关切", "authoritative": "发布权威信息", "press": "召开新闻发布会"}
CLOCK_BASES = {"wall": "自然时间", "working": "工作时间"}


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    level: Mapped[str | None] = mapped_column(String(10))  # None: not assessed yet
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    minutes: Mapped[str] = mapped_column(Text, default="")
    minutes_at: Mapped[datetime | None]
    agreed_line: Mapped[str | None] = mapped_column(Text)  # 统一口径
    agreed_line_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    review: Mapped[str | None] = mapped_column(Text)  # 复盘
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    responsible_unit: Mapped[Unit | None] = relationship()
    opened_by: Mapped[User | None] = relationship()
    invites: Mapped[list[ConsultationInvite]] = relationship(
        back_populates="consultation", order_by="ConsultationInvite.id"
    )
    clocks: Mapped[list[ConsultationClock]] = relationship(
        back_populates="consultation", order_by="ConsultationClock.due_at"
    )

    @property
    def status_label(self) -> str:
        return CONSULT_STATUSES.get(self.status, self.status)

    @property
    def level_label(self) -> str:
        return CONSULT_LEVELS.get(self.level or "", "未研判")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_CONSULT_STATUSES

    def owner_unit_ids(self) -> list[int]:
        """The responsible unit and every invited unit (who owes what)."""
        ids = [self.responsible_unit_id] if self.responsible_unit_id else []
        return ids + [i.unit_id for i in self.invites if i.unit_id not in ids]


class ConsultationInvite(Base):
    """A unit invited to the consultation, and its confirmation (确认参会)."""

    __tablename__ = "consultation_invites"
    __table_args__ = (UniqueConstraint("consultation_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    invited_at: Mapped[datetime] = mapped_column(default=utcnow)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None]
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(500))

    consultation: Mapped[Consultation] = relationship(back_populates="invites")
    unit: Mapped[Unit] = relationship()
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])


class ConsultationClock(Base):
    """One response clock of a consultation, frozen when started; met/breached recorded
    for the reports."""

    __tablename__ = "consultation_clocks"
    __table_args__ = (UniqueConstraint("consultation_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    basis: Mapped[str] = mapped_column(String(10), default="wall")
    hours: Mapped[float]
    started_at: Mapped[datetime]
    due_at: Mapped[datetime] = mapped_column(index=True)
    warn_at: Mapped[datetime]
    warned_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    met_at: Mapped[datetime | None]
    met_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The level was lowered from 重大: a 重大-only clock stops without being met.
    cancelled_at: Mapped[datetime | None]

    consultation: Mapped[Consultation] = relationship(back_populates="clocks")

    @property
    def kind_label(self) -> str:
        return CLOCK_KINDS.get(self.kind, self.kind)

    @property
    def basis_label(self) -> str:
        return CLOCK_BASES.get(self.basis, self.basis)

    @property
    def is_running(self) -> bool:
        return self.met_at is None and self.cancelled_at is None

    def state(self, now: datetime) -> str:
        """met / met_late / cancelled / breached / approaching / running."""
        if self.met_at is not None:
            return "met_late" if self.met_at > self.due_at else "met"
        if self.cancelled_at is not None:
            return "cancelled"
        if now >= self.due_at:
            return "breached"
        if now >= self.warn_at:
            return "approaching"
        return "running"
