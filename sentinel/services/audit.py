"""The audit trail. Data holds ids, labels and counts — never message text or personal data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import AuditEvent, utcnow


def record(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | None,
    **data: Any,
) -> AuditEvent:
    """Add one audit event to the session (the caller's commit makes it durable)."""
    event = AuditEvent(
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip=actor.ip,
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=data or None,
    )
    db.session.add(event)
    return event


def record_many(
    actor: Actor, events: Sequence[tuple[str, str, int | None, dict[str, Any]]]
) -> None:
    """Insert many audit events of one actor now: ``(action, object_type, object_id, data)``.

    For batch services (ingest: a batch of 1,000 items makes a hundred events). One
    executemany of one statement instead of ORM objects, whose flush sends a multi-row
    INSERT the driver re-parses for every batch size. Same rows as :func:`record`.
    """
    if not events:
        return
    at = utcnow()
    db.session.execute(
        insert(AuditEvent),
        [
            {
                "at": at,
                "actor_id": actor.user_id,
                "actor_label": actor.label,
                "ip": actor.ip,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "data": data or None,
            }
            for action, object_type, object_id, data in events
        ],
    )
