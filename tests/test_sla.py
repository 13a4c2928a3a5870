"""Deadline clocks: rules by request type, first response in working hours, badges, recompute."""

from __future__ import annotations

from datetime import datetime
from unittest import mock

import pytest
from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, DeadlineRule
from sentinel.services import sla, triage, workcalendar
from sentinel.timefmt import SHANGHAI
from tests.support.replies import publish_answer

ACTOR = Actor(label="test")


@pytest.fixture
def calendar(app):
    workcalendar.seed_from_package(ACTOR)
    db.session.commit()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def run_at(moment: datetime, func, *args):
    """Run a transition with the clock it reads (``triage.utcnow``) frozen at ``moment``."""
    from datetime import UTC

    now = moment.astimezone(UTC)
    # Publishing an answer (services/review.py) reads its own clock for the publication.
    with (
        mock.patch("sentinel.services.triage.utcnow", return_value=now),
        mock.patch("sentinel.services.review.utcnow", return_value=now),
    ):
        return func(*args)


TEXTS = iter(f"第{i}号：请问小区门口的路灯什么时候能修好，已经坏了{i}天" for i in range(1000))


def make_case(office, request_type: str | None = "咨询", priority: int = 0) -> Case:
    case = office.case(next(TEXTS))
    case.request_type = request_type
    case.priority = priority
    db.session.commit()
    return case


def local(value: datetime | None) -> datetime | None:
    return value.astimezone(SHANGHAI) if value else None


@pytest.mark.parametrize(
    ("request_type", "ack", "due"),
    [
        ("咨询", at(2026, 9, 28, 10, 0), at(2026, 10, 8, 17, 30)),  # 3 days across National Day
        ("求助", at(2026, 2, 12, 9, 0), at(2026, 2, 26, 17, 30)),  # 5 days across Spring Festival
        ("投诉", at(2026, 9, 28, 10, 0), at(2026, 10, 21, 17, 30)),  # 13, with 10/10 调休
        ("举报", at(2026, 9, 28, 10, 0), at(2026, 10, 21, 17, 30)),
        (None, at(2026, 3, 2, 9, 0), at(2026, 3, 19, 17, 30)),  # default 13
    ],
)
def test_resolution_deadline_by_request_type_from_acknowledgement(
    office, calendar, request_type, ack, due
):
    case = make_case(office, request_type)
    run_at(ack.replace(hour=8), triage.dispatch, office.actor("duty"), case, office.edu)
    assert case.due_at is None  # the resolution clock starts at 签收
    run_at(ack, triage.acknowledge, office.actor("edu_handler"), case)
    db.session.commit()
    assert local(case.due_at) == due
    assert case.due_provisional is False


def test_first_response_is_four_working_hours_from_dispatch(office, calendar):
    case = make_case(office)
    run_at(at(2026, 9, 30, 16, 0), triage.dispatch, office.actor("duty"), case, office.edu)
    db.session.commit()
    # 1.5 h on 9/30, National Day 10/1–10/7, 2.5 h on 10/8 from 08:30.
    assert local(case.response_due_at) == at(2026, 10, 8, 11, 0)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.deadline_set")
    ).all()
    assert events and events[-1].data["event"] == "dispatch"


def test_urgent_cases_are_due_the_same_working_day(office, calendar):
    case = make_case(office, "投诉", priority=2)
    run_at(at(2026, 3, 4, 9, 0), triage.dispatch, office.actor("duty"), case, office.edu)
    run_at(at(2026, 3, 4, 10, 0), triage.acknowledge, office.actor("edu_handler"), case)
    assert local(case.due_at) == at(2026, 3, 4, 17, 30)
    late = make_case(office, "投诉", priority=2)
    run_at(at(2026, 3, 6, 18, 0), triage.dispatch, office.actor("duty"), late, office.edu)
    run_at(at(2026, 3, 6, 18, 5), triage.acknowledge, office.actor("edu_handler"), late)
    assert local(late.due_at) == at(2026, 3, 9, 17, 30)  # Friday evening → Monday


def test_more_specific_rule_wins_and_is_frozen_on_the_case(office, calendar):
    sla.save_rule(
        ACTOR,
        None,
        clock="resolution",
        request_type="咨询",
        unit_id=office.edu.id,
        start_event="dispatch",
        amount=1,
        amount_unit="days",
        approver_role="leader",
    )
    db.session.commit()
    case = make_case(office, "咨询")
    run_at(at(2026, 3, 4, 9, 0), triage.dispatch, office.actor("duty"), case, office.edu)
    assert local(case.due_at) == at(2026, 3, 5, 17, 30)  # from dispatch, 1 day
    assert case.clock_spec["resolution"]["approver"] == "leader"
    other = make_case(office, "咨询")
    run_at(at(2026, 3, 4, 9, 0), triage.dispatch, office.actor("duty"), other, office.health)
    assert other.due_at is None and other.clock_spec["resolution"]["amount"] == 3


