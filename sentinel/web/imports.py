"""File import pages: upload → column mapping → progress."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from sentinel.auth.permissions import current_actor, require, scope_unit_ids
from sentinel.extensions import db
from sentinel.models import ImportBatch, Source, utcnow
from sentinel.services import importer, imports
from sentinel.web.forms import submit
from sentinel.web.uploads import upload_limit

bp = Blueprint("imports", __name__, url_prefix="/imports")


def _sources() -> list[Source]:
    ids = scope_unit_ids(current_user)
    stmt = select(Source).where(Source.active).order_by(Source.name)
    if ids is not None:
        stmt = stmt.where(Source.unit_id.in_(ids))
    return list(db.session.scalars(stmt))


def _batch_or_404(batch_id: int) -> ImportBatch:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or batch.source not in _sources():
        abort(404)
    return batch


@bp.route("/")
@require("import.run")
def index() -> Any:
    source_ids = [s.id for s in _sources()]
    batches = db.session.scalars(
        select(ImportBatch)
        .where(ImportBatch.source_id.in_(source_ids))
        .order_by(ImportBatch.id.desc())
        .limit(50)
    ).all()
    return render_template(
        "imports/index.html",
        batches=batches,
        sources=_sources(),
        max_mb=current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024),
        max_rows=current_app.config["IMPORT_MAX_ROWS"],
    )


@bp.route("/", methods=["POST"])
@upload_limit("IMPORT_MAX_BYTES")  # larger than other bodies; holds for CSRF's read too
@require("import.run")
def upload() -> Any:
    source = db.session.get(Source, request.form.get("source_id", type=int) or 0)
    upload = request.files.get("file")
    if source is None or source not in _sources():
        flash("请选择渠道", "warning")
        return redirect(url_for("imports.index"))
    if upload is None or not upload.filename:
        flash("请选择要上传的文件", "warning")
        return redirect(url_for("imports.index"))
    filename = upload.filename
    # No success message: the mapping page is the next step.
    done = submit(
        lambda: imports.create_batch(
            current_actor(),
            source,
            filename,
            upload.read(),
            current_app.config["UPLOAD_DIR"],
        ),
        None,
    )
    if not done:
        return redirect(url_for("imports.index"))
    return redirect(url_for("imports.mapping", batch_id=done.value.id))


@bp.route("/<int:batch_id>/mapping", methods=["GET", "POST"])
@require("import.run")
def mapping(batch_id: int) -> Any:
    batch = _batch_or_404(batch_id)
    if batch.status not in ("uploaded", "failed"):
        return redirect(url_for("imports.show", batch_id=batch.id))
    if request.method == "POST":
        chosen = {f: request.form.get(f"map_{f}", "") for f in importer.TARGET_FIELDS}
        # No success message: the progress page shows the batch.
        if not submit(lambda: imports.start_batch(current_actor(), batch, chosen), None):
            return redirect(url_for("imports.mapping", batch_id=batch.id))
        return redirect(url_for("imports.show", batch_id=batch.id))
    table = importer.read_file(batch.stored_path, batch.filename)
    return render_template(
        "imports/mapping.html",
        batch=batch,
        fields=importer.TARGET_FIELDS,
        preview=table.rows[:5],
    )


@bp.route("/<int:batch_id>/retry", methods=["POST"])
@require("import.run")
def retry(batch_id: int) -> Any:
    batch = _batch_or_404(batch_id)
    # No success message: the progress page shows the batch running again.
    submit(lambda: imports.retry_batch(current_actor(), batch), None)
    return redirect(url_for("imports.show", batch_id=batch.id))


@bp.route("/<int:batch_id>")
@require("import.run")
def show(batch_id: int) -> Any:
    batch = _batch_or_404(batch_id)
    return render_template(
        "imports/show.html", batch=batch, stalled=_stalled(batch), stall_note=STALL_NOTE
    )


STALL_NOTE = "导入已中断：长时间没有进展，后台任务进程可能已停止。已导入的行已保存，可重试。"


def _stalled(batch: ImportBatch) -> bool:
    return batch.stalled(utcnow(), current_app.config["IMPORT_STALL_SECONDS"])


@bp.route("/<int:batch_id>/status")
@require("import.run")
def status(batch_id: int) -> Any:
    batch = _batch_or_404(batch_id)
    return jsonify(
        {
            "status": batch.status,
            "status_label": batch.status_label,
            "total": batch.total_rows,
            "processed": batch.processed_rows,
            "ok": batch.ok_rows,
            "duplicates": batch.duplicate_rows,
            "errors": batch.error_rows,
            "percent": batch.percent,
            "failure": batch.failure or (STALL_NOTE if _stalled(batch) else None),
            "stalled": _stalled(batch),
            "error_rows": batch.errors[:200],
        }
    )
