"""Reply pages (issue 13): the draft with its lint findings, review steps, publishing,
the "待我审核" queue, and the reply templates' administration."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from classifiers.data import REQUEST_TYPES
from sentinel.auth.permissions import can, current_actor, get_case_or_404, require
from sentinel.errors import ValidationFailed
from sentinel.extensions import db
from sentinel.models import Reply, ReplyTemplate
from sentinel.models.case import CASE_STATUSES
from sentinel.models.review import REPLY_KINDS
from sentinel.services import reply_checks, reply_similar, reply_templates, review
from sentinel.web.forms import submit

bp = Blueprint("replies", __name__)


def _reply_or_404(reply_id: int, capability: str = "case.view") -> Reply:
    """The reply, when its case is in the user's scope (404 otherwise, 403 without the
    capability): the one scope rule of ``get_case_or_404``."""
    reply = db.session.get(Reply, reply_id)
    if reply is None:
        abort(404)
    get_case_or_404(reply.case_id, capability)
    return reply


def _back(reply: Reply) -> Any:
    return redirect(url_for("replies.show", reply_id=reply.id))


@bp.route("/replies/<int:reply_id>")
@require("case.view")
def show(reply_id: int) -> Any:
    reply = _reply_or_404(reply_id)
    found = reply_checks.findings(reply.body) if reply.status != "final" else []
    user = current_user
    corrections = [r for r in reply.case.replies if r.corrects_id == reply.id]
    return render_template(
        "replies/show.html",
        reply=reply,
        case=reply.case,
        found=found,
        pieces=reply_checks.spans(reply.body, found),
        kind_labels=reply_checks.KIND_LABELS,
        steps=review.steps(reply),
        approvals=review.approvals(reply),
        versions=review.versions(reply),
        required=review.required_levels(reply.tier or "A"),
        leader_final=review.leader_signs_off(reply.tier or "A"),
        may_edit=reply.status != "final" and review.may_draft(user, reply),
        may_submit=reply.status == "draft"
        and review.may_draft(user, reply)
        and (can(user, "case.answer") or reply.kind == "notice"),
        review_refusal=review.review_refusal(user, reply) if can(user, "reply.review") else None,
        may_review=can(user, "reply.review") and review.review_refusal(user, reply) is None,
        may_tier=can(user, "reply.review") and reply.status != "final",
        publish_refusal=review.publish_refusal(reply),
        may_publish=can(user, "reply.publish") and reply.status == "approved",
        similar=(
            reply_similar.similar_published(user, reply.body, exclude_case_id=reply.case_id)
            if reply.status != "final"
            else []
        ),
        corrections=corrections,
        level_label=review.level_label,
        tiers=review.TIER_NAMES,
    )


@bp.route("/replies/<int:reply_id>/text", methods=["POST"])
@require("case.draft")
def save(reply_id: int) -> Any:
    reply = _reply_or_404(reply_id, "case.draft")
    done = submit(
        lambda: review.save_text(current_actor(), reply, request.form.get("body", "")),
        lambda changed: (
            "已保存新版本" + ("；已退回初审，需重新审核" if reply.review_round and changed else "")
            if changed
            else "内容未改变"
        ),
    )
    if done and request.form.get("then") == "submit" and reply.status == "draft":
        submit(lambda: review.submit(current_actor(), reply), "已提交审核")
    return _back(reply)


@bp.route("/replies/<int:reply_id>/fix", methods=["POST"])
@require("case.draft")
def fix(reply_id: int) -> Any:
    """One click: mask a finding (or take the word list's suggestion) at its exact span."""
    reply = _reply_or_404(reply_id, "case.draft")
    start = request.form.get("start", type=int)
    end = request.form.get("end", type=int)

    def run() -> bool:
        if start is None or end is None:
            raise ValidationFailed("请选择要处理的问题")
        if request.form.get("action") == "suggest":
            return review.apply_suggestion(current_actor(), reply, start, end)
        return review.apply_mask(current_actor(), reply, start, end)

    submit(run, "已处理该问题并保存新版本")
    return _back(reply)


@bp.route("/replies/<int:reply_id>/submit", methods=["POST"])
@require("case.answer")
def submit_for_review(reply_id: int) -> Any:
    reply = _reply_or_404(reply_id, "case.answer")
    submit(lambda: review.submit(current_actor(), reply), "已提交审核，等待初审")
    return _back(reply)


@bp.route("/replies/<int:reply_id>/approve", methods=["POST"])
@require("reply.review")
def approve(reply_id: int) -> Any:
    reply = _reply_or_404(reply_id, "reply.review")

    def message(step: Any) -> str:
        if reply.status == "approved":
            return f"{review.level_label(step.level, step.tier)}通过，答复待发布"
        return f"{review.level_label(step.level, step.tier)}通过，等待下一级审核"

    submit(lambda: review.approve(current_actor(), reply, request.form.get("opinion", "")), message)
    return _back(reply)


@bp.route("/replies/<int:reply_id>/reject", methods=["POST"])
@require("reply.review")
def reject(reply_id: int) -> Any:
    reply = _reply_or_404(reply_id, "reply.review")
    submit(
        lambda: review.reject(current_actor(), reply, request.form.get("reasons", "")),
        "已退回起草人修改",
    )
    return _back(reply)


@bp.route("/replies/<int:reply_id>/tier", methods=["POST"])
@require("reply.review")
def tier(reply_id: int) -> Any:
    reply = _reply_or_404(reply_id, "reply.review")
    submit(
        lambda: review.set_tier(
            current_actor(), reply, request.form.get("tier", ""), request.form.get("reason", "")
        ),
        lambda _: f"风险等级已调整为 {reply.tier}",
    )
    return _back(reply)


def _local_time(raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        local = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed("发布时间格式不正确") from exc
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))
    return local


