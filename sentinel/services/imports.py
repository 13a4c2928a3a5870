"""Import batches: create from an upload, set the mapping, run (from a job or the CLI)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from sentinel.auth.permissions import Actor
from sentinel.errors import InvalidTransition, ValidationFailed
from sentinel.extensions import db
from sentinel.jobs import enqueue, queues
from sentinel.models import ImportBatch, Source, utcnow
from sentinel.services import audit, importer, ingest

log = logging.getLogger(__name__)
MAX_STORED_ERRORS = 1000


def create_batch(
    actor: Actor, source: Source, filename: str, data: bytes, upload_dir: str
) -> ImportBatch:
    """Store an uploaded file and read its header; the batch waits for a column mapping."""
    if not data:
        raise ValidationFailed("文件是空的")
    path = importer.stored_upload_path(upload_dir, secrets.token_hex(12), filename)
    with open(path, "wb") as fh:
        fh.write(data)
    table = importer.read_table(path, filename)
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
    return batch


def start_batch(actor: Actor, batch: ImportBatch, mapping: dict[str, str]) -> None:
    """Fix the column mapping and enqueue the import job (after commit)."""
    if batch.status not in ("uploaded", "failed"):
        raise InvalidTransition("该导入任务已开始")
    mapping = {k: v for k, v in mapping.items() if k in importer.TARGET_FIELDS and v}
    unknown = [v for v in mapping.values() if v not in batch.columns]
    if unknown:
        raise ValidationFailed(f"文件中没有列：{'、'.join(unknown)}")
    if "text" not in mapping and "title" not in mapping:
        raise ValidationFailed("请指定“留言内容”对应的列")
    batch.mapping = mapping
    batch.status = "queued"
    enqueue(queues.import_job(batch.total_rows), batch_id=batch.id)
    audit.record(actor, "import.start", "import", batch.id, fields=sorted(mapping))
    db.session.flush()


def run_batch(
    batch_id: int, *, commit_each_chunk: bool = True, progress: Callable[[int], None] | None = None
) -> ImportBatch:
    """Import every row of the batch. Safe to run again after a crash: rows already
    stored are re-deliveries (no-ops), and the counters are rebuilt from the start."""
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        raise ValidationFailed(f"导入任务 {batch_id} 不存在")
    if batch.status == "done":
        return batch
    actor = Actor(label=f"import:{batch.id}", user_id=batch.created_by_id)
    batch.status = "running"
    batch.processed_rows = batch.ok_rows = batch.duplicate_rows = batch.error_rows = 0
    batch.errors = []
    db.session.commit()
    try:
        table = importer.read_table(batch.stored_path, batch.filename)
        batch.total_rows = len(table.rows)
        source = db.session.get(Source, batch.source_id)
        assert source is not None
        errors: list[dict[str, object]] = []
        for items, row_errors, consumed in importer.iter_chunks(table.rows, batch.mapping or {}):
            results = ingest.ingest_items(
                actor, source, items, bulk=batch.total_rows > queues.BULK_ROWS
            )
            batch.ok_rows += sum(1 for r in results if not r.redelivered)
            batch.duplicate_rows += sum(1 for r in results if r.redelivered) + (
                consumed - len(items) - len(row_errors)
            )
            batch.error_rows += len(row_errors)
            errors.extend(e.as_dict() for e in row_errors)
            batch.processed_rows += consumed
            batch.errors = errors[:MAX_STORED_ERRORS]
            if commit_each_chunk:
                db.session.commit()
            if progress:
                progress(consumed)
        batch.status = "done"
        batch.finished_at = utcnow()
        audit.record(
            actor,
            "import.finish",
            "import",
            batch.id,
            ok=batch.ok_rows,
            duplicates=batch.duplicate_rows,
            errors=batch.error_rows,
        )
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        batch = db.session.get(ImportBatch, batch_id)
        assert batch is not None
        batch.status = "failed"
        batch.errors = [{"row": None, "message": exc.message}]
        db.session.commit()
    log.info("import_done batch_id=%s ok=%s errors=%s", batch.id, batch.ok_rows, batch.error_rows)
    return batch
