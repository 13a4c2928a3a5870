"""Alert: one escalation or clock warning, with its e-mail and webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow

ALERT_KINDS = {"escalation": "事件升级", "clock": "会商时限"}
DELIVERY_CHANNELS = {"email": "邮件", "webhook": "群机器人"}
DELIVERY_STATUSES = {"pending": "待发送", "sent": "已发送", "failed": "发送失败"}


class Alert(Base):
    """An alert fires once per event per level: the unique constraint is the guarantee,
    so concurrent escalations of one event never alert twice."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("event_id", "kind", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultations.id"))
    kind: Mapped[str] = mapped_column(String(20))
    # escalation: the heat level or "manual"; clock: "<clock kind>:approaching|breached".
    level: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    # Units the alert concerns (the event's units, the consultation's owners): the feed
    # shows it to users whose scope includes one of them.
    unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    path: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    deliveries: Mapped[list[AlertDelivery]] = relationship(
        back_populates="alert", order_by="AlertDelivery.id"
    )

    @property
    def kind_label(self) -> str:
        return ALERT_KINDS.get(self.kind, self.kind)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "level": self.level,
            "title": self.title,
            "body": self.body,
            "url": self.path,
            "created_at": self.created_at.isoformat(),
        }


class AlertDelivery(Base):
    """One channel's delivery of an alert; failed ones are retried with back-off."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel"),
        Index("ix_alert_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    # The webhook format or the number of e-mail recipients: never a URL (robot URLs
    # carry their access token) and never an address list.
    target: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    alert: Mapped[Alert] = relationship(back_populates="deliveries")

    @property
    def channel_label(self) -> str:
        return DELIVERY_CHANNELS.get(self.channel, self.channel)

    @property
    def status_label(self) -> str:
        return DELIVERY_STATUSES.get(self.status, self.status)
