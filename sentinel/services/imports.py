"""Import batches: create from an upload, set the mapping, and the steps of a run.

A batch that fails says why (``ImportBatch.failure``), stops, and can be retried. A run is
driven by ``sentinel.jobs.imports.run_batch`` (the job, and the CLI), which commits after
each step here: the claim, each chunk (its rows and the batch's counters together, so a
retry, or a job that runs again after its worker died, resumes after the last committed
chunk and counts each row once), the finish, a failure. These functions only flush.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import traceback
from collections.abc import Iterator
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, update

from sentinel import queues
from sentinel.auth.permissions import Actor
from sentinel.errors import InvalidTransition, ValidationFailed
from sentinel.extensions import db
from sentinel.jobqueue import enqueue
from sentinel.models import ImportBatch, Source, utcnow
from sentinel.services import audit, importer, ingest

log = logging.getLogger(__name__)
MAX_STORED_ERRORS = 1000

# One chunk of rows from ``importer.iter_chunks``: items, row errors, rows consumed.
Chunk = tuple[list[ingest.IncomingItem], list[importer.RowError], int]


def _max_rows() -> int | None:
    value = current_app.config.get("IMPORT_MAX_ROWS")
    return int(value) if value else None


def create_batch(
    actor: Actor, source: Source, filename: str, data: bytes, upload_dir: str
) -> ImportBatch:
    """Read an uploaded file and keep it; the batch waits for a column mapping.

    The file is read (decoded, parsed, row count checked against ``IMPORT_MAX_ROWS``)
    before anything is written, so a refused upload leaves no file behind.
    """
    if not data:
        raise ValidationFailed("文件是空的")
    table = importer.read_bytes(data, filename, max_rows=_max_rows())
    path = importer.stored_upload_path(upload_dir, secrets.token_hex(12), filename)
    try:
        with open(path, "wb") as fh:
            fh.write(data)
        batch = ImportBatch(
            source_id=source.id,
            filename=filename[:255],
            stored_path=path,
            encoding=table.encoding,
            columns=table.columns,
            mapping=importer.guess_mapping(table.columns),
            total_rows=len(table.rows),
            created_by_id=actor.user_id,
        )
        db.session.add(batch)
        db.session.flush()
        audit.record(
            actor,
            "import.upload",
            "import",
            batch.id,
            source_id=source.id,
            rows=len(table.rows),
            encoding=table.encoding,
        )
    except BaseException:
        discard_file(path)
        raise
    return batch


def discard_file(path: str) -> None:
    """Remove a stored upload (a refused or abandoned one); a missing file is fine."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def start_batch(actor: Actor, batch: ImportBatch, mapping: dict[str, str]) -> None:
    """Fix the column mapping and enqueue the import job (after commit).

    A failed batch mapped again starts over (its rows are read with the new mapping);
    :func:`retry_batch` resumes one with the same mapping.
    """
    if batch.status not in ("uploaded", "failed"):
        raise InvalidTransition("该导入任务已开始")
    mapping = {k: v for k, v in mapping.items() if k in importer.TARGET_FIELDS and v}
    unknown = [v for v in mapping.values() if v not in batch.columns]
    if unknown:
        raise ValidationFailed(f"文件中没有列：{'、'.join(unknown)}")
    if "text" not in mapping and "title" not in mapping:
        raise ValidationFailed("请指定“留言内容”对应的列")
    if batch.status == "failed" and mapping != (batch.mapping or {}):
        _reset_counters(batch)
    batch.mapping = mapping
    batch.status = "queued"
    batch.failure = None
    enqueue(queues.import_job(batch.total_rows), batch_id=batch.id)
    audit.record(actor, "import.start", "import", batch.id, fields=sorted(mapping))
    db.session.flush()


def retry_batch(actor: Actor, batch: ImportBatch) -> None:
    """Queue a failed (or stalled: running, its worker gone) batch again; it resumes after
    the rows already imported."""
    stalled = batch.stalled(utcnow(), current_app.config["IMPORT_STALL_SECONDS"])
    if batch.status != "failed" and not stalled:
        raise InvalidTransition("只有失败或已中断的导入任务可以重试")
    if not batch.mapping:
        raise InvalidTransition("该导入任务尚未设置列映射")
    batch.status = "queued"
    previous = batch.failure
    batch.failure = None
    enqueue(queues.import_job(batch.total_rows), batch_id=batch.id)
    audit.record(
        actor,
        "import.retry",
        "import",
        batch.id,
        resume_at_row=batch.processed_rows,
        had_failure=bool(previous),
    )
    db.session.flush()


def _reset_counters(batch: ImportBatch) -> None:
    batch.processed_rows = batch.ok_rows = batch.duplicate_rows = batch.error_rows = 0
    batch.errors = []


