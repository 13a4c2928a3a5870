"""Alert delivery (right after an escalation commits) and the periodic alert sweep:
retry failed deliveries with back-off, and record approaching/breached 会商 clocks."""

from __future__ import annotations

import logging
from typing import Any

from sentinel import queues
from sentinel.extensions import db
from sentinel.jobs.registry import job
from sentinel.models import utcnow
from sentinel.services import alerts, consultations

log = logging.getLogger(__name__)


def _send_claimed(ids: list[int], result: alerts.SweepResult) -> None:
    # Commit the claim first, then each outcome: a crash never repeats a recorded send.
    db.session.commit()
    for delivery_id in ids:
        alerts.attempt(delivery_id, utcnow(), result)
        db.session.commit()


@job(alerts.ALERT_DELIVER_JOB, queue=queues.INTERACTIVE, timeout=120, max_attempts=1)
def deliver_alert(alert_id: int) -> dict[str, Any]:
    """Send an alert's pending deliveries now (failures wait for the sweep's retry)."""
    result = alerts.SweepResult()
    _send_claimed(alerts.claim_due(utcnow(), alert_id=alert_id), result)
    return result.as_dict()


@job(alerts.ALERT_SWEEP_JOB, queue=queues.MAINTENANCE, timeout=300, max_attempts=1)
def alert_sweep() -> dict[str, Any]:
    """Alert on approaching/breached 会商 clocks, then retry due deliveries (idempotent)."""
    clocks = consultations.sweep_clocks(utcnow())
    db.session.commit()
    result = alerts.SweepResult()
    _send_claimed(alerts.claim_due(utcnow()), result)
    log.info(
        "alert_sweep warned=%s breached=%s attempted=%s sent=%s retrying=%s failed=%s",
        clocks.warned,
        clocks.breached,
        result.attempted,
        result.sent,
        result.retrying,
        result.failed,
    )
    return {"warned": clocks.warned, "breached": clocks.breached, **result.as_dict()}
