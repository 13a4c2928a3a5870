"""FAQ knowledge base pages (issue 15): the public FAQ (no login), the staff search, the
approval queue, the re-confirmation list, import/export, and "use this answer"."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from sentinel.auth.permissions import can, current_actor, require, scope_unit_ids
from sentinel.errors import SentinelError, ValidationFailed
from sentinel.extensions import db, limiter
from sentinel.models import Case
from sentinel.models.faq import FAQ_CHANGES, FAQ_VISIBILITIES, FaqEntry
from sentinel.models.unit import Unit
from sentinel.services import faq
from sentinel.web.forms import act_on_case, submit
from sentinel.web.links import same_site_path
from sentinel.web.uploads import upload_limit

bp = Blueprint("faq", __name__)

MAX_QUERY = 500


def _public_limit() -> str:
    return str(current_app.config["FAQ_PUBLIC_RATE_LIMIT"])


@bp.route("/faq")
@limiter.limit(_public_limit)
def public_index() -> Any:
    """The public FAQ: public, approved, current entries; search and topics. No login."""
    q = (request.args.get("q") or "").strip()[:MAX_QUERY]
    topic = (request.args.get("topic") or "").strip()[:60] or None
    if q:
        entries = faq.search(q, 20, public_only=True)
        if topic:
            entries = [e for e in entries if e.topic == topic]
    else:
        entries = faq.public_entries(topic)
    return render_template(
        "faq/public.html",
        entries=entries,
        q=q,
        topic=topic,
        topics=faq.public_topics(),
        warming=bool(q) and not faq.index_ready(),
    )


def _entry_or_404(entry_id: int) -> FaqEntry:
    """An entry of the user's units (404 otherwise, so ids do not leak)."""
    entry = db.session.get(FaqEntry, entry_id)
    if entry is None or not faq.entry_in_units(entry, scope_unit_ids(current_user)):
        abort(404)
    return entry


@bp.route("/kb")
@require("faq.view")
def kb_index() -> Any:
    """Staff search over approved (internal and public) entries."""
    q = (request.args.get("q") or "").strip()[:MAX_QUERY]
    entries = faq.search(q, 20) if q else []
    warming = bool(q) and not faq.index_ready()
    return render_template("faq/index.html", q=q, entries=entries, warming=warming)


@bp.route("/kb/queue")
@require("faq.approve")
def queue() -> Any:
    """Pending suggestions of the user's units, to approve (optionally edited) or reject."""
    entries = faq.pending(scope_unit_ids(current_user))
    return render_template(
        "faq/queue.html",
        entries=entries,
        visibilities={k: v for k, v in FAQ_VISIBILITIES.items() if k != "draft"},
    )


def _date_field(name: str) -> date | None:
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed("日期格式应为 YYYY-MM-DD") from exc


@bp.route("/kb/<int:entry_id>/decide", methods=["POST"])
@require("faq.approve")
def decide(entry_id: int) -> Response:
    entry = _entry_or_404(entry_id)
    actor = current_actor()
    if request.form.get("decision") == "reject":
        submit(lambda: faq.reject(actor, entry, request.form.get("note", "")), "已驳回该建议")
    else:

        def run() -> FaqEntry:
            return faq.approve(
                actor,
                entry,
                question=request.form.get("question"),
                answer=request.form.get("answer"),
                visibility=request.form.get("visibility", ""),
                topic=request.form.get("topic"),
                review_by=_date_field("review_by"),
            )

        submit(run, lambda e: f"已通过，问答 #{e.id} 已生效（{e.visibility_label}）")
    return redirect(same_site_path(request.form.get("next")) or url_for("faq.queue"))


@bp.route("/kb/review")
@require("faq.approve")
def review_list() -> Any:
    """Approved entries past their review-by date, for their unit to re-confirm."""
    return render_template(
        "faq/review.html", entries=faq.due_for_review(scope_unit_ids(current_user))
    )


@bp.route("/kb/<int:entry_id>/reconfirm", methods=["POST"])
@require("faq.approve")
def reconfirm(entry_id: int) -> Response:
    entry = _entry_or_404(entry_id)
    submit(lambda: faq.reconfirm(current_actor(), entry), "已复核，复核期限已顺延")
    return redirect(url_for("faq.review_list"))


@bp.route("/kb/<int:entry_id>/retire", methods=["POST"])
@require("faq.approve")
def retire(entry_id: int) -> Response:
    entry = _entry_or_404(entry_id)
    submit(lambda: faq.retire(current_actor(), entry), "已停用该问答")
    return redirect(same_site_path(request.form.get("next")) or url_for("faq.review_list"))


def _unit_choices() -> list[Unit]:
    """Units an editor may put an entry under: the user's units and those below."""
    scope = scope_unit_ids(current_user)
    stmt = select(Unit).where(Unit.is_active.is_(True)).order_by(Unit.path, Unit.name)
    if scope is not None:
        stmt = stmt.where(Unit.id.in_(scope or {-1}))
    return list(db.session.scalars(stmt))