def claim_batch(batch_id: int) -> ImportBatch | None:
    """Mark the batch running, with a fresh heartbeat, if no other run holds it.

    One conditional UPDATE, so two runs (a retry by hand while the job's own retry runs)
    cannot both claim it; a batch that is running with a recent heartbeat, or done, is not
    claimed (None). The caller commits at once so other runs see the claim.
    """
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        raise ValidationFailed(f"导入任务 {batch_id} 不存在")
    now = utcnow()
    stalled_before = now - timedelta(seconds=current_app.config["IMPORT_STALL_SECONDS"])
    claimed = db.session.execute(
        update(ImportBatch)
        .where(
            ImportBatch.id == batch_id,
            or_(
                ImportBatch.status.in_(("uploaded", "queued", "failed")),
                and_(
                    ImportBatch.status == "running",
                    or_(
                        ImportBatch.heartbeat_at.is_(None),
                        ImportBatch.heartbeat_at < stalled_before,
                    ),
                ),
            ),
        )
        .values(status="running", heartbeat_at=now, failure=None)
    )
    if claimed.rowcount != 1:
        return None
    db.session.refresh(batch)
    return batch


def read_batch_file(batch: ImportBatch) -> importer.Table:
    """Read the stored file of a claimed batch and set ``total_rows``; flushes.

    Raises :class:`ValidationFailed` when the file cannot be read, or has fewer rows than
    were imported already (it was changed since).
    """
    table = importer.read_file(batch.stored_path, batch.filename, max_rows=_max_rows())
    if batch.processed_rows > len(table.rows):
        raise ValidationFailed("已导入的行数超过文件行数：文件已被更改，请重新上传")
    batch.total_rows = len(table.rows)
    db.session.flush()
    return table


def pending_chunks(batch: ImportBatch, table: importer.Table) -> Iterator[Chunk]:
    """The chunks of ``table`` not imported yet: those after ``batch.processed_rows``."""
    return importer.iter_chunks(table, batch.mapping or {}, start=batch.processed_rows)


def import_chunk(batch: ImportBatch, chunk: Chunk) -> int:
    """Ingest one chunk's items and add its counts to the batch; flushes.

    The caller commits after each chunk: the rows and the counters that count them are
    committed together, which is what lets a retry resume after the last committed chunk
    and count each row once. Also renews the heartbeat. Returns the rows consumed.
    """
    items, row_errors, consumed = chunk
    source = db.session.get(Source, batch.source_id)
    assert source is not None
    results = ingest.ingest_items(
        _actor(batch), source, items, bulk=batch.total_rows > queues.BULK_ROWS
    )
    batch.ok_rows += sum(1 for r in results if not r.redelivered)
    batch.duplicate_rows += sum(1 for r in results if r.redelivered) + (
        consumed - len(items) - len(row_errors)
    )
    batch.error_rows += len(row_errors)
    # The first MAX_STORED_ERRORS row errors of all runs are kept.
    batch.errors = [*(batch.errors or []), *(e.as_dict() for e in row_errors)][:MAX_STORED_ERRORS]
    batch.processed_rows += consumed
    batch.heartbeat_at = utcnow()
    db.session.flush()
    return consumed


def finish_batch(batch: ImportBatch) -> None:
    """Mark a batch whose chunks are all imported done, with an audit event; flushes."""
    batch.status = "done"
    batch.finished_at = utcnow()
    audit.record(
        _actor(batch),
        "import.finish",
        "import",
        batch.id,
        ok=batch.ok_rows,
        duplicates=batch.duplicate_rows,
        errors=batch.error_rows,
    )
    db.session.flush()


def record_failure(batch_id: int, exc: Exception) -> ImportBatch:
    """Mark the batch failed with the reason ``exc`` gives, with an audit event; flushes.

    Call it after rolling back the step that raised: the counters stay those of the
    chunks committed so far. A :class:`ValidationFailed` gives its message; any other
    error a generic reason (its message may quote citizens' text), and only its type and
    place are logged.
    """
    if isinstance(exc, ValidationFailed):
        message, kind = exc.message, "validation"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        log.error("import_failed batch_id=%s error=%s at=%s", batch_id, type(exc).__name__, where)
        message = f"导入中途出错（{type(exc).__name__}）；已导入的行已保存，重试将从中断处继续"
        kind = "error"
    batch = db.session.get(ImportBatch, batch_id)
    assert batch is not None
    batch.status = "failed"
    batch.failure = message[:500]
    batch.finished_at = None
    audit.record(
        _actor(batch), "import.fail", "import", batch.id, kind=kind, processed=batch.processed_rows
    )
    db.session.flush()
    return batch


def _actor(batch: ImportBatch) -> Actor:
    return Actor(label=f"import:{batch.id}", user_id=batch.created_by_id)
