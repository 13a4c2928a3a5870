"""Test-only jobs, loaded through ``SENTINEL_EXTRA_JOB_MODULES=tests.support.slow_jobs``.

``slow_mark`` stands for any job with a side effect: it marks an item processed and
writes one audit event, only if it changed the item (so running it twice is harmless).
It can hold still on a "gate" file, before or after its effect is committed, so a test
can kill the worker at a known point of the job.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import update

from sentinel import queues
from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.jobs.registry import job
from sentinel.models import Item, utcnow
from sentinel.services import audit

SLOW_QUEUE = "test_slow"
JOB_ACTOR = Actor(label="job:slow_mark")


def _hold(gate: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.05)


@job("slow_mark", queue=SLOW_QUEUE, timeout=20, max_attempts=3)
def slow_mark(item_id: int, gate: str, hold: str = "before", seconds: float = 15) -> dict[str, int]:
    """Mark ``item_id`` processed; wait on ``gate`` before (or after) committing that.

    Every entry appends a line to ``gate + ".entered"`` so the test sees each attempt.
    """
    with open(gate + ".entered", "a") as fh:
        fh.write(f"{os.getpid()}\n")
    if hold == "before":
        _hold(gate, seconds)
    changed = db.session.execute(
        update(Item)
        .where(Item.id == item_id, Item.processed_at.is_(None))
        .values(processed_at=utcnow())
    ).rowcount
    if changed:
        audit.record(JOB_ACTOR, "items.slow_mark", "item", item_id)
    if hold == "after":
        # The effect is durable before the worker dies: a re-run must not repeat it.
        db.session.commit()
        _hold(gate, seconds)
    return {"changed": changed}


# The same job run in a forked work horse, like an import: the fault test kills the horse.
job("slow_mark_forked", queue=SLOW_QUEUE, timeout=20, max_attempts=3, fork=True)(slow_mark)


@job("busy_default", queue=queues.BULK, timeout=60, max_attempts=1)
def busy_default(seconds: float) -> dict[str, float]:
    """A bulk job on the item-processing queue that just takes time (a backlog)."""
    time.sleep(seconds)
    return {"slept": seconds}


@job("always_fails", queue=SLOW_QUEUE, timeout=20, max_attempts=1)
def always_fails(log: str) -> None:
    """Append a line to ``log`` on every attempt, then fail."""
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    raise RuntimeError("always fails")
