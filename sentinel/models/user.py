"""User and its unit memberships."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Column, ForeignKey, String, Table, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.unit import Unit

ROLES = {
    "admin": "管理员",
    "duty_officer": "值班员",
    "handler": "承办人",
    "reviewer": "审核人",
    "leader": "领导",
}

user_units = Table(
    "user_units",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Bumped whenever every live session of the user must end (deactivation, password
    # reset or change): the session stores the epoch it was issued under (see get_id).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set by an administrator's password reset: the next login must choose a new one.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    password_changed_at: Mapped[datetime | None]
    # Per-account login throttle: failures since failed_window_start; locked until.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    failed_window_start: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]

    units: Mapped[list[Unit]] = relationship(secondary=user_units, lazy="selectin")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        # Flask-Login keeps this in the session; the loader refuses it once the epoch
        # moved on, so deactivating a user or resetting a password ends every session.
        return f"{self.id}:{self.session_epoch}"

    def is_locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or utcnow())

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def label(self) -> str:
        return self.display_name or self.username

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username} {self.role}>"
