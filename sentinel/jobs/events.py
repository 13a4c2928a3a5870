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


@job(queues.CLUSTER_EVENTS, queue=queues.INTERACTIVE, timeout=300, max_attempts=5)
def cluster_events(item_ids: list[int], heat_at: str | None = None) -> dict[str, int]:
    """Place newly classified items in events (idempotent: placed items are skipped)."""
    return processing.cluster_items(item_ids, heat_at=heat_at)


@job(queues.CLUSTER_EVENTS_BULK, queue=queues.BULK, timeout=300, max_attempts=5)
def cluster_events_bulk(item_ids: list[int], heat_at: str | None = None) -> dict[str, int]:
    """Place classified items of a bulk ingest in events (idempotent)."""
    return processing.cluster_items(item_ids, heat_at=heat_at)
