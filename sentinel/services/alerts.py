"""Escalation and clock alerts: in the app (the feed), by e-mail and by chat robot.

An alert fires once per event per (kind, level): ``raise_alert`` looks for it first and
inserts inside a savepoint, and the table's unique constraint settles a race between two
workers — the loser gets ``None`` and sends nothing. Deliveries are rows
(``AlertDelivery``): a job sends them right after commit (``ALERT_DELIVER_JOB``) and a
periodic job retries failures with exponential back-off (``ALERT_SWEEP_JOB``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from sentinel.auth.permissions import Actor, scope_unit_ids
from sentinel.extensions import db
from sentinel.jobqueue import enqueue
from sentinel.models import Alert, AlertDelivery, Unit, User, utcnow
from sentinel.services import audit, mailer, webhooks

log = logging.getLogger(__name__)

ALERT_DELIVER_JOB = "deliver_alert"
ALERT_SWEEP_JOB = "alert_sweep"
# Roles told about escalations (the owners of a clock are told whatever their role).
ALERTED_ROLES = ("admin", "duty_officer", "leader")
# A claimed delivery is not picked again for this long (a sender died mid-attempt).
CLAIM_S = 120


def raise_alert(
    *,
    event_id: int,
    kind: str,
    level: str,
    title: str,
    body: str,
    unit_ids: list[int],
    path: str,
    consultation_id: int | None = None,
    owners_only: bool = False,
) -> Alert | None:
    """Record the alert and its deliveries, once per (event, kind, level); None when it
    was already raised. Deliveries are sent by a job enqueued for after the commit.

    ``owners_only``: e-mail only users of ``unit_ids`` (a clock's owners), not every
    officer whose scope covers them."""
    exists = db.session.scalar(
        select(Alert.id).where(Alert.event_id == event_id, Alert.kind == kind, Alert.level == level)
    )
    if exists is not None:
        return None
    alert = Alert(
        event_id=event_id,
        consultation_id=consultation_id,
        kind=kind,
        level=level,
        title=title[:200],
        body=body,
        unit_ids=sorted(set(unit_ids)),
        path=path,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(alert)
            db.session.flush()
    except IntegrityError:
        # Another worker raised it first: theirs is the one alert.
        return None
    channels: list[tuple[str, str]] = []
    cfg = current_app.config
    if cfg.get("ALERT_EMAIL_ENABLED") and mailer.smtp_configured():
        recipients = recipients_for(alert.unit_ids, owners_only=owners_only)
        if recipients:
            channels.append(("email", f"{len(recipients)} 人"))
    if cfg.get("ALERT_WEBHOOK_URL"):
        channels.append(("webhook", str(cfg.get("ALERT_WEBHOOK_FORMAT", "wecom"))))
    for channel, target in channels:
        db.session.add(
            AlertDelivery(alert_id=alert.id, channel=channel, target=target, status="pending")
        )
    db.session.flush()
    if channels:
        enqueue(ALERT_DELIVER_JOB, alert_id=alert.id)
    log.info(
        "alert_raised alert_id=%s event_id=%s kind=%s level=%s", alert.id, event_id, kind, level
    )
    return alert


def user_sees(user: User, unit_ids: list[int]) -> bool:
    """True when the alert's units meet the user's scope. An alert about no unit in
    particular is seen by those who see every unit."""
    ids = scope_unit_ids(user)
    if ids is None:
        return True
    if not unit_ids:
        total = db.session.scalar(select(func.count()).select_from(Unit)) or 0
        return len(ids) >= total
    return bool(ids.intersection(unit_ids))


def recipients_for(unit_ids: list[int], *, owners_only: bool = False) -> list[str]:
    """E-mail addresses of active users to tell: officers and leaders whose scope covers
    one of the units; with ``owners_only``, the users of those units themselves."""
    stmt = select(User).where(User.active, User.email.is_not(None), User.email != "")
    if not owners_only:
        stmt = stmt.where(User.role.in_(ALERTED_ROLES))
    found: list[str] = []
    for user in db.session.scalars(stmt.order_by(User.id)):
        if owners_only:
            wanted = any(u.id in unit_ids for u in user.units)
        else:
            wanted = user_sees(user, unit_ids)
        if wanted and user.email and user.email not in found:
            found.append(user.email)
    return found


def feed_for(user: User, after: int, limit: int = 20) -> list[Alert]:
    """Alerts newer than ``after`` that the user may see (the page's poll), oldest first."""
    if after <= 0:
        # A fresh page starts from the alerts of the last day, not from all history.
        since = utcnow() - timedelta(days=1)
        stmt = select(Alert).where(Alert.created_at >= since)
    else:
        stmt = select(Alert).where(Alert.id > after)
    alerts = db.session.scalars(stmt.order_by(Alert.id.desc()).limit(200)).all()
    seen = [a for a in alerts if user_sees(user, a.unit_ids or [])]
    return list(reversed(seen[:limit]))


def latest_id() -> int:
    """The newest alert's id (a page starts polling after it)."""
    return db.session.scalar(select(func.max(Alert.id))) or 0


# --------------------------------------------------------------------------- delivery


@dataclass
class SweepResult:
    attempted: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "sent": self.sent,
            "failed": self.failed,
            "retrying": self.retrying,
        }


def backoff_s(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` failed tries (doubling, capped)."""
    cfg = current_app.config
    base, cap = int(cfg["ALERT_RETRY_BASE_S"]), int(cfg["ALERT_RETRY_MAX_S"])
    return int(min(cap, base * 2 ** max(0, attempts - 1)))


def claim_due(now: datetime, alert_id: int | None = None) -> list[int]:
    """Claim the pending deliveries that are due (of one alert, or all): each is pushed
    CLAIM_S into the future so a second sender skips it. The caller commits the claim
    before sending."""
    stmt = select(AlertDelivery.id).where(
        AlertDelivery.status == "pending",
        or_(AlertDelivery.next_attempt_at.is_(None), AlertDelivery.next_attempt_at <= now),
    )
    if alert_id is not None:
        stmt = stmt.where(AlertDelivery.alert_id == alert_id)
    claimed: list[int] = []
    for delivery_id in db.session.scalars(stmt.order_by(AlertDelivery.id).limit(500)).all():
        result = db.session.execute(
            update(AlertDelivery)
            .where(
                AlertDelivery.id == delivery_id,
                AlertDelivery.status == "pending",
                or_(AlertDelivery.next_attempt_at.is_(None), AlertDelivery.next_attempt_at <= now),
            )
            .values(next_attempt_at=now + timedelta(seconds=CLAIM_S))
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(delivery_id)
    db.session.flush()
    return claimed


def attempt(delivery_id: int, now: datetime, result: SweepResult | None = None) -> bool:
    """Send one claimed delivery and record the outcome (sent, retry later, or failed
    for good after ALERT_MAX_ATTEMPTS). True when sent. Flushes; the caller commits."""
    delivery = db.session.get(AlertDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return False
    result = result or SweepResult()
    result.attempted += 1
    delivery.attempts += 1
    try:
        _send(delivery)
    except (webhooks.DeliveryFailed, OSError, ValueError) as exc:
        error = str(exc)[:500] or exc.__class__.__name__
        delivery.last_error = error
        if delivery.attempts >= int(current_app.config["ALERT_MAX_ATTEMPTS"]):
            delivery.status = "failed"
            delivery.next_attempt_at = None
            result.failed += 1
        else:
            delivery.next_attempt_at = now + timedelta(seconds=backoff_s(delivery.attempts))
            result.retrying += 1
        log.warning(
            "alert_delivery_failed delivery_id=%s channel=%s attempts=%s final=%s",
            delivery.id,
            delivery.channel,
            delivery.attempts,
            delivery.status == "failed",
        )
        db.session.flush()
        return False
    delivery.status = "sent"
    delivery.sent_at = now
    delivery.next_attempt_at = None
    result.sent += 1
    db.session.flush()
    return True


def retry_now(actor: Actor, delivery: AlertDelivery) -> None:
    """An administrator's 立即重试: a failed delivery gets a fresh set of attempts."""
    audit.record(
        actor,
        "alert.retry",
        "alert_delivery",
        delivery.id,
        status=delivery.status,
        attempts=delivery.attempts,
    )
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = None
    db.session.flush()
    enqueue(ALERT_DELIVER_JOB, alert_id=delivery.alert_id)


def message_text(alert: Alert) -> str:
    """The alert as the e-mail/robot text (event title, level, link path; no messages)."""
    lines = [alert.body] if alert.body else []
    if alert.path:
        lines.append(f"请登录平台查看：{alert.path}")
    return "\n".join(lines)


def _send(delivery: AlertDelivery) -> None:
    alert = delivery.alert
    cfg = current_app.config
    subject = f"【{alert.kind_label}】{alert.title}"
    if delivery.channel == "email":
        if not mailer.smtp_configured():
            raise webhooks.DeliveryFailed("未配置邮件服务器（SMTP_HOST）")
        recipients = recipients_for(alert.unit_ids or [], owners_only=alert.kind == "clock")
        if not recipients:
            raise webhooks.DeliveryFailed("没有可发送的邮箱地址")
        mailer.send_email(recipients, subject, message_text(alert))
        return
    if delivery.channel == "webhook":
        url = cfg.get("ALERT_WEBHOOK_URL")
        if not url:
            raise webhooks.DeliveryFailed("未配置群机器人地址（ALERT_WEBHOOK_URL）")
        fmt = delivery.target or str(cfg.get("ALERT_WEBHOOK_FORMAT", "wecom"))
        body = webhooks.payload(fmt, subject, message_text(alert))
        url, body = webhooks.sign(fmt, str(url), body, cfg.get("ALERT_WEBHOOK_SECRET"))
        webhooks.post(url, body, float(cfg.get("ALERT_WEBHOOK_TIMEOUT", 5)))
        return
    raise webhooks.DeliveryFailed(f"未知渠道 {delivery.channel}")


def problem_deliveries(limit: int = 200) -> list[AlertDelivery]:
    """Deliveries that failed for good or are waiting for a retry (the admin page)."""
    stmt = (
        select(AlertDelivery)
        .where(
            or_(
                AlertDelivery.status == "failed",
                (AlertDelivery.status == "pending") & AlertDelivery.last_error.is_not(None),
            )
        )
        .order_by(AlertDelivery.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))
