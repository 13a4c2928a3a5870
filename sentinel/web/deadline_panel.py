"""The deadline panel of the case page, as Jinja globals (no routes of its own).

What the panel shows — rules used, clock events, 延期/暂停 requests, 退单, 协办 tasks,
reminders — and which of its forms the current user gets, decided by role *and*
relation to the case (lead unit, assisting unit, office).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from flask_login import current_user
from sqlalchemy import select

from sentinel.auth.permissions import can, is_lead_unit, unit_in_scope, units_in_scope
from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, CaseReturn, DeadlineChange, Reminder
from sentinel.models.deadline import CHANGE_KINDS, REMINDER_KINDS, RETURN_REASONS
from sentinel.models.user import ROLES
from sentinel.services import deadline_changes, returns, sla, triage
from sentinel.timefmt import format_local

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
    "case.assist_acknowledged": "协办签收",
    "case.assist_done": "协办完成",
    "case.reminder": "催办",
}

ASSIST_STATES = {
    "active": "待签收",
    "acknowledged": "协办中",
    "done": "已完成",
    "withdrawn": "已撤回",
}


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
    if data.get("event") == "priority":
        parts.append("紧急程度调整")
    if data.get("event") == "request_type":
        parts.append(data.get("reason") or "诉求类型更正")
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
    """What the case page's deadline panel shows, and which forms this user gets."""
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
    case_reminders = db.session.scalars(
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
    lead = is_lead_unit(user, case)
    assists = [
        {
            "assignment": a,
            "state": ASSIST_STATES.get(a.status, a.status),
            "may_acknowledge": a.status == "active"
            and can(user, "case.assist")
            and user.role != "duty_officer"
            and unit_in_scope(user, a.unit_id),
            "may_finish": a.status in ("active", "acknowledged")
            and returns.may_finish_assist(user, case, a),
        }
        for a in case.assignments
        if a.role == "assist" and a.status != "withdrawn"
    ]
    may_decide = (
        pending is not None
        and can(user, "deadline.decide")
        and user.role in (pending.approver_role, "admin")
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
        and lead,
        "returns": case_returns,
        "may_return": triage.may_perform(user, case, "return") and not returns.is_arbitrated(case),
        "may_arbitrate": case.return_count > 0 and triage.may_perform(user, case, "arbitrate"),
        "may_assist": case.status in ("dispatched", "acknowledged") and can(user, "case.dispatch"),
        "assists": assists,
        "reminders": case_reminders,
        "notices": notices,
        "may_edit_notice": case.status not in ("noise", "merged")
        and (can(user, "case.dispatch") or (can(user, "case.draft") and lead)),
        "draft_notice": deadline_changes.draft_notice(pending) if pending and may_decide else "",
        "approver_label": ROLES.get(deadline_changes.approver_role(case), ""),
        "change_kinds": CHANGE_KINDS,
        "return_reasons": RETURN_REASONS,
        "units": units_in_scope(user) if can(user, "case.dispatch") else [],
    }


def init_app(app: Flask) -> None:
    """Register the template globals the deadline macros and the case page use."""
    app.jinja_env.globals["deadline_views"] = sla.clock_views
    app.jinja_env.globals["deadline_panel"] = panel
    app.jinja_env.globals["deadline_action_labels"] = DEADLINE_ACTION_LABELS
