"""The table of job functions, by name.

The job modules are imported on first use (``load_all``). Deployments and tests can add
their own job modules without touching this list: ``SENTINEL_EXTRA_JOB_MODULES`` names
comma-separated importable modules (for example ``tests.support.slow_jobs``) that
``load_all()`` imports too; every process that enqueues or runs those jobs (web, worker)
needs the same value.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentinel import queues

JOB_MODULES = (
    "sentinel.jobs.items",
    "sentinel.jobs.imports",
    "sentinel.jobs.maintenance",
    "sentinel.jobs.models",
    "sentinel.jobs.deadlines",
    "sentinel.jobs.neardup",
    "sentinel.jobs.reports",
    "sentinel.jobs.faq",
    "sentinel.jobs.events",
    "sentinel.jobs.alerts",
)


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[..., Any]
    queue: str
    timeout: int
    max_attempts: int
    # Run in a forked work horse (memory and hard-kill isolation for long, heavy jobs);
    # otherwise in the worker process itself, where the app and the models stay loaded.
    fork: bool = False


_JOBS: dict[str, JobSpec] = {}


def job(
    name: str,
    *,
    queue: str = queues.INTERACTIVE,
    timeout: int = 600,
    max_attempts: int = 5,
    fork: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a job function under ``name`` with its queue (``jobs.queues``), timeout,
    attempt limit and whether a worker runs it in a forked work horse.

    ``max_attempts`` is the only attempt limit: a job declared with 1 runs once.
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        _JOBS[name] = JobSpec(name, func, queue, timeout, max_attempts, fork)
        return func

    return decorator


def get(name: str) -> JobSpec:
    load_all()
    return _JOBS[name]


def all_jobs() -> dict[str, JobSpec]:
    load_all()
    return dict(_JOBS)


def load_all() -> None:
    """Import the job modules: ``JOB_MODULES``, then those in ``SENTINEL_EXTRA_JOB_MODULES``."""
    extra = os.environ.get("SENTINEL_EXTRA_JOB_MODULES", "")
    for module in (*JOB_MODULES, *(m.strip() for m in extra.split(",") if m.strip())):
        importlib.import_module(module)


def queue_names() -> list[str]:
    """Every queue some job uses, in the order a worker serves them (maintenance first)."""
    from sentinel import queues

    return queues.ordered({spec.queue for spec in all_jobs().values()})


def attempts_left(spec: JobSpec, attempts: Any) -> Any:
    """The one rule for retries: a run may start again while ``attempts < max_attempts``.

    ``attempts`` is an int or the ``JobRun.attempts`` column (then this is a SQL
    condition); the claim in ``runner`` and the recovery sweep both use it, and RQ itself
    never retries (``jobqueue`` enqueues without ``Retry``).
    """
    return attempts < spec.max_attempts


def embedded_stale_after_s(spec: JobSpec, default_s: int) -> int:
    """In-process modes only: seconds after which a ``running`` run is presumed dead.

    With RQ a dead worker is found by its heartbeat (``liveness``); in-process there is no
    heartbeat, so a run is given ``JOB_STALE_AFTER_S`` but never less than its own timeout.
    """
    return max(int(default_s), spec.timeout)
