"""Events (热点/舆情事件): escalation and the duty officers' corrections.

Clustering (``services.event_clustering``) builds events; this module holds what changes an
event by decision: ``escalate`` (automatic from heat, or an officer raising it), and the
officers' merge / move-out / rename / mark-noise. Every change is audited; the caller commits.

Extension point for alerts and the 会商 consultation: ``on_escalated`` is a list of
callables ``hook(event, escalation, actor)`` run inside ``escalate`` after the escalation row
is flushed, in the same transaction. A hook must only add rows / enqueue jobs through
``sentinel.jobqueue.enqueue`` (which sends after commit); it must not commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sentinel.auth.permissions import Actor
from sentinel.errors import InvalidTransition, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Event, EventEscalation, utcnow
from sentinel.models.event import ESCALATION_LEVELS
from sentinel.services import audit

log = logging.getLogger(__name__)

EscalationHook = Callable[[Event, EventEscalation, Actor], None]
# Run, in order, for every new escalation (see the module docstring).
on_escalated: list[EscalationHook] = []


def escalate(
    event: Event, *, level: int, actor: Actor, reason: str | None = None
) -> EventEscalation | None:
    """Raise ``event`` to ``level`` (1 一般, 2 较大, 3 重大). Once per level: returns None
    and changes nothing when the event already reached ``level`` (so heat that keeps
    crossing a threshold never alerts twice); otherwise records the escalation (and any
    level skipped on the way is implied, not recorded), audits it, and runs the
    ``on_escalated`` hooks. ``actor`` is the system for heat, or the officer raising it."""
    if level not in ESCALATION_LEVELS:
        raise ValidationFailed("升级等级无效")
    if event.status not in ("open",):
        raise InvalidTransition("该事件已不在进行中，不能升级")
    if event.escalated_level >= level:
        return None
    now = utcnow()
    escalation = EventEscalation(
        event_id=event.id,
        level=level,
        at=now,
        actor_id=actor.user_id,
        heat=round(float(event.heat or 0.0), 2),
        reason=(reason or None),
    )
    db.session.add(escalation)
    previous = event.escalated_level
    event.escalated_level = level
    event.escalated_at = now
    event.escalated_by_id = actor.user_id
    audit.record(
        actor,
        "event.escalate",
        "event",
        event.id,
        level=level,
        previous=previous,
        heat=escalation.heat,
        automatic=actor.user_id is None,
    )
    db.session.flush()
    log.info(
        "event_escalated event_id=%s level=%s automatic=%s",
        event.id,
        level,
        actor.user_id is None,
    )
    for hook in list(on_escalated):
        hook(event, escalation, actor)
    return escalation


def level_for_heat(heat: float, thresholds: Any) -> int:
    """The escalation level ``heat`` reaches under ``thresholds`` (ascending, one per level:
    EVENT_ESCALATION_THRESHOLDS); 0 below the first."""
    level = 0
    for i, threshold in enumerate(thresholds, start=1):
        if heat >= float(threshold):
            level = i
    return min(level, max(ESCALATION_LEVELS))
