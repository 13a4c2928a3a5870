"""Periodic maintenance: find work that was never delivered or never finished."""

from __future__ import annotations

from sentinel import queues
from sentinel.jobs import recovery
from sentinel.jobs.registry import job


@job("recover_jobs", queue=queues.MAINTENANCE, timeout=120, max_attempts=1)
def recover_jobs() -> dict[str, int]:
    """Re-deliver stuck JobRuns and enqueue processing for items no job covers."""
    return recovery.recover()
