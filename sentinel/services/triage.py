"""Case transitions: claim, dispatch, acknowledge (签收), draft, answer, close, noise, merge.

Every transition is checked against one state machine, checked against the actor's
capability and unit scope, recorded in the audit log, and flushed (the caller commits).
Other services that move a case (``returns``) use the same two public steps:
:func:`check_transition` before changing anything, :func:`record_transition` after.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from sentinel.auth.permissions import Actor, can, case_in_scope, is_lead_unit, unit_in_scope
from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Assignment, Case, Item, Reply, Unit, User, utcnow
from sentinel.models.case import CASE_STATUSES, NOISE_REASONS
from sentinel.services import audit, faq, sla


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    from_states: frozenset[str]
    to_state: str | None  # None: the status does not change
    capability: str
    # "case": any relation to the case (lead, assisting or office unit) will do;
    # "lead": only the lead (主办) unit — an assisting unit sees the case but does not
    # acknowledge, answer or return it for the lead unit.
    scope: str = "case"


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
            "acknowledge",
            "签收",
            frozenset({"dispatched"}),
            "acknowledged",
            "case.acknowledge",
            "lead",
        ),
        Transition(
            "save_draft", "保存草稿", frozenset({"acknowledged"}), None, "case.draft", "lead"
        ),
        # Submitting the answer to review needs this; the case becomes answered when
        # the reviewed reply is published (services/review.py).
        Transition(
            "answer", "答复", frozenset({"acknowledged"}), "answered", "case.answer", "lead"
        ),
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
            "lead",
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


def may_perform(user: User, case: Case, name: str) -> bool:
    """True when ``user`` may perform transition ``name`` on ``case`` now: the status
    allows it, the role has the capability and the user has the relation it needs."""
    transition = TRANSITIONS[name]
    return (
        case.status in transition.from_states
        and can(user, transition.capability)
        and case_in_scope(user, case)
        and (transition.scope != "lead" or is_lead_unit(user, case))
    )


def check_transition(actor: Actor, case: Case, name: str) -> Transition:
    """Check that ``actor`` may perform transition ``name`` on ``case`` in its current
    status; raise Forbidden / NotFound / InvalidTransition otherwise. Changes nothing.

    Lead-unit transitions (``scope == "lead"``) refuse a user who sees the case only as
    an assisting unit: Forbidden, since the case itself is visible to them.
    """
    transition = TRANSITIONS[name]
    if actor.user is not None:
        if not can(actor.user, transition.capability):
            raise Forbidden(f"当前角色不能执行“{transition.label}”")
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
        if transition.scope == "lead" and not is_lead_unit(actor.user, case):
            raise Forbidden(f"只有主办单位可以{transition.label}，协办单位请办理本单位的协办任务")
    if case.status not in transition.from_states:
        raise InvalidTransition(
            f"工单 #{case.id} 当前状态为“{CASE_STATUSES[case.status]}”，不能{transition.label}"
        )
    return transition


def record_transition(actor: Actor, case: Case, transition: Transition, **data: object) -> None:
    """Apply a checked transition: set the new status, audit ``case.<name>`` with the
    from/to status and ``data``, and flush. The caller changed everything else first."""
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
    t = check_transition(actor, case, "claim")
    case.claimed_by_id = actor.user_id
    record_transition(actor, case, t)


def unclaim(actor: Actor, case: Case) -> None:
    t = check_transition(actor, case, "unclaim")
    case.claimed_by_id = None
    record_transition(actor, case, t)


def dispatch(actor: Actor, case: Case, unit: Unit, note: str = "") -> Assignment:
    """Dispatch (分派) a case to a handling unit; re-dispatch withdraws the earlier one."""
    t = check_transition(actor, case, "dispatch")
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
    record_transition(actor, case, t, unit_id=unit.id, previous_unit_id=previous_unit_id)
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
    t = check_transition(actor, case, "acknowledge")
    now = utcnow()
    case.acknowledged_at = now
    sla.on_acknowledge(actor, case, now)  # issue 6: the handling clock starts
    for assignment in case.assignments:
        if assignment.status == "active" and assignment.unit_id == case.unit_id:
            assignment.status = "acknowledged"
            assignment.acknowledged_at = now
            assignment.acknowledged_by_id = actor.user_id
    record_transition(actor, case, t)


def _clean_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationFailed("答复内容不能为空")
    if len(body) > MAX_REPLY_LENGTH:
        raise ValidationFailed(f"答复内容不能超过 {MAX_REPLY_LENGTH} 字")
    return body


def save_draft(actor: Actor, case: Case, body: str) -> Reply:
    """Save (create or update) the unit's draft answer; every save is a new version
    (services/review.py), and an edit after a review step sends it back to 初审."""
    from sentinel.services import review

    t = check_transition(actor, case, "save_draft")
    body = _clean_body(body)
    draft = review.current_draft(case, "answer")
    if draft is None:
        draft = review.create_draft(actor, case, "answer", body)
    else:
        review.save_text(actor, draft, body)
    record_transition(actor, case, t, reply_id=draft.id, length=len(body))
    return draft


def submit_answer(actor: Actor, case: Case, body: str | None = None) -> Reply:
    """提交审核: save ``body`` (if given) as the draft answer and send it to review.

    This replaced the one-step "提交答复": nothing is final until the reply is reviewed
    at its risk tier and published (services/review.py ``publish``)."""
    from sentinel.services import review

    check_transition(actor, case, "answer")
    if body is not None and body.strip():
        draft = save_draft(actor, case, body)
    else:
        draft = review.current_draft(case, "answer")
    if draft is None:
        raise ValidationFailed("请先填写答复内容")
    review.submit(actor, draft)
    return draft


def complete_answer(actor: Actor, case: Case, reply: Reply) -> None:
    """The published answer makes the case answered (called by ``review.publish`` only,
    which has checked the reviews): the resolution clock stops at its publication."""
    t = TRANSITIONS["answer"]
    if case.status not in t.from_states:
        raise InvalidTransition(
            f"工单 #{case.id} 当前状态为“{CASE_STATUSES[case.status]}”，不能发布答复"
        )
    case.answered_at = reply.published_at or utcnow()
    sla.on_answer(actor, case, case.answered_at)  # issue 6: stop the clock
    for assignment in case.assignments:
        if assignment.status in ("active", "acknowledged") and assignment.unit_id == case.unit_id:
            assignment.status = "done"
    db.session.flush()
    record_transition(actor, case, t, reply_id=reply.id)
    # issue 15: a published answer to a 咨询 suggests an FAQ entry (pending approval).
    faq.suggest_from_answer(case, reply, actor)


def close(actor: Actor, case: Case) -> None:
    """Close an answered case (办结)."""
    t = check_transition(actor, case, "close")
    case.closed_at = utcnow()
    case.close_reason = "answered"
    record_transition(actor, case, t)


def mark_noise(actor: Actor, case: Case, reason: str, note: str = "") -> None:
    """Close a case as noise (无效) with a reason from NOISE_REASONS."""
    t = check_transition(actor, case, "noise")
    if reason not in NOISE_REASONS:
        raise ValidationFailed("请选择无效原因")
    note = note.strip()
    if reason == "other" and not note:
        raise ValidationFailed("选择“其他”时请填写说明")
    case.close_reason = reason
    case.close_note = note[:MAX_NOTE_LENGTH] or None
    case.closed_at = utcnow()
    record_transition(actor, case, t, reason=reason)


def reopen(actor: Actor, case: Case) -> None:
    t = check_transition(actor, case, "reopen")
    case.closed_at = None
    case.close_reason = None
    case.close_note = None
    record_transition(actor, case, t)


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
    t = check_transition(actor, case, "merge")
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
    record_transition(actor, case, t, into_case_id=into.id, items=moved, **extra)


PRIORITIES = {0: "普通", 1: "重要", 2: "紧急"}


def set_priority(actor: Actor, case: Case, priority: int, reason: str) -> bool:
    """A duty officer sets or clears 紧急/重要 with a reason (audited).

    The classifiers raise a case's priority from its risk tier; an officer's decision
    stands after that (``Case.priority_manual``), so a later item of the same case does
    not raise it again. The resolution deadline follows: urgent cases get the urgent
    rule (same day), others their request type's rule (``sla.on_priority_change``).
    Returns True when the deadline changed.
    """
    if actor.user is not None:
        if not can(actor.user, "case.priority"):
            raise Forbidden("当前角色不能调整紧急程度")
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
    if priority not in PRIORITIES:
        raise ValidationFailed("请选择紧急程度")
    if not case.is_open:
        raise InvalidTransition(f"工单 #{case.id} 已{case.status_label}，不能调整紧急程度")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("请填写调整理由")
    if priority == case.priority:
        raise ValidationFailed(f"工单已是“{PRIORITIES[priority]}”")
    before = case.priority
    case.priority = priority
    case.priority_manual = True
    case.updated_at = utcnow()
    audit.record(
        actor,
        "case.priority",
        "case",
        case.id,
        **{"from": before, "to": priority},
        reason=reason[:MAX_NOTE_LENGTH],
    )
    changed = sla.on_priority_change(actor, case, reason[:MAX_NOTE_LENGTH])
    db.session.flush()
    return changed
