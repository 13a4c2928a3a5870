"""Unit: a node in the office tree (province / city / county / department / section)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow

UNIT_KINDS = {
    "province": "省级",
    "city": "市级",
    "county": "县级",
    "department": "部门",
    "section": "科室",
}


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="department")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # Materialised path "/1/4/9/" so "this unit and everything below it" is one prefix match.
    path: Mapped[str] = mapped_column(String(255), default="/", index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent")

    @property
    def kind_label(self) -> str:
        return UNIT_KINDS.get(self.kind, self.kind)

    def __repr__(self) -> str:
        return f"<Unit {self.id} {self.name}>"


def tree_order(units: Iterable[Unit]) -> list[Unit]:
    """Units depth-first, parents before children, siblings in creation order.

    ``Unit.path`` holds ids as text ("/1/10/" sorts before "/1/2/"), so order by the
    numbers in the path, not by the string. Every unit picker uses this order.
    """
    return sorted(units, key=lambda u: [int(p) for p in u.path.strip("/").split("/") if p])
