"""Jobs for file imports."""

from __future__ import annotations

from sentinel.jobs import queues
from sentinel.jobs.registry import job
from sentinel.services import imports


@job("run_import", queue=queues.IMPORTS, timeout=3600, max_attempts=3)
def run_import(batch_id: int) -> dict[str, int]:
    """Import an uploaded file; a re-run resumes after the rows already imported. An
    unexpected error fails the batch (with its reason) and the job, which is retried."""
    batch = imports.run_batch(batch_id, raise_unexpected=True)
    return {"ok": batch.ok_rows, "duplicates": batch.duplicate_rows, "errors": batch.error_rows}
