"""延期/暂停 with approval, 退单 with re-dispatch or arbitration, 协办 sub-deadlines."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest
from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, CaseReturn, DeadlineChange, Reply
from sentinel.services import deadline_changes, returns, triage, workcalendar
from sentinel.timefmt import SHANGHAI

ACTOR = Actor(label="test")
TEXTS = iter(f"第{i}号：请问小区门口的路灯什么时候能修好，已经坏了{i}天" for i in range(1000))


@pytest.fixture
def calendar(app):
    workcalendar.seed_from_package(ACTOR)
    db.session.commit()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def frozen(moment: datetime) -> _Frozen:
    """Freeze ``utcnow`` where the deadline services read it."""
    return _Frozen(moment.astimezone(UTC))


class _Frozen:
    TARGETS = (
        "sentinel.services.triage.utcnow",
        "sentinel.services.deadline_changes.utcnow",
        "sentinel.services.returns.utcnow",
    )

    def __init__(self, value: datetime) -> None:
        self.patches = [mock.patch(t, return_value=value) for t in self.TARGETS]

    def __enter__(self) -> None:
        for p in self.patches:
            p.start()

    def __exit__(self, *exc: object) -> None:
        for p in self.patches:
            p.stop()


def local(value: datetime | None) -> datetime | None:
    return value.astimezone(SHANGHAI) if value else None


@pytest.fixture
def handling(office, calendar) -> Case:
    """A 求助 case dispatched to 教育局 and acknowledged on Wednesday 2026-03-04 09:30."""
    case = office.case(next(TEXTS))
    case.request_type = "求助"
    db.session.commit()
    with frozen(at(2026, 3, 4, 9, 0)):
        triage.dispatch(office.actor("duty"), case, office.edu)
    with frozen(at(2026, 3, 4, 9, 30)):
        triage.acknowledge(office.actor("edu_handler"), case)
    db.session.commit()
    assert local(case.due_at) == at(2026, 3, 11, 17, 30)
    return case


def test_extension_needs_the_rules_approver_and_drafts_a_notice(office, handling):
    case = handling
    change = deadline_changes.request_change(
        office.actor("edu_handler"), case, "extension", 3, "需现场核查"
    )
    db.session.commit()
    assert change.approver_role == "duty_officer"
    with pytest.raises(Forbidden):
        deadline_changes.decide_change(office.actor("leader"), change, True)
    with pytest.raises(InvalidTransition):
        deadline_changes.request_change(office.actor("edu_handler"), case, "pause", 1, "再申请")
    with frozen(at(2026, 3, 5, 10, 0)):
        deadline_changes.decide_change(office.actor("duty"), change, True, "同意")
    db.session.commit()
    assert local(case.due_at) == at(2026, 3, 16, 17, 30)  # 3/11 + 3 working days
    assert change.status == "approved" and local(change.new_due_at) == local(case.due_at)
    assert case.deadline_round == 2
    notice = db.session.scalar(select(Reply).where(Reply.kind == "notice"))
    assert notice is not None and notice.status == "draft" and "2026年03月16日" in notice.body
    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "case.deadline_change_requested" in actions
    assert "case.deadline_change_decided" in actions


def test_rejection_needs_a_reason_and_keeps_the_deadline(office, handling):
    case = handling
    change = deadline_changes.request_change(
        office.actor("edu_handler"), case, "pause", 2, "等待检测"
    )
    with pytest.raises(ValidationFailed):
        deadline_changes.decide_change(office.actor("duty"), change, False)
    deadline_changes.decide_change(office.actor("duty"), change, False, "理由不充分")
    db.session.commit()
    assert change.status == "rejected" and local(case.due_at) == at(2026, 3, 11, 17, 30)
    assert not [r for r in case.replies if r.kind == "notice"]


def test_pause_moves_the_deadline_and_shows_paused(office, handling):
    from sentinel.services import sla

    case = handling
    change = deadline_changes.request_change(
        office.actor("edu_handler"), case, "pause", 2, "等待检测"
    )
    with frozen(at(2026, 3, 5, 10, 0)):
        deadline_changes.decide_change(office.actor("duty"), change, True)
    assert local(case.due_at) == at(2026, 3, 13, 17, 30)
    assert local(case.paused_until) == at(2026, 3, 9, 17, 30)
    views = {v.clock: v for v in sla.clock_views(case, at(2026, 3, 6, 9, 0))}
    assert views["resolution"].state == "paused"


def test_return_then_redispatch_counts_the_ping_pong(office, handling):
    case = handling
    with pytest.raises(NotFound):
        returns.return_case(office.actor("health_handler"), case, "function")
    returns.return_case(office.actor("edu_handler"), case, "function", "应由卫健局办理")
    db.session.commit()
    assert case.status == "claimed" and case.unit_id is None and case.due_at is None
    assert case.return_count == 1
    triage.dispatch(office.actor("duty"), case, office.health)
    returns.return_case(office.actor("health_handler"), case, "territory")
    db.session.commit()
    assert case.return_count == 2
    records = db.session.scalars(select(CaseReturn).order_by(CaseReturn.id)).all()
    assert [(r.reason, r.outcome) for r in records] == [
        ("function", "redispatched"),
        ("territory", None),
    ]
    assert records[0].outcome_unit_id == office.health.id


def test_arbitration_forces_the_assignment(office, handling):
    case = handling
    with pytest.raises(InvalidTransition):
        returns.arbitrate(office.actor("duty"), case, office.health)
    returns.return_case(office.actor("edu_handler"), case, "authority")
    with pytest.raises(Forbidden):
        returns.arbitrate(office.actor("edu_handler"), case, office.health)
    returns.arbitrate(office.actor("duty"), case, office.edu, "经研究由教育局办理")
    db.session.commit()
    assert case.status == "dispatched" and case.unit_id == office.edu.id
    assert case.response_due_at is not None
    assert db.session.scalar(select(CaseReturn)).outcome == "arbitrated"
    with pytest.raises(InvalidTransition, match="仲裁"):
        returns.return_case(office.actor("edu_handler"), case, "function")


def test_assisting_unit_gets_a_sub_deadline(office, handling):
    case = handling
    with pytest.raises(Forbidden):
        returns.add_assist(office.actor("edu_handler"), case, office.health, 2)
    with frozen(at(2026, 3, 4, 11, 0)):
        assist = returns.add_assist(office.actor("duty"), case, office.health, 2)
    db.session.commit()
    assert assist.role == "assist" and local(assist.due_at) == at(2026, 3, 6, 17, 30)
    with pytest.raises(ValidationFailed):
        returns.add_assist(office.actor("duty"), case, office.health, 1)
    with pytest.raises(ValidationFailed, match="晚于"):
        returns.add_assist(office.actor("duty"), case, office.root, 20)
    returns.finish_assist(office.actor("edu_handler"), case, assist)
    assert assist.status == "done"


def test_case_page_shows_requests_returns_and_forms(client, auth, office, handling):
    case = handling
    auth.login("edu_handler")
    body = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "提交申请" in body and "退单原因" in body
    response = client.post(
        f"/cases/{case.id}/deadline-change",
        data={"kind": "extension", "days": "2", "reason": "需要协调"},
        follow_redirects=True,
    )
    assert "延期申请已提交" in response.get_data(as_text=True)
    auth.logout()
    auth.login("duty")
    assert f"#{case.id}" in client.get("/deadline-changes").get_data(as_text=True)
    change = db.session.scalar(select(DeadlineChange))
    response = client.post(
        f"/deadline-changes/{change.id}/decide", data={"decision": "approve"}, follow_redirects=True
    )
    body = response.get_data(as_text=True)
    assert "已批准" in body and "告知留言人" in body
    auth.logout()
    auth.login("edu_handler")
    response = client.post(
        f"/cases/{case.id}/return", data={"reason": "territory"}, follow_redirects=True
    )
    assert response.status_code == 200
    assert db.session.get(Case, case.id).return_count == 1
    auth.logout()
    auth.login("duty")
    body = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "退单记录（1 次）" in body and "仲裁指派到" in body


def test_other_units_cannot_act_on_the_case(client, auth, office, handling):
    auth.login("health_handler")
    assert (
        client.post(f"/cases/{handling.id}/return", data={"reason": "territory"}).status_code == 404
    )
    assert (
        client.post(
            f"/cases/{handling.id}/deadline-change",
            data={"kind": "pause", "days": "1", "reason": "x"},
        ).status_code
        == 404
    )
    assert client.post(f"/cases/{handling.id}/assist", data={"unit_id": "1"}).status_code == 403


def test_assisting_units_handlers_can_open_the_case(client, auth, office, handling):
    """协办: the assisting unit's handlers see the case (and its sub-deadline); other units
    still do not."""
    case = handling
    auth.login("health_handler")
    assert client.get(f"/cases/{case.id}").status_code == 404
    auth.logout()
    with frozen(at(2026, 3, 4, 11, 0)):
        returns.add_assist(office.actor("duty"), case, office.health, 2)
    db.session.commit()
    auth.login("health_handler")
    assert client.get(f"/cases/{case.id}").status_code == 200
    assert f"/cases/{case.id}" in client.get("/inbox/?tab=acknowledged").get_data(as_text=True)
    auth.logout()
    auth.login("edu_handler")
    assert client.get(f"/cases/{case.id}").status_code == 200
