"""Case transitions: claim, dispatch, acknowledge (签收), draft, answer, close, noise, merge.

Every transition is checked against one state machine, checked against the actor's
capability and unit scope, recorded in the audit log, and flushed (the caller commits).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from sentinel.auth.permissions import Actor, can, case_in_scope, unit_in_scope
from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Assignment, Case, Item, Reply, Unit, utcnow
from sentinel.models.case import CASE_STATUSES, NOISE_REASONS
from sentinel.services import audit, sla


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    from_states: frozenset[str]
    to_state: str | None  # None: the status does not change
    capability: str


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("claim", "认领", frozenset({"new"}), "claimed", "case.claim"),
        Transition("unclaim", "取消认领", frozenset({"claimed"}), "new", "case.claim"),
        Transition(
            "dispatch",
            "分派",
            frozenset({"new", "claimed", "dispatched"}),
            "dispatched",
            "case.dispatch",
        ),
        Transition(
            "acknowledge", "签收", frozenset({"dispatched"}), "acknowledged", "case.acknowledge"
        ),
        Transition("save_draft", "保存草稿", frozenset({"acknowledged"}), None, "case.draft"),
        Transition("answer", "答复", frozenset({"acknowledged"}), "answered", "case.answer"),
        Transition("close", "办结", frozenset({"answered"}), "closed", "case.close"),
        Transition("noise", "作无效处理", frozenset({"new", "claimed"}), "noise", "case.noise"),
        Transition(
            "merge", "合并", frozenset({"new", "claimed", "dispatched"}), "merged", "case.merge"
        ),
        Transition("reopen", "重新打开", frozenset({"noise", "closed"}), "new", "case.reopen"),
        # issue 6 (services/returns.py): 退单 back to the office, and forced assignment.
        Transition(
            "return",
            "退单",
            frozenset({"dispatched", "acknowledged"}),
            "claimed",
            "case.acknowledge",
        ),
        Transition(
            "arbitrate", "仲裁指派", frozenset({"new", "claimed"}), "dispatched", "case.dispatch"
        ),
    )
}

MAX_REPLY_LENGTH = 5000
MAX_NOTE_LENGTH = 500


def allowed_transitions(case: Case) -> list[str]:
    """Names of the transitions the case's current status allows."""
    return [t.name for t in TRANSITIONS.values() if case.status in t.from_states]


def _check(actor: Actor, case: Case, name: str) -> Transition:
    transition = TRANSITIONS[name]
    if actor.user is not None:
        if not can(actor.user, transition.capability):
            raise Forbidden(f"当前角色不能执行“{transition.label}”")
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
    if case.status not in transition.from_states:
        raise InvalidTransition(
            f"工单 #{case.id} 当前状态为“{CASE_STATUSES[case.status]}”，不能{transition.label}"
        )
    return transition


def _move(actor: Actor, case: Case, transition: Transition, **data: object) -> None:
    before = case.status
    if transition.to_state is not None:
        case.status = transition.to_state
    case.updated_at = utcnow()
    audit.record(
        actor,
        f"case.{transition.name}",
        "case",
        case.id,
        **{"from": before, "to": case.status},
        **data,
    )
    db.session.flush()


def claim(actor: Actor, case: Case) -> None:
    """A duty officer takes a new case (认领)."""
    t = _check(actor, case, "claim")
    case.claimed_by_id = actor.user_id
    _move(actor, case, t)


def unclaim(actor: Actor, case: Case) -> None:
    t = _check(actor, case, "unclaim")
    case.claimed_by_id = None
    _move(actor, case, t)


def dispatch(actor: Actor, case: Case, unit: Unit, note: str = "") -> Assignment:
    """Dispatch (分派) a case to a handling unit; re-dispatch withdraws the earlier one."""
    t = _check(actor, case, "dispatch")
    check_target_unit(actor, unit)
    if case.unit_id == unit.id and case.status == "dispatched":
        raise InvalidTransition(f"工单已分派给“{unit.name}”")
    for earlier in case.assignments:
        if earlier.status == "active":
            earlier.status = "withdrawn"
    previous_unit_id = case.unit_id
    assignment = assign_lead(actor, case, unit, note.strip()[:MAX_NOTE_LENGTH] or None)
    sla.on_dispatch(actor, case, assignment.assigned_at)  # issue 6: (re)start the clocks
    if case.claimed_by_id is None:
        case.claimed_by_id = actor.user_id
    _move(actor, case, t, unit_id=unit.id, previous_unit_id=previous_unit_id)
    return assignment


def check_target_unit(actor: Actor, unit: Unit) -> None:
    """A unit a case may be assigned to: active, and inside the actor's unit scope."""
    if not unit.is_active:
        raise ValidationFailed(f"单位“{unit.name}”已停用")
    if actor.user is not None and not unit_in_scope(actor.user, unit.id):
        raise Forbidden(f"单位“{unit.name}”不在您的管辖范围内")


def assign_lead(actor: Actor, case: Case, unit: Unit, note: str | None) -> Assignment:
    """Make ``unit`` the case's lead (主办) unit as of now: a new assignment, the case's
    unit and dispatch time, acknowledgement cleared. The caller restarts the deadline
    clocks (``sla.on_dispatch``) and records the transition."""
    now = utcnow()
    assignment = Assignment(
        case=case,
        unit=unit,
        role="lead",
        assigned_by_id=actor.user_id,
        assigned_at=now,
        note=note,
    )
    db.session.add(assignment)
    case.unit_id = unit.id
    case.dispatched_at = now
    case.acknowledged_at = None
    return assignment


