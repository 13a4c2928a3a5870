"""Jobs for file imports."""

from __future__ import annotations

from sentinel.jobs import queues
from sentinel.jobs.registry import job
from sentinel.services import imports


@job("run_import", queue=queues.IMPORTS, timeout=3600, max_attempts=3)
def run_import(batch_id: int) -> dict[str, int]:
    """Import an uploaded file; safe to re-run (rows already stored are no-ops)."""
    batch = imports.run_batch(batch_id)
    return {"ok": batch.ok_rows, "duplicates": batch.duplicate_rows, "errors": batch.error_rows}
