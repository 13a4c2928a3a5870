"""Deadline pages: the rules table (admin), and the deadline panel of the case page."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from classifiers.data import REQUEST_TYPES
from sentinel.auth.permissions import (
    can,
    current_actor,
    get_case_or_404,
    require,
    scope_unit_ids,
    unit_in_scope,
)
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.models import (
    Assignment,
    AuditEvent,
    Case,
    CaseReturn,
    DeadlineChange,
    DeadlineRule,
    Reminder,
    Reply,
    Source,
    Unit,
)
from sentinel.models.deadline import (
    AMOUNT_UNITS,
    CHANGE_KINDS,
    CLOCKS,
    REMINDER_KINDS,
    RETURN_REASONS,
    START_EVENTS,
)
from sentinel.models.user import ROLES
from sentinel.services import deadline_changes, notice_docx, reminder_ladder, returns, sla, watchdog
from sentinel.timefmt import format_local
from sentinel.web.forms import submit

bp = Blueprint("sla_admin", __name__)

DEADLINE_ACTION_LABELS = {
    "case.deadline_set": "设定时限",
    "case.deadline_stopped": "时限停止计时",
    "case.deadline_recomputed": "时限重新计算",
    "case.deadline_change_requested": "申请延期/暂停",
    "case.deadline_change_decided": "审批延期/暂停",
    "case.deadline_change_cancelled": "撤销延期/暂停申请",
    "case.notice_edited": "修改告知留言人草稿",
    "case.return": "退单",
    "case.arbitrate": "仲裁指派",
    "case.assist_added": "指定协办单位",
    "case.assist_done": "协办完成",
    "case.reminder": "催办",
}


@bp.route("/admin/deadlines", methods=["GET", "POST"])
@require("admin.manage")
def rules() -> Any:
    if request.method == "POST":
        rule_id = request.form.get("rule_id", type=int)
        rule = db.session.get(DeadlineRule, rule_id) if rule_id else None

        def save() -> DeadlineRule:
            if rule_id and rule is None:
                raise SentinelError("规则不存在")
            return sla.save_rule(
                current_actor(),
                rule,
                clock=request.form.get("clock", ""),
                request_type=request.form.get("request_type") or None,
                source_id=request.form.get("source_id", type=int),
                unit_id=request.form.get("unit_id", type=int),
                urgent=request.form.get("urgent") == "1",
                start_event=request.form.get("start_event", ""),
                amount=request.form.get("amount", type=int),
                amount_unit=request.form.get("amount_unit", ""),
                approver_role=request.form.get("approver_role", ""),
                active=request.form.get("active", "1") == "1",
            )

        submit(save, "时限规则已保存（已分派的工单保持原时限）")
        return redirect(url_for("sla_admin.rules"))
    return render_template(
        "deadlines/rules.html",
        rules=db.session.scalars(
            select(DeadlineRule).order_by(DeadlineRule.clock, DeadlineRule.request_type)
        ).all(),
        sources=db.session.scalars(select(Source).order_by(Source.id)).all(),
        units=db.session.scalars(select(Unit).order_by(Unit.path)).all(),
        clocks=CLOCKS,
        start_events=START_EVENTS,
        amount_units=AMOUNT_UNITS,
        roles=ROLES,
        request_types=REQUEST_TYPES,
    )


def _describe_event(event: AuditEvent) -> dict[str, Any]:
    """A clock audit event as the case page shows it (times in Asia/Shanghai)."""
    data = event.data or {}
    parts = []
    if data.get("due_at"):
        parts.append("截止 " + format_local(datetime.fromisoformat(data["due_at"])))
    if data.get("kind"):
        parts.append(REMINDER_KINDS.get(data["kind"], ""))
    if data.get("state"):
        parts.append({"met": "按期", "late": "超期"}.get(data["state"], ""))
    if data.get("provisional"):
        parts.append("临时")
    who = (
        event.actor.label
        if event.actor
        else {"system:sweep": "时限巡检", "cli": "命令行"}.get(event.actor_label, "系统")
    )
    return {
        "label": DEADLINE_ACTION_LABELS.get(event.action, event.action),
        "detail": "，".join(p for p in parts if p),
        "at": event.at,
        "who": who,
    }


def panel(case: Case) -> dict[str, Any]:
    """What the case page's deadline panel shows (rules used, requests, returns, reminders)."""
    spec = case.clock_spec or {}
    described = {}
    for clock, data in spec.items():
        rule = sla.ClockRule(clock, data["amount"], data["unit"], data["start"], data["approver"])
        described[clock] = rule.describe
    changes = db.session.scalars(
        select(DeadlineChange).where(DeadlineChange.case_id == case.id).order_by(DeadlineChange.id)
    ).all()
    case_returns = db.session.scalars(
        select(CaseReturn).where(CaseReturn.case_id == case.id).order_by(CaseReturn.id)
    ).all()
    reminders = db.session.scalars(
        select(Reminder).where(Reminder.case_id == case.id).order_by(Reminder.id)
    ).all()
    notices = [r for r in case.replies if r.kind == "notice"]
    clock_events = [
        _describe_event(e)
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == sla.DEADLINE_OBJECT, AuditEvent.object_id == case.id)
            .order_by(AuditEvent.id)
        )
    ]
    pending = next((c for c in changes if c.status == "pending"), None)
    user = current_user
    may_decide = pending is not None and getattr(user, "role", None) in (
        pending.approver_role,
        "admin",
    )
    return {
        "rules": described,
        "clock_events": clock_events,
        "changes": changes,
        "pending": pending,
        "may_decide": may_decide,
        "may_request": pending is None
        and case.status == "acknowledged"
        and case.due_at is not None
        and can(user, "case.answer")
        and unit_in_scope(user, case.unit_id or -1),
        "returns": case_returns,
        "may_return": case.status in ("dispatched", "acknowledged")
        and can(user, "case.acknowledge")
        and unit_in_scope(user, case.unit_id or -1)
        and not returns.is_arbitrated(case),
        "may_arbitrate": case.status in ("new", "claimed")
        and case.return_count > 0
        and can(user, "case.dispatch"),
        "may_assist": case.status in ("dispatched", "acknowledged") and can(user, "case.dispatch"),
        "assists": [a for a in case.assignments if a.role == "assist"],
        "reminders": reminders,
        "notices": notices,
        "may_edit_notice": case.status not in ("noise", "merged")
        and (
            can(user, "case.dispatch")
            or (can(user, "case.draft") and unit_in_scope(user, case.unit_id or -1))
        ),
        "draft_notice": deadline_changes.draft_notice(pending) if pending and may_decide else "",
        "approver_label": ROLES.get(deadline_changes.approver_role(case), ""),
        "change_kinds": CHANGE_KINDS,
        "return_reasons": RETURN_REASONS,
        "units": [
            u
            for u in db.session.scalars(select(Unit).where(Unit.is_active).order_by(Unit.path))
            if unit_in_scope(user, u.id)
        ]
        if can(user, "case.dispatch")
        else [],
    }


