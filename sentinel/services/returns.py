"""退单 (return a mis-dispatched case), arbitration (仲裁指派) and 协办 (assisting units).

A unit returns a case with a reason (属地/职能/权属/other); it goes back to the dispatching
office as ``claimed`` with its clocks stopped. The office re-dispatches it (ordinary
dispatch) or arbitrates: a forced assignment that the unit cannot return again. Every
return is a ``CaseReturn`` row, so the ping-pong history is shown and counted
(``Case.return_count``).

协办: the lead unit owns the reply; each assisting unit gets an ``Assignment`` with
role ``assist`` and its own sub-deadline in working days.
"""

from __future__ import annotations

from sqlalchemy import select

from sentinel.auth.permissions import Actor, can, case_in_scope, is_lead_unit, unit_in_scope
from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Assignment, Case, CaseReturn, Unit, User, utcnow
from sentinel.models.deadline import RETURN_REASONS
from sentinel.services import audit, sla, triage, workcalendar

MAX_NOTE = triage.MAX_NOTE_LENGTH
MAX_ASSIST_DAYS = 60


def _open_returns(case: Case) -> list[CaseReturn]:
    return list(
        db.session.scalars(
            select(CaseReturn).where(CaseReturn.case_id == case.id, CaseReturn.outcome.is_(None))
        )
    )


def is_arbitrated(case: Case) -> bool:
    """True when the current unit holds the case by arbitration (it cannot return it)."""
    latest = db.session.scalar(
        select(CaseReturn)
        .where(CaseReturn.case_id == case.id)
        .order_by(CaseReturn.id.desc())
        .limit(1)
    )
    return (
        latest is not None
        and latest.outcome == "arbitrated"
        and latest.outcome_unit_id == case.unit_id
    )


def return_case(
    actor: Actor, case: Case, reason: str, note: str = "", suggested_unit: Unit | None = None
) -> CaseReturn:
    """退单: the handling unit sends the case back with a reason; the clocks stop."""
    t = triage.check_transition(actor, case, "return")
    if reason not in RETURN_REASONS:
        raise ValidationFailed("请选择退单原因")
    note = note.strip()
    if reason == "other" and not note:
        raise ValidationFailed("选择“其他”时请填写说明")
    if is_arbitrated(case):
        raise InvalidTransition("该工单经仲裁指派，不能再退单")
    if case.unit_id is None:
        raise InvalidTransition("工单尚未分派")
    record = CaseReturn(
        case_id=case.id,
        unit_id=case.unit_id,
        reason=reason,
        note=note[:MAX_NOTE] or None,
        suggested_unit_id=suggested_unit.id if suggested_unit else None,
        returned_by_id=actor.user_id,
        returned_at=utcnow(),
    )
    db.session.add(record)
    for assignment in case.assignments:
        if assignment.role == "lead" and assignment.status in ("active", "acknowledged"):
            assignment.status = "returned"
    previous_unit_id = case.unit_id
    sla.cancel_pending_changes(actor, case)  # the next unit asks for its own
    case.unit_id = None
    case.dispatched_at = None
    case.acknowledged_at = None
    case.response_due_at = None
    case.due_at = None
    case.clock_started_at = None
    case.deadline_state = None
    case.due_provisional = False
    case.return_count += 1
    db.session.flush()
    triage.record_transition(
        actor,
        case,
        t,
        unit_id=previous_unit_id,
        reason=reason,
        return_id=record.id,
        returns=case.return_count,
    )
    return record


def arbitrate(actor: Actor, case: Case, unit: Unit, note: str = "") -> Assignment:
    """仲裁指派: force the assignment to ``unit`` after a return; it cannot be returned again."""
    t = triage.check_transition(actor, case, "arbitrate")
    if case.return_count == 0:
        raise InvalidTransition("只有被退回的工单需要仲裁，请直接分派")
    triage.check_target_unit(actor, unit)
    assignment = triage.assign_lead(actor, case, unit, ("仲裁指派：" + note.strip())[:MAX_NOTE])
    open_returns = _open_returns(case)
    sla.on_dispatch(actor, case, assignment.assigned_at)  # marks open returns redispatched …
    for record in open_returns:  # … which arbitration overrides
        record.outcome = "arbitrated"
        record.outcome_unit_id = unit.id
    triage.record_transition(actor, case, t, unit_id=unit.id, returns=case.return_count)
    return assignment


