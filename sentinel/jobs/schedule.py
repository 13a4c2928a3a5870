"""The periodic schedule: one declarative list, run by RQ's own ``rq cron``.

``sentinel/jobs/cron_config.py`` registers this list with RQ; in the embedded mode
(no Redis) ``sentinel serve`` runs the same list on a background thread.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicJob:
    name: str  # a job name from the registry
    interval_s: int
    # The health command fails when the last success is older than this.
    stale_after_s: int


PERIODIC: tuple[PeriodicJob, ...] = (
    PeriodicJob("recover_jobs", interval_s=60, stale_after_s=600),
    # Deadline sweep + reminder ladder (issue 6); the watchdog alerts after 10 minutes.
    PeriodicJob("deadline_sweep", interval_s=120, stale_after_s=600),
    # Nightly retrain with officers' corrections; a no-op unless SENTINEL_RETRAIN_ENABLED.
    # The shared near-duplicate index: prune old entries, index cases that lack one.
    PeriodicJob("neardup_maintain", interval_s=600, stale_after_s=3 * 3600),
    PeriodicJob("retrain_models_periodic", interval_s=24 * 3600, stale_after_s=3 * 24 * 3600),
)
