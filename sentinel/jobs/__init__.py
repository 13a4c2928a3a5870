"""Background jobs: plain functions that take ids, recorded as JobRun rows.

``sentinel.jobqueue.enqueue()`` adds a JobRun to the caller's transaction; the job is
handed to RQ (or run in-process) only after that transaction commits. ``runner.run_job``
claims the run atomically, so a job delivered twice runs once; the recovery sweep
(``recovery.py``) re-delivers runs that were never delivered or whose worker died, and
``health.py`` watches the workers, the queues and the scheduler. Services never import
this package: its job modules import the services.
"""
