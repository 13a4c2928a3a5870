"""The audit trail. Data holds ids, labels and counts — never message text or personal data."""

from __future__ import annotations

from typing import Any

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import AuditEvent


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