@bp.route("/replies/<int:reply_id>/publish", methods=["POST"])
@require("reply.publish")
def publish(reply_id: int) -> Any:
    reply = _reply_or_404(reply_id, "reply.publish")
    submit(
        lambda: review.publish(
            current_actor(),
            reply,
            request.form.get("link", ""),
            _local_time(request.form.get("published_at", "")),
        ),
        f"已登记人工发布，{reply.kind_label}文本已锁定",
    )
    return _back(reply)


@bp.route("/replies/<int:reply_id>/correct", methods=["POST"])
@require("case.draft")
def correct(reply_id: int) -> Any:
    reply = _reply_or_404(reply_id, "case.draft")
    done = submit(lambda: review.start_correction(current_actor(), reply), "已起草更正答复")
    return redirect(url_for("replies.show", reply_id=done.value.id)) if done else _back(reply)


@bp.route("/cases/<int:case_id>/replies", methods=["POST"])
@require("case.draft")
def new(case_id: int) -> Any:
    """Start a reply from a template (filled from the case), or blank text."""
    case = get_case_or_404(case_id, "case.draft")
    kind = request.form.get("kind", "answer")

    def run() -> Reply:
        template_id = request.form.get("template_id", type=int)
        if kind == "answer":
            existing = review.current_draft(case, "answer")
            if existing is not None:
                raise ValidationFailed("已有一份答复在起草或审核中，请在其上修改")
        body = request.form.get("body", "")
        if template_id:
            template = reply_templates.get_template(template_id)
            if template.kind != kind:
                raise ValidationFailed("模板类型与答复类型不符")
            body = reply_templates.render(template, case)
        if kind == "answer":
            from sentinel.services import triage

            return triage.save_draft(current_actor(), case, body)
        return review.create_draft(current_actor(), case, kind, body, note="template")

    done = submit(run, "已生成草稿，请补全内容后提交审核")
    if done:
        return redirect(url_for("replies.show", reply_id=done.value.id))
    return redirect(url_for("cases.show", case_id=case.id))


@bp.route("/reviews")
@require("reply.review")
def queue() -> Any:
    """待我审核: what this reviewer may approve now, with age and the case's deadline."""
    return render_template("replies/queue.html", rows=review.queue_for(current_user))


# --------------------------------------------------------------------------- templates


@bp.route("/admin/reply-templates", methods=["GET", "POST"])
@require("admin.manage")
def templates_page() -> Any:
    if request.method == "POST":
        done = _save_template(None)
        if done:
            return redirect(url_for("replies.templates_page"))
    rows = db.session.scalars(
        db.select(ReplyTemplate).order_by(ReplyTemplate.kind, ReplyTemplate.id)
    ).all()
    return render_template("replies/templates.html", templates=rows, **_template_form_context())


@bp.route("/admin/reply-templates/<int:template_id>", methods=["GET", "POST"])
@require("admin.manage")
def template_edit(template_id: int) -> Any:
    template = db.session.get(ReplyTemplate, template_id)
    if template is None:
        abort(404)
    if request.method == "POST" and _save_template(template):
        return redirect(url_for("replies.templates_page"))
    return render_template(
        "replies/template_edit.html", template=template, **_template_form_context()
    )


def _save_template(template: ReplyTemplate | None) -> Any:
    form = request.form
    return submit(
        lambda: reply_templates.save_template(
            current_actor(),
            template,
            kind=form.get("kind", ""),
            name=form.get("name", ""),
            body=form.get("body", ""),
            topic=form.get("topic", ""),
            request_type=form.get("request_type", ""),
            case_state=form.get("case_state", ""),
            active=form.get("active") == "1",
        ),
        "模板已保存",
    )


def _template_form_context() -> dict[str, Any]:
    from sentinel.services.taxonomy import topic_choices

    return {
        "kinds": REPLY_KINDS,
        "placeholders": reply_templates.PLACEHOLDERS,
        "request_types": REQUEST_TYPES,
        "case_states": CASE_STATUSES,
        "topics": topic_choices(),
    }


def case_reply_context(case: Any) -> dict[str, Any]:
    """What the case page shows about replies (used by ``cases.show``)."""
    return {
        "reply_templates": {kind: reply_templates.candidates(case, kind) for kind in REPLY_KINDS},
        "reply_kinds": REPLY_KINDS,
        "open_replies": [r for r in case.replies if r.status != "final"],
        "published_replies": [r for r in case.replies if r.status == "final"],
    }