def add_assist(actor: Actor, case: Case, unit: Unit, days: int, note: str = "") -> Assignment:
    """协办: add an assisting unit with its own sub-deadline (working days from now)."""
    if actor.user is not None:
        if not can(actor.user, "case.dispatch"):
            raise Forbidden("当前角色不能指定协办单位")
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
        if not unit_in_scope(actor.user, unit.id):
            raise Forbidden(f"单位“{unit.name}”不在您的管辖范围内")
    if case.status not in ("dispatched", "acknowledged"):
        raise InvalidTransition("只有已分派、办理中的工单可以指定协办单位")
    if unit.id == case.unit_id:
        raise ValidationFailed("主办单位不能同时作为协办单位")
    if any(
        a.unit_id == unit.id and a.role == "assist" and a.status != "withdrawn"
        for a in case.assignments
    ):
        raise ValidationFailed(f"“{unit.name}”已是协办单位")
    if not 0 <= days <= MAX_ASSIST_DAYS:
        raise ValidationFailed(f"协办时限应为 0–{MAX_ASSIST_DAYS} 个工作日")
    now = utcnow()
    periods = workcalendar.office_periods(unit.id)
    due, provisional = workcalendar.working_days_deadline(now, days, periods)
    if case.due_at is not None and due > case.due_at:
        raise ValidationFailed("协办时限不能晚于主办时限")
    assignment = Assignment(
        case=case,
        unit=unit,
        role="assist",
        assigned_by_id=actor.user_id,
        assigned_at=now,
        due_at=due,
        note=note.strip()[:MAX_NOTE] or None,
    )
    db.session.add(assignment)
    db.session.flush()
    audit.record(
        actor,
        "case.assist_added",
        "case",
        case.id,
        unit_id=unit.id,
        assignment_id=assignment.id,
        days=days,
        due_at=due.isoformat(),
        provisional=provisional,
    )
    return assignment


def _check_assist(actor: Actor, case: Case, assignment: Assignment) -> None:
    if assignment.case_id != case.id or assignment.role != "assist":
        raise NotFound("协办记录不存在")
    if actor.user is not None and not case_in_scope(actor.user, case):
        raise NotFound("工单不存在或不在您的管辖范围内")
    if assignment.status == "withdrawn":
        raise InvalidTransition("协办任务已撤回")


def acknowledge_assist(actor: Actor, case: Case, assignment: Assignment) -> None:
    """签收 of a 协办 task: only by a handler of that assisting unit (or an admin)."""
    _check_assist(actor, case, assignment)
    if actor.user is not None:
        if not can(actor.user, "case.assist") or actor.user.role == "duty_officer":
            raise Forbidden("只有协办单位可以签收协办任务")
        if not unit_in_scope(actor.user, assignment.unit_id):
            raise Forbidden("只能签收本单位的协办任务")
    if assignment.status != "active":
        raise InvalidTransition("协办任务已签收")
    assignment.status = "acknowledged"
    assignment.acknowledged_at = utcnow()
    assignment.acknowledged_by_id = actor.user_id
    db.session.flush()
    audit.record(
        actor,
        "case.assist_acknowledged",
        "case",
        case.id,
        unit_id=assignment.unit_id,
        assignment_id=assignment.id,
    )


def may_finish_assist(user: User, case: Case, assignment: Assignment) -> bool:
    """Who may mark a 协办 task done: a handler of that assisting unit, a handler of the
    lead unit (it owns the reply and judges the contribution), or the office in scope.
    Another assisting unit may not."""
    if not can(user, "case.assist") or not case_in_scope(user, case):
        return False
    if user.role == "handler":
        return unit_in_scope(user, assignment.unit_id) or is_lead_unit(user, case)
    return True  # admin, duty officer (case in scope)


def finish_assist(actor: Actor, case: Case, assignment: Assignment) -> None:
    """Mark an assisting unit's part done (by that unit, the lead unit, or the office)."""
    _check_assist(actor, case, assignment)
    if actor.user is not None and not may_finish_assist(actor.user, case, assignment):
        raise Forbidden("只能办结本单位的协办任务")
    if assignment.status == "done":
        raise InvalidTransition("协办任务已完成")
    assignment.status = "done"
    assignment.finished_at = utcnow()
    db.session.flush()
    audit.record(
        actor,
        "case.assist_done",
        "case",
        case.id,
        unit_id=assignment.unit_id,
        assignment_id=assignment.id,
        on_time=assignment.due_at is None or utcnow() <= assignment.due_at,
    )
