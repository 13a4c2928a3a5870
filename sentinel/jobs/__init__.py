"""Background jobs: plain functions that take ids, recorded as JobRun rows.

``enqueue()`` adds a JobRun to the caller's transaction; the job is handed to RQ (or
run in-process) only after that transaction commits. ``runner.run_job`` claims the run
atomically, so a job delivered twice runs once; the recovery sweep re-enqueues runs that
were never delivered or whose worker died.
"""

from sentinel.jobs.queue import enqueue

__all__ = ["enqueue"]
