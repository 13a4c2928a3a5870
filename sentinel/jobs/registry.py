"""The table of job functions, by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JOB_MODULES = ("sentinel.jobs.items", "sentinel.jobs.imports", "sentinel.jobs.maintenance")


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[..., Any]
    queue: str
    timeout: int
    max_attempts: int


_JOBS: dict[str, JobSpec] = {}


def job(
    name: str, *, queue: str = "default", timeout: int = 600, max_attempts: int = 5
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a job function under ``name`` with its queue, timeout and attempt limit."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        _JOBS[name] = JobSpec(name, func, queue, timeout, max_attempts)
        return func

    return decorator


def get(name: str) -> JobSpec:
    load_all()
    return _JOBS[name]


def all_jobs() -> dict[str, JobSpec]:
    load_all()
    return dict(_JOBS)


def load_all() -> None:
    for module in JOB_MODULES:
        importlib.import_module(module)
