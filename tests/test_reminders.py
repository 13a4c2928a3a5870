"""The deadline sweep: ladder rungs, idempotency, a crash mid-sweep, e-mail, DOCX, watchdog."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from sqlalchemy import func, select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.jobs.deadlines import sweep
from sentinel.models import Case, JobRun, Reminder
from sentinel.services import deadline_changes, mailer, notice_docx, triage, workcalendar
from sentinel.timefmt import SHANGHAI

ACTOR = Actor(label="test")
TEXTS = iter(f"第{i}号：请问小区门口的路灯什么时候能修好，已经坏了{i}天" for i in range(1000))
NOW = datetime(2026, 3, 11, 10, 0, tzinfo=SHANGHAI)  # a Wednesday


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def calendar(app):
    workcalendar.seed_from_package(ACTOR)
    db.session.commit()


class Sink:
    """aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[object] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(app):
    """A local SMTP sink; the app is configured to send to it."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    yield sink
    controller.stop()
    app.config["SMTP_HOST"] = None


def open_case(office, due: datetime, unit=None) -> Case:
    """An acknowledged case whose resolution deadline is ``due``."""
    case = office.case(next(TEXTS))
    triage.dispatch(office.actor("duty"), case, unit or office.edu)
    triage.acknowledge(office.actor("admin"), case)
    case.due_at = due.astimezone(UTC)
    db.session.commit()
    return case


@pytest.fixture
def ladder(office, calendar):
    office.users["edu_handler"].email = "edu@example.gov.cn"
    db.session.commit()
    return {
        "tomorrow": open_case(office, at(2026, 3, 12, 17, 30)),
        "today": open_case(office, at(2026, 3, 11, 17, 30)),
        "t_plus_1": open_case(office, at(2026, 3, 10, 17, 30)),
        "t_plus_5": open_case(office, at(2026, 3, 4, 17, 30)),
        "later": open_case(office, at(2026, 3, 20, 17, 30)),
    }


def kinds(case: Case) -> set[str]:
    return set(db.session.scalars(select(Reminder.kind).where(Reminder.case_id == case.id)))


def test_the_ladder_rungs(ladder, app):
    result = sweep(NOW)
    assert kinds(ladder["tomorrow"]) == {"due_soon"}
    assert kinds(ladder["today"]) == {"due_soon"}
    assert kinds(ladder["t_plus_1"]) == {"overdue", "notice"}
    assert kinds(ladder["t_plus_5"]) == {"overdue", "notice", "report"}
    assert kinds(ladder["later"]) == set()
    db.session.expire_all()
    states = {name: db.session.get(Case, c.id).deadline_state for name, c in ladder.items()}
    assert states == {
        "tomorrow": "due_soon",
        "today": "due_soon",
        "t_plus_1": "notice",
        "t_plus_5": "report",
        "later": None,
    }
    assert result.documents == 2 and result.delivered == 7 and result.backlog == 0
    notice = db.session.scalar(select(Reminder).where(Reminder.kind == "notice"))
    import docx

    path = f"{notice_docx.document_dir()}/{notice.document_path}"
    text = "\n".join(p.text for p in docx.Document(path).paragraphs)
    assert "催办通知书" in text and "县教育局" in text


def test_sweeping_twice_sends_nothing_twice(ladder, smtp):
    first = sweep(NOW)
    assert first.emails == 7 and len(smtp.messages) == 7
    assert all(m.rcpt_tos == ["edu@example.gov.cn"] for m in smtp.messages)
    second = sweep(NOW)
    assert second.created == {k: 0 for k in first.created}
    assert second.emails == 0 and second.delivered == 0 and len(smtp.messages) == 7
    assert db.session.scalar(select(func.count()).select_from(Reminder)) == 7


def test_a_crash_mid_sweep_neither_loses_nor_repeats(ladder, smtp):
    real = mailer.send_email
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("worker killed")
        real(*args)

    with mock.patch.object(mailer, "send_email", flaky), pytest.raises(ConnectionError):
        sweep(NOW)
    db.session.rollback()
    assert len(smtp.messages) == 2
    # Every rung was recorded before delivery started.
    assert db.session.scalar(select(func.count()).select_from(Reminder)) == 7
    result = sweep(NOW)
    assert result.emails == 5 and len(smtp.messages) == 7
    subjects = [m.content.decode() for m in smtp.messages]
    assert len(set(subjects)) == 7  # no reminder e-mailed twice
    assert (
        db.session.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.sent_at.is_(None))
        )
        == 0
    )


def test_an_approved_extension_clears_the_state_and_starts_a_new_round(office, ladder):
    case = ladder["today"]
    # Make the frozen rule agree with the due time: 5 working days from 签收 on 3/4.
    case.clock_spec = {
        **case.clock_spec,
        "resolution": {**case.clock_spec["resolution"], "amount": 5},
    }
    case.clock_started_at = at(2026, 3, 4, 9, 30).astimezone(UTC)
    db.session.commit()
    sweep(NOW)
    assert db.session.get(Case, case.id).deadline_state == "due_soon"
    change = deadline_changes.request_change(
        office.actor("edu_handler"), case, "extension", 5, "需协调"
    )
    deadline_changes.decide_change(office.actor("duty"), change, True)
    db.session.commit()
    assert case.due_at.astimezone(SHANGHAI) == at(2026, 3, 18, 17, 30)
    assert case.deadline_state is None and case.deadline_round == 2
    assert not sweep(NOW).created["due_soon"]
    later = sweep(at(2026, 3, 17, 10, 0))
    assert later.created["due_soon"] >= 1
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.case_id == case.id, Reminder.kind == "due_soon")
        )
        == 2
    )


def test_paused_cases_are_not_chased(office, ladder):
    case = ladder["tomorrow"]
    case.paused_until = (NOW + timedelta(days=3)).astimezone(UTC)
    db.session.commit()
    sweep(NOW)
    assert kinds(case) == set()


def test_assisting_unit_past_its_sub_deadline_is_chased(office, calendar):
    from sentinel.services import returns

    case = open_case(office, at(2026, 3, 20, 17, 30))
    with mock.patch.object(returns, "utcnow", return_value=at(2026, 3, 9, 9, 0).astimezone(UTC)):
        assist = returns.add_assist(office.actor("duty"), case, office.health, 1)
    db.session.commit()
    assert assist.due_at.astimezone(SHANGHAI) == at(2026, 3, 10, 17, 30)
    sweep(NOW)
    row = db.session.scalar(select(Reminder).where(Reminder.kind == "assist_overdue"))
    assert row is not None and row.unit_id == office.health.id


def test_cli_sweep_prints_what_it_did_and_records_a_run(runner, ladder):
    result = runner.invoke(args=["sweep"])
    assert result.exit_code == 0, result.output
    assert "新增催办记录" in result.output and "已送达" in result.output
    run = db.session.scalar(select(JobRun).where(JobRun.name == "deadline_sweep"))
    assert run is not None and run.status == "succeeded"


def test_watchdog_fails_health_and_warns_admins(runner, client, auth, ladder):
    from sentinel.models import utcnow

    # Deadlines exist and the sweep never ran: unhealthy.
    result = runner.invoke(args=["health"])
    assert result.exit_code == 1 and "时限巡检从未成功运行" in result.output
    runner.invoke(args=["sweep"])
    assert runner.invoke(args=["health"]).exit_code in (0, 1)
    assert "时限巡检" not in runner.invoke(args=["health"]).output
    # Eleven minutes later without a success: unhealthy, and administrators see it.
    run = db.session.scalar(select(JobRun).where(JobRun.name == "deadline_sweep"))
    run.finished_at = utcnow() - timedelta(minutes=11)
    db.session.commit()
    result = runner.invoke(args=["health"])
    assert result.exit_code == 1 and "deadline_sweep" in result.output
    auth.login("admin")
    assert "时限巡检已 11 分钟未成功运行" in client.get("/reminders").get_data(as_text=True)
    assert "时限巡检已 11 分钟未成功运行" in client.get("/triage/").get_data(as_text=True)
    auth.logout()
    auth.login("duty")
    assert "时限巡检" not in client.get("/triage/").get_data(as_text=True)


def test_reminders_page_and_document_are_scoped(client, auth, office, ladder):
    sweep(NOW)
    notice = db.session.scalar(select(Reminder).where(Reminder.kind == "notice"))
    auth.login("edu_handler")
    body = client.get("/reminders").get_data(as_text=True)
    assert "催办通知书" in body
    response = client.get(f"/reminders/{notice.id}/document")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    assert f"/reminders/{notice.id}/document" in client.get(f"/cases/{notice.case_id}").get_data(
        as_text=True
    )
    auth.logout()
    auth.login("health_handler")
    assert client.get(f"/reminders/{notice.id}/document").status_code == 404
    assert "催办通知书" not in client.get("/reminders").get_data(as_text=True)