def _edit_page(entry: FaqEntry, form: dict[str, Any], status: int = 200) -> Any:
    versions = list(reversed(entry.versions))[:10]
    return (
        render_template(
            "faq/edit.html",
            entry=entry,
            form=form,
            units=_unit_choices(),
            versions=versions,
            change_labels=FAQ_CHANGES,
            visibilities={k: v for k, v in FAQ_VISIBILITIES.items() if k != "draft"},
        ),
        status,
    )


@bp.route("/kb/<int:entry_id>/edit")
@require("faq.approve")
def edit_form(entry_id: int) -> Any:
    """Edit an approved entry of the user's units: text, topic, unit, public, validity."""
    entry = _entry_or_404(entry_id)
    if entry.status != "approved":
        abort(404)
    form = {
        "question": entry.question,
        "answer": entry.answer,
        "topic": entry.topic or "",
        "unit_id": str(entry.unit_id or ""),
        "visibility": entry.visibility,
        "review_by": entry.review_by.isoformat() if entry.review_by else "",
    }
    return _edit_page(entry, form)


@bp.route("/kb/<int:entry_id>/edit", methods=["POST"])
@require("faq.approve")
def update(entry_id: int) -> Any:
    """Save an edit (a new version, audited; the search index picks it up at once)."""
    entry = _entry_or_404(entry_id)
    form = {k: (request.form.get(k) or "") for k in _EDIT_FIELDS}
    form["visibility"] = "public" if request.form.get("public") else "internal"

    def run() -> list[str]:
        unit = form["unit_id"].strip()
        if unit and not unit.isdigit():
            raise ValidationFailed("所选单位不存在")
        return faq.edit(
            current_actor(),
            entry,
            question=form["question"],
            answer=form["answer"],
            topic=form["topic"],
            unit_id=int(unit) if unit else None,
            visibility=form["visibility"],
            review_by=_date_field("review_by"),
            allowed_units=scope_unit_ids(current_user),
        )

    done = submit(
        run,
        lambda changed: (
            f"已保存：问答 #{entry.id} 第 {entry.version} 版" if changed else "内容没有变化，未保存"
        ),
    )
    if done is None:
        db.session.refresh(entry)
        return _edit_page(entry, form, 422)
    return redirect(url_for("faq.edit_form", entry_id=entry.id))


_EDIT_FIELDS = ("question", "answer", "topic", "unit_id", "review_by")


@bp.route("/kb/export")
@require("faq.approve")
def export() -> Response:
    fmt = "xlsx" if request.args.get("format") == "xlsx" else "csv"
    data = faq.export_bytes(faq.export_rows(scope_unit_ids(current_user)), fmt)
    mimetype = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if fmt == "xlsx"
        else "text/csv; charset=utf-8"
    )
    return Response(
        data,
        mimetype=mimetype,
        headers={"Content-Disposition": f"attachment; filename=faq.{fmt}"},
    )


@bp.route("/kb/import", methods=["POST"])
@upload_limit("IMPORT_MAX_BYTES")
@require("faq.approve")
def import_upload() -> Response:
    from classifiers.tabular import TableError

    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要导入的 CSV 或 XLSX 文件", "danger")
        return redirect(url_for("faq.kb_index"))
    data = upload.read()
    name = os.path.basename(upload.filename)

    def run() -> faq.ImportResult:
        try:
            return faq.import_table(current_actor(), data, name)
        except TableError as exc:
            raise ValidationFailed(exc.message) from exc

    done = submit(
        run,
        lambda r: (
            f"导入完成：新增 {r.created} 条，更新 {r.updated} 条，"
            f"未变 {r.unchanged} 条，跳过 {len(r.errors)} 行"
        ),
    )
    if done is not None:
        for error in done.value.errors[:10]:
            flash(error, "warning")
    return redirect(url_for("faq.kb_index"))


@bp.route("/cases/<int:case_id>/faq/<int:entry_id>/use", methods=["POST"])
@require("case.draft")
def use_answer(case_id: int, entry_id: int) -> Response:
    """Put an approved entry's answer into the case's draft (counted as a use)."""
    entry = db.session.get(FaqEntry, entry_id)
    if entry is None or entry.status != "approved":
        abort(404)
    return act_on_case(
        case_id,
        "case.draft",
        lambda c: faq.use_answer(current_actor(), entry, c),
        "已将问答库答案放入答复草稿，请核对修改后提交",
    )


def _case_suggestions(case: Case) -> list[FaqEntry]:
    """Best matching approved entries for the case page (staff only)."""
    if not can(current_user, "faq.view"):
        return []
    try:
        return faq.suggestions_for_case(case)
    except SentinelError:
        return []


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(_case_suggestions, "faq_suggestions")
