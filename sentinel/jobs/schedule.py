"""The periodic schedule: one declarative list, run by RQ's own ``rq cron``.

``sentinel/jobs/cron_config.py`` registers this list with RQ; in the embedded mode
(no Redis) ``sentinel serve`` runs the same list on a background thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PeriodicJob:
    name: str  # a job name from the registry
    interval_s: int
    # The setting (seconds) after which a missing success is late: `sentinel health` fails
    # and, for the deadline sweep, the admin banner shows — both read the same setting.
    stale_setting: str

    def stale_after_s(self, config: Any) -> int:
        """This job's watchdog limit in seconds, from the app's settings."""
        return int(config[self.stale_setting])


PERIODIC: tuple[PeriodicJob, ...] = (
    # Every 30 s, so a job whose worker died runs again within a minute.
    PeriodicJob("recover_jobs", interval_s=30, stale_setting="RECOVERY_STALE_AFTER_S"),
    # Deadline sweep + reminder ladder (issue 6).
    PeriodicJob("deadline_sweep", interval_s=120, stale_setting="SWEEP_STALE_AFTER_S"),
    # Nightly retrain with officers' corrections; a no-op unless SENTINEL_RETRAIN_ENABLED.
    # The shared near-duplicate index: prune old entries, index cases that lack one.
    PeriodicJob("neardup_maintain", interval_s=600, stale_setting="NEARDUP_STALE_AFTER_S"),
    PeriodicJob(
        "retrain_models_periodic", interval_s=24 * 3600, stale_setting="RETRAIN_STALE_AFTER_S"
    ),
    # 日监测/周研判/月报/季通报/年度报告 of the last complete periods (issue 14); hourly,
    # idempotent: each kind and period is archived once.
    PeriodicJob("scheduled_reports", interval_s=3600, stale_setting="REPORTS_STALE_AFTER_S"),
    # FAQ entries past their review-by date: remind their units (issue 15).
    PeriodicJob("faq_review_reminders", interval_s=24 * 3600, stale_setting="FAQ_STALE_AFTER_S"),
    # Event heat decays as its 1 h / 6 h / 24 h / 7 d windows empty (issue 12).
    PeriodicJob("events_heat_refresh", interval_s=300, stale_setting="EVENT_HEAT_STALE_AFTER_S"),
    # 会商 clocks (approaching/breached) and alert delivery retries with back-off.
    PeriodicJob("alert_sweep", interval_s=60, stale_setting="ALERT_STALE_AFTER_S"),
)
