"""Extension (延期) and pause (暂停) of a case's resolution clock, with approval.

The handling unit asks; the role the case's rule names (``clock_spec.resolution.approver``)
decides. Both steps are audited; an approval moves the deadline by the approved working
days, starts a new reminder round, and drafts a notice to the asker: a ``Reply`` of kind
``notice`` with status ``draft``, worded from ``DEADLINE_NOTICE_TEMPLATE`` (public wording
and the new deadline — never the unit's internal reason). Nothing is sent here: the draft
is editable and waits for review and publication (the review flow publishes it).

A request belongs to the unit that made it: when the case is returned (退单) or
dispatched again, pending requests are cancelled (``sla.cancel_pending_changes``).
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
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
MAX_NOTICE = 1000
NOTICE_ACTIONS = {"extension": "延长", "pause": "暂停"}


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


def notice_text(change: DeadlineChange, due_at: datetime) -> str:
    """The public notice for ``change`` with the deadline ``due_at``, from the template.

    Only public wording: the request's reason and the approver's note are internal.
    """
    template: str = current_app.config["DEADLINE_NOTICE_TEMPLATE"]
    return template.format(
        action=NOTICE_ACTIONS.get(change.kind, "延长"),
        days=change.days,
        due_date=format_local(due_at, "%Y年%m月%d日"),
    )


def projected_due(change: DeadlineChange) -> datetime | None:
    """The deadline ``change`` would give if approved now (for the approval form)."""
    case = change.case
    spec = (case.clock_spec or {}).get("resolution")
    if spec is None or case.clock_started_at is None:
        return None
    due, _ = sla.compute_due(
        spec, case.clock_started_at, case.extension_days + change.days, case.unit_id
    )
    return due


def draft_notice(change: DeadlineChange) -> str:
    """The notice the approval form offers for editing (empty when no deadline runs)."""
    due = projected_due(change)
    return notice_text(change, due) if due is not None else ""


def _clean_notice(body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationFailed("告知留言人的内容不能为空")
    if len(body) > MAX_NOTICE:
        raise ValidationFailed(f"告知留言人的内容不能超过 {MAX_NOTICE} 字")
    return body


def decide_change(
    actor: Actor,
    change: DeadlineChange,
    approve: bool,
    note: str = "",
    notice: str | None = None,
) -> Reply | None:
    """Approve or reject a pending request; only the rule's approver role (or an admin).

    On approval the deadline moves and a draft notice to the asker is added (``notice``
    as edited by the approver, else the template's wording); it is returned, unsent.
    ``note`` is the internal decision note and never reaches the asker.
    """
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
    if approve and (case.status != "acknowledged" or case.due_at is None):
        # Nothing to move and nobody to tell: approving would record a change that isn't.
        raise InvalidTransition(f"工单已不在办理中，不能批准{label}，请驳回该申请")
    edited = _clean_notice(notice) if approve and notice and notice.strip() else None
    now = utcnow()
    change.status = "approved" if approve else "rejected"
    change.decided_by_id = actor.user_id
    change.decided_at = now
    change.decision_note = note or None
    draft: Reply | None = None
    if approve and case.due_at is not None:
        case.extension_days += change.days
        sla.recompute(case)
        if change.kind == "pause":
            periods = workcalendar.office_periods(case.unit_id)
            case.paused_until, _ = workcalendar.working_days_deadline(now, change.days, periods)
        case.deadline_round += 1
        case.deadline_state = None
        change.new_due_at = case.due_at
        draft = Reply(
            case_id=case.id,
            kind="notice",
            status="draft",
            body=edited or notice_text(change, case.due_at),
            author_id=actor.user_id,
        )
        db.session.add(draft)
        db.session.flush()
        from sentinel.services import review

        review.record_first_version(actor, draft, note="deadline_change")
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
        notice_reply_id=draft.id if draft else None,
        notice_edited=edited is not None,
    )
    return draft


def edit_notice(actor: Actor, reply: Reply, body: str) -> None:
    """Edit the notice to the asker until it is published (office or lead unit)."""
    case = reply.case
    if reply.kind != "notice":
        raise NotFound("告知记录不存在")
    if actor.user is not None:
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
        lead_unit = can(actor.user, "case.draft") and is_lead_unit(actor.user, case)
        if not (can(actor.user, "case.dispatch") or lead_unit):
            raise Forbidden("当前角色不能修改告知留言人的内容")
    if reply.status == "final":
        raise InvalidTransition("告知已发布，不能再修改")
    from sentinel.services import review

    # A new version; after a review step the notice goes back to 初审 (services/review.py).
    review.save_text(actor, reply, _clean_notice(body))
    audit.record(
        actor, "case.notice_edited", "case", case.id, reply_id=reply.id, length=len(reply.body)
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
