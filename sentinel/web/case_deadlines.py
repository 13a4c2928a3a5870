"""Deadline actions on one case: 延期/暂停 requests and decisions, 退单, 仲裁指派, 协办.

Every route names its capability in the decorator; the service then checks the
relation to the case (lead unit, that assisting unit, the approver role).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user

from sentinel.auth.permissions import can, current_actor, require
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.models import Assignment, Case, DeadlineChange, Reply, Unit
from sentinel.models.deadline import CHANGE_KINDS
from sentinel.services import deadline_changes, returns
from sentinel.web.forms import act_on_case

bp = Blueprint("case_deadlines", __name__)


def _unit(field: str) -> Unit:
    unit = db.session.get(Unit, request.form.get(field, type=int) or 0)
    if unit is None:
        raise SentinelError("请选择单位")
    return unit


@bp.route("/cases/<int:case_id>/deadline-change", methods=["POST"])
@require("case.answer")
def request_change(case_id: int) -> Any:
    kind = request.form.get("kind", "")
    return act_on_case(
        case_id,
        "case.answer",
        lambda case: deadline_changes.request_change(
            current_actor(),
            case,
            kind,
            request.form.get("days", type=int) or 0,
            request.form.get("reason", ""),
        ),
        f"{CHANGE_KINDS.get(kind, '')}申请已提交，等待审批",
    )


@bp.route("/deadline-changes/<int:change_id>/decide", methods=["POST"])
@require("deadline.decide")
def decide_change(change_id: int) -> Any:
    change = db.session.get(DeadlineChange, change_id)
    if change is None:
        abort(404)
    approve = request.form.get("decision") == "approve"
    label = change.kind_label
    return act_on_case(
        change.case_id,
        "deadline.decide",
        lambda case: deadline_changes.decide_change(
            current_actor(),
            change,
            approve,
            request.form.get("note", ""),
            request.form.get("notice"),
        ),
        # Nothing reaches the asker here: the notice is a draft until it is reviewed.
        f"已批准{label}；给留言人的{label}告知已生成草稿，待审核发布"
        if approve
        else f"已驳回{label}申请",
    )


@bp.route("/cases/<int:case_id>/notices/<int:reply_id>", methods=["POST"])
@require("notice.edit")
def edit_notice(case_id: int, reply_id: int) -> Any:
    """Reword the public 延期/暂停 notice while it is a draft (the service checks who)."""
    reply = db.session.get(Reply, reply_id)
    if reply is None or reply.case_id != case_id:
        abort(404)
    return act_on_case(
        case_id,
        "notice.edit",
        lambda case: deadline_changes.edit_notice(
            current_actor(), reply, request.form.get("body", "")
        ),
        "告知留言人的草稿已保存，待审核发布",
    )


@bp.route("/deadline-changes")
@require("deadline.decide")
def pending_changes() -> Any:
    """延期/暂停 requests waiting for this user's decision, with the decision forms."""
    return render_template(
        "deadlines/changes.html", changes=deadline_changes.pending_for(current_actor())
    )


@bp.route("/cases/<int:case_id>/return", methods=["POST"])
@require("case.acknowledge")
def return_case(case_id: int) -> Any:
    suggested = db.session.get(Unit, request.form.get("suggested_unit_id", type=int) or 0)
    return act_on_case(
        case_id,
        "case.acknowledge",
        lambda case: returns.return_case(
            current_actor(),
            case,
            request.form.get("reason", ""),
            request.form.get("note", ""),
            suggested,
        ),
        "工单 #{id} 已退回分派单位",
        # The unit no longer holds the case, so the case page would be out of its scope.
        url_for("inbox.index") if can(current_user, "inbox.view") else None,
    )


@bp.route("/cases/<int:case_id>/arbitrate", methods=["POST"])
@require("case.dispatch")
def arbitrate(case_id: int) -> Any:
    return act_on_case(
        case_id,
        "case.dispatch",
        lambda case: returns.arbitrate(
            current_actor(), case, _unit("unit_id"), request.form.get("note", "")
        ),
        "工单 #{id} 已仲裁指派",
    )


@bp.route("/cases/<int:case_id>/assist", methods=["POST"])
@require("case.dispatch")
def add_assist(case_id: int) -> Any:
    return act_on_case(
        case_id,
        "case.dispatch",
        lambda case: returns.add_assist(
            current_actor(),
            case,
            _unit("unit_id"),
            request.form.get("days", type=int) or 0,
            request.form.get("note", ""),
        ),
        "已指定协办单位",
    )


def _assist_action(case_id: int, assignment_id: int, action: Any, done: str) -> Any:
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.case_id != case_id:
        abort(404)

    def run(case: Case) -> None:
        action(current_actor(), case, assignment)

    return act_on_case(case_id, "case.assist", run, done)


@bp.route("/cases/<int:case_id>/assist/<int:assignment_id>/acknowledge", methods=["POST"])
@require("case.assist")
def acknowledge_assist(case_id: int, assignment_id: int) -> Any:
    return _assist_action(
        case_id, assignment_id, returns.acknowledge_assist, "已签收协办任务，请在协办时限内完成"
    )


@bp.route("/cases/<int:case_id>/assist/<int:assignment_id>/done", methods=["POST"])
@require("case.assist")
def finish_assist(case_id: int, assignment_id: int) -> Any:
    return _assist_action(case_id, assignment_id, returns.finish_assist, "协办任务已完成")
