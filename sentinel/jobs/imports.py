"""Jobs for file imports: small files on the interactive queue, large ones on bulk."""

from __future__ import annotations

from sentinel import queues
from sentinel.jobs.registry import job
from sentinel.services import imports


def _run(batch_id: int) -> dict[str, int]:
    batch = imports.run_batch(batch_id, raise_unexpected=True)
    return {"ok": batch.ok_rows, "duplicates": batch.duplicate_rows, "errors": batch.error_rows}


# Forked: an import parses an uploaded file (XLSX through a zip and XML parser), so a
# runaway one is killed hard and its memory is returned when it ends.
@job(queues.RUN_IMPORT, queue=queues.INTERACTIVE, timeout=600, max_attempts=3, fork=True)
def run_import(batch_id: int) -> dict[str, int]:
    """Import an uploaded file; safe to re-run (rows already stored are no-ops)."""
    return _run(batch_id)


@job(queues.RUN_IMPORT_BULK, queue=queues.BULK, timeout=3600, max_attempts=3, fork=True)
def run_import_bulk(batch_id: int) -> dict[str, int]:
    """Import a large uploaded file (more than ``queues.BULK_ROWS`` rows); safe to re-run."""
    return _run(batch_id)