def acknowledge(actor: Actor, case: Case) -> None:
    """The handling unit acknowledges the case (签收); the handling clock starts."""
    t = _check(actor, case, "acknowledge")
    handler = actor.user is not None and actor.user.role == "handler"
    if handler and not unit_in_scope(actor.user, case.unit_id or -1):
        raise Forbidden("只能签收分派给本单位的工单")
    now = utcnow()
    case.acknowledged_at = now
    sla.on_acknowledge(actor, case, now)  # issue 6: the handling clock starts
    for assignment in case.assignments:
        if assignment.status == "active" and assignment.unit_id == case.unit_id:
            assignment.status = "acknowledged"
            assignment.acknowledged_at = now
            assignment.acknowledged_by_id = actor.user_id
    _move(actor, case, t)


def _current_draft(case: Case) -> Reply | None:
    for reply in reversed(case.replies):
        if reply.kind == "answer" and reply.status == "draft":
            return reply
    return None


def _clean_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationFailed("答复内容不能为空")
    if len(body) > MAX_REPLY_LENGTH:
        raise ValidationFailed(f"答复内容不能超过 {MAX_REPLY_LENGTH} 字")
    return body


def save_draft(actor: Actor, case: Case, body: str) -> Reply:
    """Save (create or update) the unit's draft answer."""
    t = _check(actor, case, "save_draft")
    body = _clean_body(body)
    draft = _current_draft(case)
    if draft is None:
        draft = Reply(case=case, kind="answer", status="draft", body=body, author_id=actor.user_id)
        db.session.add(draft)
    else:
        draft.body = body
    db.session.flush()
    _move(actor, case, t, reply_id=draft.id, length=len(body))
    return draft


def answer(actor: Actor, case: Case, body: str | None = None) -> Reply:
    """Mark the case answered with its final reply (the draft, or ``body``)."""
    t = _check(actor, case, "answer")
    draft = _current_draft(case)
    if body is not None and body.strip():
        body = _clean_body(body)
        if draft is None:
            draft = Reply(case=case, kind="answer", body=body, author_id=actor.user_id)
            db.session.add(draft)
        else:
            draft.body = body
    if draft is None:
        raise ValidationFailed("请先填写答复内容")
    draft.status = "final"
    case.answered_at = utcnow()
    sla.on_answer(actor, case, case.answered_at)  # issue 6: stop the clock
    for assignment in case.assignments:
        if assignment.status in ("active", "acknowledged") and assignment.unit_id == case.unit_id:
            assignment.status = "done"
    db.session.flush()
    _move(actor, case, t, reply_id=draft.id)
    return draft


def close(actor: Actor, case: Case) -> None:
    """Close an answered case (办结)."""
    t = _check(actor, case, "close")
    case.closed_at = utcnow()
    case.close_reason = "answered"
    _move(actor, case, t)


def mark_noise(actor: Actor, case: Case, reason: str, note: str = "") -> None:
    """Close a case as noise (无效) with a reason from NOISE_REASONS."""
    t = _check(actor, case, "noise")
    if reason not in NOISE_REASONS:
        raise ValidationFailed("请选择无效原因")
    note = note.strip()
    if reason == "other" and not note:
        raise ValidationFailed("选择“其他”时请填写说明")
    case.close_reason = reason
    case.close_note = note[:MAX_NOTE_LENGTH] or None
    case.closed_at = utcnow()
    _move(actor, case, t, reason=reason)


def reopen(actor: Actor, case: Case) -> None:
    t = _check(actor, case, "reopen")
    case.closed_at = None
    case.close_reason = None
    case.close_note = None
    _move(actor, case, t)


def merge(
    actor: Actor,
    case: Case,
    into: Case,
    similarity: float | None = None,
    *,
    automatic: bool = False,
) -> None:
    """Merge ``case`` into ``into``: its items move, the ask counts add up.

    ``automatic``: the near-duplicate pass merges (``similarity`` is recorded; the caller
    has checked ``duplicates.may_auto_attach``); the moved items count towards the
    target's "自动合并" badge and can be split out again. A person's merge marks the moved
    items as decided by a person, so no automatic pass moves them again.
    """
    t = _check(actor, case, "merge")
    if into.id == case.id:
        raise ValidationFailed("不能把工单合并到自身")
    if not into.is_open:
        raise InvalidTransition(f"目标工单 #{into.id} 已{into.status_label}，不能合并进去")
    if actor.user is not None and not case_in_scope(actor.user, into):
        raise NotFound("目标工单不存在或不在您的管辖范围内")
    from sentinel.services import duplicates

    now = utcnow()
    duplicates.mark_moved(actor, case.id, "neardup" if automatic else "manual", similarity, now)
    moved = db.session.execute(
        update(Item).where(Item.case_id == case.id).values(case_id=into.id, is_duplicate=True)
    ).rowcount
    into.ask_count += case.ask_count
    into.last_item_at = max(into.last_item_at, case.last_item_at)
    into.first_item_at = min(into.first_item_at, case.first_item_at)
    into.updated_at = now
    if automatic:
        into.auto_attached += moved
    case.merged_into_id = into.id
    # Possible-duplicate links to the merged case now point at the case it lives on in.
    if into.duplicate_of_id == case.id:
        into.duplicate_of_id = into.duplicate_similarity = into.duplicate_reason = None
    db.session.execute(
        update(Case)
        .where(Case.duplicate_of_id == case.id, Case.id != into.id)
        .values(duplicate_of_id=into.id)
    )
    case.closed_at = now
    case.close_reason = "merged"
    db.session.expire(case, ["items"])
    db.session.expire(into, ["items"])
    audit.record(
        actor,
        "case.merged_in",
        "case",
        into.id,
        from_case_id=case.id,
        items=moved,
        **({"similarity": similarity, "automatic": True} if automatic else {}),
    )
    extra = {"similarity": similarity} if similarity is not None else {}
    _move(actor, case, t, into_case_id=into.id, items=moved, **extra)
