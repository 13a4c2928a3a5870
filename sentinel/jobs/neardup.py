"""Upkeep of the shared near-duplicate index."""

from __future__ import annotations

from sentinel import queues
from sentinel.jobs.registry import job
from sentinel.services import neardup_store


@job(neardup_store.MAINTAIN_JOB, queue=queues.MAINTENANCE, timeout=300, max_attempts=1)
def neardup_maintain() -> dict[str, int]:
    """Drop index entries older than the window; index recent open cases that lack one."""
    return neardup_store.maintain()
