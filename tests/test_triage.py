"""Case transitions: each one through the service, checked by the state machine, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, Item
from sentinel.services import review, triage
from tests.support.replies import approve_all, publish_answer


def actions(case):
    return [
        e.action
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "case", AuditEvent.object_id == case.id)
            .order_by(AuditEvent.id)
        )
    ]


def test_full_path_claim_dispatch_acknowledge_draft_answer_close(office):
    case = office.case()
    duty, handler = office.actor("duty"), office.actor("edu_handler")
    triage.claim(duty, case)
    assert case.status == "claimed" and case.claimed_by_id == duty.user_id
    triage.dispatch(duty, case, office.edu, "请于三日内答复")
    assert case.status == "dispatched" and case.unit_id == office.edu.id and case.dispatched_at
    assert [a.status for a in case.assignments] == ["active"]
    triage.acknowledge(handler, case)
    assert case.status == "acknowledged" and case.acknowledged_at
    assert case.assignments[0].acknowledged_by_id == handler.user_id
    draft = triage.save_draft(handler, case, "您好，社保卡可在县政务服务中心补办。")
    assert draft.status == "draft" and case.status == "acknowledged"
    triage.save_draft(handler, case, "您好，社保卡可在县政务服务中心二楼补办。")
    assert len(case.replies) == 1
    # 先审后发: submitting sends the draft to review; the case is answered when the
    # reviewed reply is published.
    submitted = triage.submit_answer(handler, case)
    assert submitted.status == "review" and case.status == "acknowledged"
    approve_all(office, submitted)
    final = review.publish(duty, submitted, "https://weibo.com/1/2")
    assert final.status == "final" and case.status == "answered" and case.answered_at
    triage.close(duty, case)
    assert case.status == "closed"
    db.session.commit()
    assert actions(case) == [
        "case.claim",
        "case.dispatch",
        "case.acknowledge",
        "reply.drafted",
        "case.save_draft",
        "reply.edited",
        "case.save_draft",
        "reply.submitted",
        "reply.approved",
        "case.answer",
        "reply.published",
        "case.close",
    ]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.dispatch")).one()
    assert event.actor_id == duty.user_id and event.ip == "127.0.0.1"
    assert event.data == {
        "from": "claimed",
        "to": "dispatched",
        "unit_id": office.edu.id,
        "previous_unit_id": None,
    }


def test_unclaim_returns_the_case_to_the_queue(office):
    case = office.case()
    triage.claim(office.actor("duty"), case)
    triage.unclaim(office.actor("duty"), case)
    assert case.status == "new" and case.claimed_by_id is None


def test_redispatch_withdraws_the_earlier_assignment(office):
    case = office.case()
    duty = office.actor("duty")
    triage.dispatch(duty, case, office.edu)
    triage.dispatch(duty, case, office.health)
    assert [(a.unit_id, a.status) for a in case.assignments] == [
        (office.edu.id, "withdrawn"),
        (office.health.id, "active"),
    ]
    with pytest.raises(InvalidTransition):
        triage.dispatch(duty, case, office.health)


def test_noise_needs_a_reason_and_can_be_reopened(office):
    case = office.case("买房加微信 abc123")
    duty = office.actor("duty")
    with pytest.raises(ValidationFailed):
        triage.mark_noise(duty, case, "")
    with pytest.raises(ValidationFailed):
        triage.mark_noise(duty, case, "other")
    triage.mark_noise(duty, case, "spam")
    assert case.status == "noise" and case.close_reason == "spam" and case.closed_at
    triage.reopen(duty, case)
    assert case.status == "new" and case.closed_at is None


def test_merge_moves_items_and_adds_up_ask_counts(office):
    a = office.case("A小区停车难，请协调。")
    office.ingest("A小区停车难，请协调。")  # a second person asks the same
    b = office.case("A 小区 停车位太少")
    db.session.refresh(a)
    assert a.ask_count == 2
    triage.merge(office.actor("duty"), b, a)
    db.session.commit()
    assert b.status == "merged" and b.merged_into_id == a.id
    assert a.ask_count == 3
    assert db.session.scalars(select(Item.case_id).where(Item.case_id == b.id)).all() == []
    assert "case.merged_in" in actions(a) and "case.merge" in actions(b)
    with pytest.raises(ValidationFailed):
        triage.merge(office.actor("duty"), a, a)


def test_merge_into_a_closed_case_is_refused(office):
    a, b = office.case("问题一"), office.case("问题二")
    triage.mark_noise(office.actor("duty"), b, "spam")
    with pytest.raises(InvalidTransition):
        triage.merge(office.actor("duty"), a, b)


@pytest.mark.parametrize(
    ("status", "transition"),
    [
        ("new", "acknowledge"),
        ("new", "answer"),
        ("new", "close"),
        ("new", "unclaim"),
        ("dispatched", "claim"),
        ("dispatched", "noise"),
        ("answered", "dispatch"),
        ("closed", "claim"),
        ("noise", "dispatch"),
        ("merged", "reopen"),
    ],
)
def test_transitions_not_allowed_from_a_state_are_refused(office, status, transition):
    case = office.case()
    case.status = status
    admin = office.actor("admin")
    call = {
        "acknowledge": lambda: triage.acknowledge(admin, case),
        "answer": lambda: triage.submit_answer(admin, case, "答复"),
        "close": lambda: triage.close(admin, case),
        "unclaim": lambda: triage.unclaim(admin, case),
        "claim": lambda: triage.claim(admin, case),
        "noise": lambda: triage.mark_noise(admin, case, "spam"),
        "dispatch": lambda: triage.dispatch(admin, case, office.edu),
        "reopen": lambda: triage.reopen(admin, case),
    }[transition]
    with pytest.raises(InvalidTransition):
        call()
    assert case.status == status


def test_state_machine_table_is_consistent():
    from sentinel.models.case import CASE_STATUSES

    for t in triage.TRANSITIONS.values():
        assert t.from_states <= set(CASE_STATUSES)
        assert t.to_state is None or t.to_state in CASE_STATUSES


def test_handler_cannot_dispatch_and_cannot_touch_another_units_case(office):
    case = office.case()
    with pytest.raises(Forbidden):
        triage.dispatch(office.actor("edu_handler"), case, office.edu)
    triage.dispatch(office.actor("duty"), case, office.edu)
    with pytest.raises(NotFound):
        triage.acknowledge(office.actor("health_handler"), case)
    with pytest.raises(Forbidden):
        triage.claim(office.actor("leader"), office.case("另一个问题"))


def test_answer_requires_a_body(office):
    case = office.case()
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    with pytest.raises(ValidationFailed):
        triage.submit_answer(office.actor("edu_handler"), case)
    with pytest.raises(ValidationFailed):
        triage.save_draft(office.actor("edu_handler"), case, "   ")
    assert case.status == "acknowledged"


def test_ingest_after_answer_opens_a_new_case_linked_to_the_answered_one(office):
    # issue 10: an answered case never takes an automatic attach (tests/test_duplicates.py).
    case = office.case("图书馆几点开门？")
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    publish_answer(office, case, "上午九点。")
    db.session.commit()
    new_id = office.ingest("图书馆几点开门？")[0].case_id
    assert new_id != case.id
    assert db.session.get(Case, new_id).duplicate_of_id == case.id
    assert db.session.get(Case, case.id).ask_count == 1
