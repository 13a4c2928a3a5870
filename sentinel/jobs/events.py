"""Jobs on events: placing classified items in events (after their classification, on the
same kind of queue), and the periodic heat refresh (heat decays as its windows empty)."""

from __future__ import annotations

from sentinel import queues
from sentinel.jobs.registry import job
from sentinel.models import utcnow
from sentinel.services import event_heat, processing

HEAT_REFRESH_JOB = "events_heat_refresh"


@job(HEAT_REFRESH_JOB, queue=queues.MAINTENANCE, timeout=300, max_attempts=1)
def events_heat_refresh() -> dict[str, int]:
    """Recompute the heat of open events that still have heat (idempotent)."""
    return {"events": event_heat.refresh_open(utcnow())}


@job(queues.CLUSTER_EVENTS, queue=queues.EVENTS, timeout=300, max_attempts=5)
def cluster_events(item_ids: list[int] | None = None, heat_at: str | None = None) -> dict[str, int]:
    """Place the classified items waiting for events (``item_ids``: those whose
    classification enqueued this run; it places whatever is waiting). Idempotent."""
    return processing.cluster_pending(heat_at=heat_at)
