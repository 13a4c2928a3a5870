"""RQ cron configuration: ``rq cron sentinel.jobs.cron_config`` (or ``sentinel cron``)."""

from __future__ import annotations

from rq import cron

from sentinel.jobs import registry
from sentinel.jobs.periodic import run_periodic
from sentinel.jobs.schedule import PERIODIC

for periodic in PERIODIC:
    spec = registry.get(periodic.name)
    cron.register(
        run_periodic,
        queue_name=spec.queue,
        args=(periodic.name,),
        interval=periodic.interval_s,
        job_timeout=spec.timeout,
        name=periodic.name,
    )