def test_provisional_deadline_is_recomputed_when_the_year_is_loaded(
    office, calendar, runner, tmp_path
):
    case = make_case(office, "投诉")
    run_at(at(2026, 12, 28, 9, 0), triage.dispatch, office.actor("duty"), case, office.edu)
    run_at(at(2026, 12, 28, 10, 0), triage.acknowledge, office.actor("edu_handler"), case)
    db.session.commit()
    # Fallback: 12/29,30,31, (1/1 off), 1/4..1/8, 1/11..1/15 → 13th working day is 1/15.
    assert local(case.due_at) == at(2027, 1, 15, 17, 30)
    assert case.due_provisional
    path = tmp_path / "2027.csv"
    path.write_text(
        "date,kind,name\n2027-01-01,holiday,元旦\n2027-01-04,holiday,测试假日\n", encoding="utf-8"
    )
    result = runner.invoke(args=["calendar", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "重新计算临时时限 1 件" in result.output
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert local(case.due_at) == at(2027, 1, 18, 17, 30)
    assert case.due_provisional is False
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "case.deadline_recomputed")
    )


def test_answer_stops_the_clock(office, calendar):
    case = make_case(office)
    run_at(at(2026, 3, 4, 9, 0), triage.dispatch, office.actor("duty"), case, office.edu)
    run_at(at(2026, 3, 4, 9, 30), triage.acknowledge, office.actor("edu_handler"), case)
    run_at(at(2026, 3, 5, 9, 0), publish_answer, office, case, "已处理")
    assert case.deadline_state == "met"
    views = sla.clock_views(case, at(2026, 3, 20, 9, 0))
    assert [(v.clock, v.state) for v in views] == [("response", "met"), ("resolution", "met")]


def test_badges_read_remaining_working_time(office, calendar):
    case = make_case(office, "求助")
    run_at(at(2026, 9, 29, 9, 0), triage.dispatch, office.actor("duty"), case, office.edu)
    views = {v.clock: v for v in sla.clock_views(case, at(2026, 9, 29, 10, 0))}
    assert views["response"].text == "剩 3 工时" and views["response"].state == "soon"
    run_at(at(2026, 9, 29, 10, 0), triage.acknowledge, office.actor("edu_handler"), case)
    # 5 working days from 9/29: 9/30, 10/8, 10/9, 10/10 (Sat, 调休), 10/12.
    assert local(case.due_at) == at(2026, 10, 12, 17, 30)
    views = {v.clock: v for v in sla.clock_views(case, at(2026, 9, 30, 9, 0))}
    assert views["resolution"].text == "剩 4 个工作日"
    views = {v.clock: v for v in sla.clock_views(case, at(2026, 10, 12, 15, 30))}
    assert views["resolution"].text == "今日到期，剩 2 工时"
    views = {v.clock: v for v in sla.clock_views(case, at(2026, 10, 14, 9, 0))}
    assert views["resolution"].state == "overdue" and views["resolution"].text == "超期 2 个工作日"


def test_badges_render_on_case_page_and_lists(client, auth, office, calendar):
    case = make_case(office, "咨询")
    triage.dispatch(office.actor("duty"), case, office.edu)
    db.session.commit()
    auth.login("duty")
    body = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "首次响应" in body and "deadline-" in body and "设定时限" in body
    assert "deadline-" in client.get("/triage/?status=dispatched").get_data(as_text=True)
    auth.logout()
    auth.login("edu_handler")
    assert "deadline-" in client.get("/inbox/").get_data(as_text=True)


def test_rules_page_edits_are_audited_and_admin_only(client, auth, office):
    auth.login("duty")
    assert client.get("/admin/deadlines").status_code == 403
    auth.logout()
    auth.login("admin")
    assert client.get("/admin/deadlines").status_code == 200
    response = client.post(
        "/admin/deadlines",
        data={
            "clock": "resolution",
            "request_type": "咨询",
            "start_event": "acknowledge",
            "amount": "2",
            "amount_unit": "days",
            "approver_role": "leader",
        },
        follow_redirects=True,
    )
    assert "时限规则已保存" in response.get_data(as_text=True)
    rule = db.session.scalar(select(DeadlineRule))
    assert rule.amount == 2
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "deadline_rule.create"))
    bad = client.post(
        "/admin/deadlines",
        data={
            "clock": "resolution",
            "amount": "-1",
            "start_event": "dispatch",
            "amount_unit": "days",
            "approver_role": "leader",
        },
        follow_redirects=True,
    )
    assert "0–365" in bad.get_data(as_text=True)