def _act(case: Case, action: Callable[[], object], done: str, after: str | None = None) -> Any:
    """Run a case's deadline action; on success go to ``after`` (default the case page)."""
    if not submit(action, done):
        after = None
    return redirect(after or url_for("cases.show", case_id=case.id))


def _unit(field: str) -> Unit:
    unit = db.session.get(Unit, request.form.get(field, type=int) or 0)
    if unit is None:
        raise SentinelError("请选择单位")
    return unit


@bp.route("/cases/<int:case_id>/deadline-change", methods=["POST"])
@require("case.answer")
def request_change(case_id: int) -> Any:
    case = get_case_or_404(case_id, "case.answer")
    kind = request.form.get("kind", "")
    return _act(
        case,
        lambda: deadline_changes.request_change(
            current_actor(),
            case,
            kind,
            request.form.get("days", type=int) or 0,
            request.form.get("reason", ""),
        ),
        f"{CHANGE_KINDS.get(kind, '')}申请已提交，等待审批",
    )


@bp.route("/deadline-changes/<int:change_id>/decide", methods=["POST"])
@require("case.view")
def decide_change(change_id: int) -> Any:
    change = db.session.get(DeadlineChange, change_id)
    if change is None:
        abort(404)
    case = get_case_or_404(change.case_id)
    approve = request.form.get("decision") == "approve"
    label = change.kind_label
    return _act(
        case,
        lambda: deadline_changes.decide_change(
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
@require("case.view")
def edit_notice(case_id: int, reply_id: int) -> Any:
    case = get_case_or_404(case_id)
    reply = db.session.get(Reply, reply_id)
    if reply is None or reply.case_id != case.id:
        abort(404)
    return _act(
        case,
        lambda: deadline_changes.edit_notice(current_actor(), reply, request.form.get("body", "")),
        "告知留言人的草稿已保存，待审核发布",
    )


@bp.route("/deadline-changes")
@require("case.view")
def pending_changes() -> Any:
    return render_template(
        "deadlines/changes.html", changes=deadline_changes.pending_for(current_actor())
    )


@bp.route("/cases/<int:case_id>/return", methods=["POST"])
@require("case.acknowledge")
def return_case(case_id: int) -> Any:
    case = get_case_or_404(case_id, "case.acknowledge")
    suggested = db.session.get(Unit, request.form.get("suggested_unit_id", type=int) or 0)
    return _act(
        case,
        lambda: returns.return_case(
            current_actor(),
            case,
            request.form.get("reason", ""),
            request.form.get("note", ""),
            suggested,
        ),
        f"工单 #{case.id} 已退回分派单位",
        # The unit no longer holds the case, so the case page would be out of its scope.
        url_for("inbox.index") if can(current_user, "inbox.view") else None,
    )


@bp.route("/cases/<int:case_id>/arbitrate", methods=["POST"])
@require("case.dispatch")
def arbitrate(case_id: int) -> Any:
    case = get_case_or_404(case_id, "case.dispatch")
    return _act(
        case,
        lambda: returns.arbitrate(
            current_actor(), case, _unit("unit_id"), request.form.get("note", "")
        ),
        f"工单 #{case.id} 已仲裁指派",
    )


@bp.route("/cases/<int:case_id>/assist", methods=["POST"])
@require("case.dispatch")
def add_assist(case_id: int) -> Any:
    case = get_case_or_404(case_id, "case.dispatch")
    return _act(
        case,
        lambda: returns.add_assist(
            current_actor(),
            case,
            _unit("unit_id"),
            request.form.get("days", type=int) or 0,
            request.form.get("note", ""),
        ),
        "已指定协办单位",
    )


@bp.route("/cases/<int:case_id>/assist/<int:assignment_id>/done", methods=["POST"])
@require("case.view")
def finish_assist(case_id: int, assignment_id: int) -> Any:
    case = get_case_or_404(case_id)
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.case_id != case.id:
        abort(404)
    return _act(
        case, lambda: returns.finish_assist(current_actor(), case, assignment), "协办任务已完成"
    )


@bp.route("/reminders")
@require("case.view")
def my_reminders() -> Any:
    """In-app reminders for the units in the user's scope (all units for admins)."""
    return render_template(
        "deadlines/reminders.html",
        reminders=reminder_ladder.reminders_for_units(scope_unit_ids(current_user)),
        late=watchdog.sweep_late_message() if can(current_user, "admin.manage") else None,
    )


@bp.route("/reminders/<int:reminder_id>/document")
@require("case.view")
def reminder_document(reminder_id: int) -> Any:
    reminder = db.session.get(Reminder, reminder_id)
    if reminder is None or not reminder.document_path:
        abort(404)
    get_case_or_404(reminder.case_id)  # scope check: 404 outside the user's units
    return send_from_directory(
        notice_docx.document_dir(),
        reminder.document_path,
        as_attachment=True,
        download_name=os.path.basename(reminder.document_path),
    )


def init_app(app: Flask) -> None:
    """Register the blueprint and the template globals the deadline macros use."""
    app.register_blueprint(bp)
    app.jinja_env.globals["deadline_views"] = sla.clock_views
    app.jinja_env.globals["deadline_panel"] = panel
    app.jinja_env.globals["deadline_action_labels"] = DEADLINE_ACTION_LABELS
