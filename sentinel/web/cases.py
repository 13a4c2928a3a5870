"""The case page and the single-case transitions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from classifiers.data import REQUEST_TYPES
from sentinel.auth.permissions import (
    can,
    case_in_scope,
    current_actor,
    get_case_or_404,
    is_lead_unit,
    own_assists,
    require,
    units_in_scope,
)
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, Item, Unit
from sentinel.services import duplicates, triage
from sentinel.timefmt import format_local
from sentinel.web.forms import act_on_case, submit
from sentinel.web.links import same_site_path

bp = Blueprint("cases", __name__, url_prefix="/cases")

ACTION_LABELS = {
    "case.claim": "认领",
    "case.unclaim": "取消认领",
    "case.dispatch": "分派",
    "case.acknowledge": "签收",
    "case.save_draft": "保存答复草稿",
    "case.answer": "答复",
    "case.close": "办结",
    "case.noise": "作无效处理",
    "case.merge": "合并到其他工单",
    "case.merged_in": "并入其他工单",
    "case.reopen": "重新打开",
    "case.correct": "更正分类",
    "case.auto_attach": "自动合并相同留言",
    "case.possible_duplicate": "标记为可能重复",
    "case.unmerge": "拆分留言",
    "case.unmerged_from": "由拆分生成",
    "case.priority": "调整紧急程度",
    "case.assist_acknowledged": "协办签收",
    "reply.drafted": "起草答复",
    "reply.edited": "修改答复",
    "reply.submitted": "答复提交审核",
    "reply.approved": "答复审核通过",
    "reply.rejected": "答复被退回修改",
    "reply.tier_raised": "提高答复风险等级",
    "reply.tier_lowered": "降低答复风险等级",
    "reply.published": "登记答复已发布",
    "case.rumour_marked": "标记为疑似谣言",
}


@bp.route("/<int:case_id>")
@require("case.view")
def show(case_id: int) -> Any:
    case = get_case_or_404(case_id)
    history = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "case", AuditEvent.object_id == case.id)
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    units = units_in_scope(current_user) if can(current_user, "case.dispatch") else []
    from sentinel.services import review, rumours
    from sentinel.web.replies import case_reply_context

    draft = review.current_draft(case, "answer")
    from sentinel.services.corrections import original_item
    from sentinel.services.taxonomy import topic_choices

    first = original_item(case)
    suggestions = _suggestions(case)
    return render_template(
        "cases/show.html",
        case=case,
        history=history,
        action_labels=ACTION_LABELS,
        allowed=set(triage.allowed_transitions(case)),
        # What this user may do here, by role *and* relation: an assisting unit's handler
        # gets its 协办 task, not the lead unit's 签收/答复.
        user_actions={
            name for name in triage.TRANSITIONS if triage.may_perform(current_user, case, name)
        },
        is_lead=is_lead_unit(current_user, case),
        my_assists=own_assists(current_user, case),
        priorities=triage.PRIORITIES,
        units=units,
        draft=draft,
        rumour=rumours.rumour_of_case(case),
        **case_reply_context(case),
        back=same_site_path(request.args.get("back")) or same_site_path(request.referrer),
        first=first,
        explanation=(first.explanation if first and first.explanation else {}),
        suggestions=suggestions,
        attached=duplicates.attached_items(case),
        attach_kinds=duplicates.ATTACH_KINDS,
        topics=topic_choices(),
        request_types=REQUEST_TYPES,
    )


def _suggestions(case: Case) -> list[dict[str, Any]]:
    """Possible duplicates for a person to merge: the case's link (issue 10), then the
    near-duplicate suggestions on its items; only cases the user may see."""
    wanted: dict[int, tuple[float | None, str | None]] = {}
    if case.duplicate_of_id:
        wanted[case.duplicate_of_id] = (case.duplicate_similarity, case.duplicate_reason)
    for i in case.items:
        if i.suggested_case_id and i.suggested_case_id != case.id:
            wanted.setdefault(i.suggested_case_id, (i.suggested_similarity, "similarity"))
    out = []
    for target_id, (similarity, reason) in wanted.items():
        target = db.session.get(Case, target_id)
        if target is None or not case_in_scope(current_user, target):
            continue
        out.append(
            {
                "case": target,
                "similarity": similarity,
                "reason": duplicates.REFUSALS.get(reason or "", ""),
            }
        )
    return out


@bp.route("/<int:case_id>/claim", methods=["POST"])
@require("case.claim")
def claim(case_id: int) -> Any:
    return act_on_case(
        case_id, "case.claim", lambda c: triage.claim(current_actor(), c), "已认领工单 #{id}"
    )


@bp.route("/<int:case_id>/unclaim", methods=["POST"])
@require("case.claim")
def unclaim(case_id: int) -> Any:
    return act_on_case(
        case_id, "case.claim", lambda c: triage.unclaim(current_actor(), c), "已取消认领 #{id}"
    )


@bp.route("/<int:case_id>/dispatch", methods=["POST"])
@require("case.dispatch")
def dispatch(case_id: int) -> Any:
    unit = db.session.get(Unit, request.form.get("unit_id", type=int) or 0)

    def run(case: Case) -> None:
        if unit is None:
            raise SentinelError("请选择要分派的单位")
        triage.dispatch(current_actor(), case, unit, request.form.get("note", ""))

    return act_on_case(case_id, "case.dispatch", run, "工单 #{id} 已分派")


@bp.route("/<int:case_id>/noise", methods=["POST"])
@require("case.noise")
def noise(case_id: int) -> Any:
    return act_on_case(
        case_id,
        "case.noise",
        lambda c: triage.mark_noise(
            current_actor(), c, request.form.get("reason", ""), request.form.get("note", "")
        ),
        "工单 #{id} 已作无效处理",
    )


@bp.route("/<int:case_id>/merge", methods=["POST"])
@require("case.merge")
def merge(case_id: int) -> Any:
    raw = request.form.get("into_id", "").strip().lstrip("#")

    def run(case: Case) -> None:
        if not raw.isdigit():
            raise SentinelError("请输入要合并到的工单编号")
        target = db.session.get(Case, int(raw))
        if target is None:
            raise SentinelError(f"工单 #{raw} 不存在")
        triage.merge(current_actor(), case, target)

    return act_on_case(case_id, "case.merge", run, "工单 #{id} 已合并")


@bp.route("/<int:case_id>/close", methods=["POST"])
@require("case.close")
def close(case_id: int) -> Any:
    return act_on_case(
        case_id, "case.close", lambda c: triage.close(current_actor(), c), "工单 #{id} 已办结"
    )


@bp.route("/<int:case_id>/reopen", methods=["POST"])
@require("case.reopen")
def reopen(case_id: int) -> Any:
    return act_on_case(
        case_id, "case.reopen", lambda c: triage.reopen(current_actor(), c), "工单 #{id} 已重新打开"
    )


@bp.route("/<int:case_id>/acknowledge", methods=["POST"])
@require("case.acknowledge")
def acknowledge(case_id: int) -> Any:
    return act_on_case(
        case_id,
        "case.acknowledge",
        lambda c: triage.acknowledge(current_actor(), c),
        "已签收工单 #{id}，请在时限内答复",
    )


@bp.route("/<int:case_id>/reply", methods=["POST"])
@require("case.draft")
def reply(case_id: int) -> Any:
    body = request.form.get("body", "")
    if request.form.get("submit") == "answer":
        if not can(current_user, "case.answer"):
            return act_on_case(case_id, "case.answer", lambda c: None, "")
        # 先审后发: the answer goes to review; the case is answered once it is published.
        # The text is saved first, so a submission the lint blocks keeps the draft and
        # the drafter lands on its findings.
        case = get_case_or_404(case_id, "case.answer")

        def save() -> Any:
            triage.check_transition(current_actor(), case, "answer")  # lead unit, state
            return triage.save_draft(current_actor(), case, body)

        saved = submit(save, None)
        if not saved:
            return redirect(url_for("cases.show", case_id=case.id))
        sent = submit(
            lambda: triage.submit_answer(current_actor(), case),
            f"工单 #{case.id} 的答复已提交审核，审核通过并发布后才算已答复",
        )
        if not sent:
            return redirect(url_for("replies.show", reply_id=saved.value.id))
        return redirect(url_for("cases.show", case_id=case.id))
    return act_on_case(
        case_id,
        "case.draft",
        lambda c: triage.save_draft(current_actor(), c, body),
        "答复草稿已保存",
    )


@bp.route("/<int:case_id>/correct", methods=["POST"])
@require("case.correct")
def correct(case_id: int) -> Any:
    from sentinel.services import corrections

    field = request.form.get("field", "")
    value = request.form.get("value", "")

    def run(case: Case) -> str:
        due_before = case.due_at
        if corrections.correct(current_actor(), case, field, value) is None:
            raise SentinelError("分类未改变")
        if field == "request_type" and case.due_at is not None and case.due_at != due_before:
            return (
                f"已更正工单 #{case.id} 的诉求类型为“{case.request_type}”，"
                f"办理时限按规则重算为 {format_local(case.due_at)}，更正将用于改进模型"
            )
        return f"已更正工单 #{case.id} 的分类，更正将用于改进模型"

    return act_on_case(case_id, "case.correct", run, lambda message: message)


@bp.route("/<int:case_id>/priority", methods=["POST"])
@require("case.priority")
def priority(case_id: int) -> Any:
    raw = request.form.get("priority", "")

    def run(case: Case) -> str:
        if not raw.isdigit():
            raise SentinelError("请选择紧急程度")
        moved = triage.set_priority(current_actor(), case, int(raw), request.form.get("reason", ""))
        label = triage.PRIORITIES[case.priority]
        if moved and case.due_at is not None:
            return (
                f"工单 #{case.id} 已设为“{label}”，办理时限按规则重算为 {format_local(case.due_at)}"
            )
        return f"工单 #{case.id} 已设为“{label}”"

    return act_on_case(case_id, "case.priority", run, lambda message: message)


@bp.route("/<int:case_id>/items/<int:item_id>/unmerge", methods=["POST"])
@require("case.merge")
def unmerge(case_id: int, item_id: int) -> Any:
    """拆分: a duty officer moves one attached item out into a new case of its own."""
    case = get_case_or_404(case_id, "case.merge")
    item = db.session.get(Item, item_id)
    if item is None or item.case_id != case.id:
        abort(404)
    submit(
        lambda: duplicates.unmerge(current_actor(), case, item),
        lambda new: f"已将留言拆分为新工单 #{new.id}，今后不会再自动合并到工单 #{case_id}",
    )
    return redirect(url_for("cases.show", case_id=case_id))
