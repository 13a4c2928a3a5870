"""Queue names and the order workers take them in: the one place that routes work.

- ``maintenance``: the periodic sweeps (recovery, deadlines, the near-duplicate index
  upkeep). Short jobs; a late recovery or deadline sweep hides lost work and overdue cases,
  so a worker takes them first and a backlog elsewhere never starves them (the standard
  set-up also runs a worker for ``maintenance`` alone).
- ``interactive``: someone is waiting — API batches, small imports (up to ``BULK_ROWS``
  rows) and their classification. Jobs here are short.
- ``events``: placing classified items in events (one job places whatever is waiting).
- ``bulk``: throughput work nobody watches item by item — a large import and its
  classification, ``sentinel reclassify``, retraining the models.

A worker takes jobs from its queues in ``ORDER``: an interactive job waits at most for the
job the worker is running. Bulk classification is cut into jobs of ``PROCESS_BATCH`` items,
so that wait is short; a dedicated ``sentinel worker interactive`` removes it (README).
"""

from __future__ import annotations

MAINTENANCE = "maintenance"
INTERACTIVE = "interactive"
EVENTS = "events"
BULK = "bulk"
ORDER: tuple[str, ...] = (MAINTENANCE, INTERACTIVE, EVENTS, BULK)

# An ingest (API batch, import) of more items than this is bulk work.
BULK_ROWS = 1000

# Item classification jobs, by queue (same function, two names: the name decides the
# queue, also when the recovery sweep re-delivers a run).
PROCESS_ITEMS = "process_items"
PROCESS_ITEMS_BULK = "process_items_bulk"
PROCESS_JOBS = (PROCESS_ITEMS, PROCESS_ITEMS_BULK)
# Event clustering of classified items (issue 12): a job of its own on the ``events``
# queue, after interactive work (a labelled case never waits for clustering) and before
# bulk work (a hot event is not found after a 25,000-row import is classified).
CLUSTER_EVENTS = "cluster_events"
RUN_IMPORT = "run_import"
RUN_IMPORT_BULK = "run_import_bulk"


def ordered(names: set[str] | list[str] | tuple[str, ...]) -> list[str]:
    """``names`` in serving order: known queues by ``ORDER``, then any others by name."""
    known = [q for q in ORDER if q in names]
    return known + sorted(set(names) - set(ORDER))


def process_job(bulk: bool) -> str:
    """The job name that classifies items of an interactive or a bulk ingest."""
    return PROCESS_ITEMS_BULK if bulk else PROCESS_ITEMS


def import_job(rows: int) -> str:
    """The job name that imports a file of ``rows`` rows."""
    return RUN_IMPORT_BULK if rows > BULK_ROWS else RUN_IMPORT
