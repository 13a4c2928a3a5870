"""Jobs for file imports: small files on the interactive queue, large ones on bulk.

:func:`run_batch` drives an import (for these jobs and for ``sentinel import``, which runs
it in the foreground) and owns its transactions: the steps in ``services.imports`` only
flush, and it commits after each one, so a retry resumes after the last committed chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sentinel import queues
from sentinel.errors import ValidationFailed
from sentinel.extensions import db
from sentinel.jobs.registry import job
from sentinel.models import ImportBatch
from sentinel.services import imports

log = logging.getLogger(__name__)


class ImportInterrupted(RuntimeError):
    """An import stopped on an unexpected error (recorded on the batch); raised to the job
    runner so the job is retried, and the retry resumes where the import stopped."""


def run_batch(
    batch_id: int,
    *,
    progress: Callable[[int], None] | None = None,
    raise_unexpected: bool = False,
) -> ImportBatch:
    """Import the rows of the batch not imported yet, committing after each step.

    Never leaves the batch "running": a validation error (the file cannot be read) or any
    other error marks it failed with the reason, and the counters stay those of the chunks
    committed so far. ``raise_unexpected`` re-raises an unexpected error (as
    :class:`ImportInterrupted`) after recording it, for the job runner's retries.
    ``progress`` is told the rows already imported, then the rows of each committed chunk.
    """
    batch = imports.claim_batch(batch_id)
    # Committed at once: the claim is what keeps a second run (a retry by hand while the
    # job's own retry runs) from importing the same batch; one run at a time keeps the
    # counters right.
    db.session.commit()
    if batch is None:
        skipped = db.session.get(ImportBatch, batch_id)
        assert skipped is not None
        log.info("import_skipped batch_id=%s status=%s", batch_id, skipped.status)
        return skipped
    unexpected: Exception | None = None
    try:
        table = imports.read_batch_file(batch)
        if progress and batch.processed_rows:
            progress(batch.processed_rows)
        for chunk in imports.pending_chunks(batch, table):
            consumed = imports.import_chunk(batch, chunk)
            # A chunk's rows and the counters that count them in one commit.
            db.session.commit()
            if progress:
                progress(consumed)
        imports.finish_batch(batch)
        db.session.commit()
    except Exception as exc:
        # Drop the step that failed; what earlier steps committed stays.
        db.session.rollback()
        batch = imports.record_failure(batch_id, exc)
        db.session.commit()
        if not isinstance(exc, ValidationFailed):
            unexpected = exc
    log.info("import_done batch_id=%s ok=%s errors=%s", batch.id, batch.ok_rows, batch.error_rows)
    if unexpected is not None and raise_unexpected:
        raise ImportInterrupted(f"import {batch_id} stopped") from unexpected
    return batch


def _run(batch_id: int) -> dict[str, int]:
    batch = run_batch(batch_id, raise_unexpected=True)
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
