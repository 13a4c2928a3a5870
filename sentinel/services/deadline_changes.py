"""Extension (延期) and pause (暂停) of a case's resolution clock, with approval.

The handling unit asks; the role the case's rule names (``clock_spec.resolution.approver``)
decides. Both steps are audited; an approval moves the deadline by the approved working
days, starts a new reminder round, and tells the asker with a ``Reply`` of kind
``notice`` on the case.
"""

from __future__ import annotations

from sqlalchemy import select

from sentinel.auth.permissions import Actor, can, case_in_scope, is_lead_unit
from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Case, DeadlineChange, Reply, utcnow
from sentinel.models.deadline import CHANGE_KINDS
from sentinel.models.user import ROLES
from sentinel.services import audit, sla, workcalendar
from sentinel.timefmt import format_local

MAX_DAYS = 60
MAX_REASON = 500


def approver_role(case: Case) -> str:
    """The role that approves extensions and pauses for ``case`` (from its frozen rule)."""
    spec = (case.clock_spec or {}).get("resolution") or {}
    return str(spec.get("approver") or "duty_officer")


def pending_change(case: Case) -> DeadlineChange | None:
    return db.session.scalar(
        select(DeadlineChange).where(
            DeadlineChange.case_id == case.id, DeadlineChange.status == "pending"
        )
    )


def request_change(actor: Actor, case: Case, kind: str, days: int, reason: str) -> DeadlineChange:
    """The handling unit asks to extend or pause the resolution clock by ``days`` working days."""
    if kind not in CHANGE_KINDS:
        raise ValidationFailed("请选择延期或暂停")
    label = CHANGE_KINDS[kind]
    if actor.user is not None:
        if not can(actor.user, "case.answer"):
            raise Forbidden(f"当前角色不能申请{label}")
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
        if not is_lead_unit(actor.user, case):
            raise Forbidden(f"只有主办单位可以申请{label}")
    if case.status != "acknowledged" or case.due_at is None:
        raise InvalidTransition(f"只有已签收、正在办理的工单可以申请{label}")
    if pending_change(case) is not None:
        raise InvalidTransition("已有待审批的延期/暂停申请")
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"{label}天数应为 1–{MAX_DAYS} 个工作日")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(f"请填写{label}理由")
    change = DeadlineChange(
        case_id=case.id,
        kind=kind,
        days=days,
        reason=reason[:MAX_REASON],
        approver_role=approver_role(case),
        requested_by_id=actor.user_id,
        requested_at=utcnow(),
        old_due_at=case.due_at,
    )
    db.session.add(change)
    db.session.flush()
    audit.record(
        actor,
        "case.deadline_change_requested",
        "case",
        case.id,
        change_id=change.id,
        kind=kind,
        days=days,
        approver=change.approver_role,
    )
    return change


def decide_change(actor: Actor, change: DeadlineChange, approve: bool, note: str = "") -> None:
    """Approve or reject a pending request; only the rule's approver role (or an admin)."""
    case = change.case
    label = change.kind_label
    if change.status != "pending":
        raise InvalidTransition("该申请已处理")
    if actor.user is not None:
        if actor.user.role not in (change.approver_role, "admin"):
            raise Forbidden(f"{label}申请须由{ROLES.get(change.approver_role, '')}审批")
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
    note = note.strip()[:MAX_REASON]
    if not approve and not note:
        raise ValidationFailed("驳回时请填写理由")
    now = utcnow()
    change.status = "approved" if approve else "rejected"
    change.decided_by_id = actor.user_id
    change.decided_at = now
    change.decision_note = note or None
    if approve and case.is_open and case.due_at is not None:
        case.extension_days += change.days
        sla.recompute(case)
        if change.kind == "pause":
            periods = workcalendar.office_periods(case.unit_id)
            case.paused_until, _ = workcalendar.working_days_deadline(now, change.days, periods)
        case.deadline_round += 1
        case.deadline_state = None
        change.new_due_at = case.due_at
        body = (
            f"您好，您反映的问题正在办理中。因{change.reason}，经审批，"
            f"办理时限{'暂停' if change.kind == 'pause' else '延长'} {change.days} 个工作日，"
            f"预计于 {format_local(case.due_at, '%Y年%m月%d日')} 前答复，感谢您的理解。"
        )
        db.session.add(
            Reply(case_id=case.id, kind="notice", status="sent", body=body, author_id=actor.user_id)
        )
    db.session.flush()
    audit.record(
        actor,
        "case.deadline_change_decided",
        "case",
        case.id,
        change_id=change.id,
        kind=change.kind,
        approved=approve,
        days=change.days,
        new_due_at=change.new_due_at.isoformat() if change.new_due_at else None,
    )


def pending_for(actor: Actor) -> list[DeadlineChange]:
    """Pending requests this actor may decide (their role, their scope)."""
    if actor.user is None:
        return []
    stmt = select(DeadlineChange).where(DeadlineChange.status == "pending")
    if actor.user.role != "admin":
        stmt = stmt.where(DeadlineChange.approver_role == actor.user.role)
    changes = db.session.scalars(stmt.order_by(DeadlineChange.requested_at)).all()
    return [c for c in changes if case_in_scope(actor.user, c.case)]
