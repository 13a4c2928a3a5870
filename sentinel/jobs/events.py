"""Periodic job on events: heat decays as its windows empty, so it is recomputed."""

from __future__ import annotations

from sentinel import queues
from sentinel.jobs.registry import job
from sentinel.models import utcnow
from sentinel.services import event_heat

HEAT_REFRESH_JOB = "events_heat_refresh"


@job(HEAT_REFRESH_JOB, queue=queues.MAINTENANCE, timeout=300, max_attempts=1)
def events_heat_refresh() -> dict[str, int]:
    """Recompute the heat of open events that still have heat (idempotent)."""
    return {"events": event_heat.refresh_open(utcnow())}
