"""WorkCalendar (工作日历): one row per date, and office hours per unit."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.unit import Unit

DAY_KINDS = {
    "workday": "工作日",
    "holiday": "休息日",
    "makeup_workday": "调休上班",
}
WORKING_KINDS = frozenset({"workday", "makeup_workday"})


class WorkCalendar(Base):
    """One calendar day of a loaded year.

    A year is "loaded" when its days are here; weekends are ``holiday`` rows without a
    name, statutory holidays carry the holiday's name, 调休 Saturdays/Sundays are
    ``makeup_workday`` rows.
    """

    __tablename__ = "work_calendar"

    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def kind_label(self) -> str:
        return DAY_KINDS.get(self.kind, self.kind)


class OfficeHours(Base):
    """A unit's office hours for hour-based clocks, e.g. ``08:30-12:00,13:30-17:30``.

    Units without a row inherit from their parent, then from the ``OFFICE_HOURS`` setting.
    """

    __tablename__ = "office_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), unique=True)
    periods: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()
