"""Issue 12: escalation alerts (once per level, e-mail and chat robots with retries),
the 会商 consultation's transitions, its 61号 clocks on wall-clock and working time, the
agreed line on case pages, and unit scope on the leaders' board and the alert feed."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from sentinel.auth.permissions import Actor
from sentinel.errors import Forbidden, InvalidTransition, ValidationFailed
from sentinel.extensions import db
from sentinel.jobs.alerts import alert_sweep
from sentinel.models import (
    Alert,
    AlertDelivery,
    AuditEvent,
    Consultation,
    Event,
    EventItem,
    utcnow,
)
from sentinel.services import (
    board,
    consult_clocks,
    consultations,
    events,
    triage,
    users,
    webhooks,
)
from sentinel.timefmt import SHANGHAI
from tests.conftest import PASSWORD, SEED_ACTOR

SYSTEM = Actor.system("heat")


def make_event(office, text: str = "阳光小区车位捆绑销售，业主强烈不满", unit=None, places=None):
    """A fresh event holding one case, dispatched to ``unit`` (the education bureau)."""
    case = office.case(text)
    triage.dispatch(office.actor("duty"), case, unit or office.edu)
    now = utcnow()
    event = Event(title=text[:30], first_at=now, last_at=now, item_count=1, asker_count=1)
    db.session.add(event)
    db.session.flush()
    placed = db.session.scalar(select(EventItem).where(EventItem.item_id == case.items[0].id))
    if placed is not None:  # clustering placed it already: this test's event takes it
        placed.event_id = event.id
    else:
        db.session.add(
            EventItem(event_id=event.id, item_id=case.items[0].id, case_id=case.id, item_at=now)
        )
    event.heat = 12.5
    event.places = places or []
    db.session.commit()
    return event, case


def audit_actions(consultation: Consultation) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(
                AuditEvent.object_type == "consultation", AuditEvent.object_id == consultation.id
            )
            .order_by(AuditEvent.id)
        )
    )


# --------------------------------------------------------------------------- escalation


def test_escalation_opens_a_consultation_and_alerts_once_per_level_under_a_storm(app, office):
    """100 items pushing one event over the threshold: one alert per level, one
    consultation, and the feed shows it."""
    event, _ = make_event(office)
    for _ in range(100):
        # Each item recomputes heat over the first threshold and asks to escalate.
        events.escalate(event, level=events.level_for_heat(event.heat, [10, 50, 100]), actor=SYSTEM)
        db.session.commit()
    escalation = db.session.scalars(select(events.EventEscalation)).one()
    for _ in range(100):
        # A second worker running the hook for the same escalation sends nothing more.
        consultations.on_event_escalated(event, escalation, SYSTEM)
        db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 1
    assert db.session.scalar(select(func.count()).select_from(Consultation)) == 1
    consultation = consultations.for_event(event.id)
    assert consultation.level == "general"
    assert [c.kind for c in consultation.clocks] == ["respond"]
    # A higher level is a new alert (once), and raises the consultation's level.
    event.heat = 120.0
    for _ in range(100):
        events.escalate(event, level=3, actor=SYSTEM)
        db.session.commit()
    levels = sorted(db.session.scalars(select(Alert.level)))
    assert levels == ["1", "3"]
    db.session.refresh(consultation)
    assert consultation.level == "major"
    assert sorted(c.kind for c in consultation.clocks) == ["authoritative", "press", "respond"]


def test_the_unique_constraint_refuses_a_second_alert_for_one_level(app, office):
    event, _ = make_event(office)
    for _ in range(2):
        db.session.add(
            Alert(event_id=event.id, kind="escalation", level="2", title="x", unit_ids=[], path="")
        )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_feed_shows_alerts_at_once_within_unit_scope(app, office, client, auth):
    event, _ = make_event(office)
    office.users["duty_health"] = users.create_user(
        SEED_ACTOR, "duty_health", PASSWORD, "duty_officer", [office.health]
    )
    db.session.commit()
    auth.login("duty")
    before = client.get("/alerts/feed?after=0").get_json()
    events.escalate(event, level=2, actor=SYSTEM)
    db.session.commit()
    data = client.get(f"/alerts/feed?after={before['max_id']}").get_json()
    assert [a["title"] for a in data["alerts"]] == [f"事件升级为“较大”：{event.title}"]
    assert data["alerts"][0]["url"].startswith("/consultations/")
    auth.logout()
    auth.login("duty_health")
    assert client.get("/alerts/feed?after=0").get_json()["alerts"] == []


# --------------------------------------------------------------------------- webhooks


class Robot:
    """A local chat robot: answers the first ``fail`` POSTs with an error, then 0."""

    def __init__(self, fail: int = 0, mode: str = "http500") -> None:
        self.fail, self.mode = fail, mode
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                robot.bodies.append(json.loads(self.rfile.read(length)))
                robot.paths.append(self.path)
                if len(robot.bodies) <= robot.fail and robot.mode == "http500":
                    self.send_response(500)
                    self.end_headers()
                    return
                code = 310000 if len(robot.bodies) <= robot.fail else 0
                answer = json.dumps({"errcode": code, "errmsg": "keywords not in content"})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send?key=k"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Robot:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _delivery() -> AlertDelivery:
    db.session.expire_all()
    return db.session.scalars(select(AlertDelivery)).one()


def test_webhook_fails_then_succeeds_on_retry_with_back_off(app, office):
    app.config.update(ALERT_RETRY_BASE_S=30, ALERT_MAX_ATTEMPTS=4)
    with Robot(fail=2) as robot:
        app.config.update(ALERT_WEBHOOK_URL=robot.url, ALERT_WEBHOOK_FORMAT="wecom")
        event, _ = make_event(office)
        events.escalate(event, level=1, actor=SYSTEM)
        db.session.commit()  # the deliver job runs after commit (sync in tests)
        first = _delivery()
        assert (first.status, first.attempts) == ("pending", 1)
        assert first.last_error == "HTTP 500"
        waited = (first.next_attempt_at - utcnow()).total_seconds()
        assert 25 < waited <= 30
        # Not due yet: the sweep leaves it alone.
        alert_sweep()
        assert _delivery().attempts == 1
        # Due: second try fails again (back-off doubles), third succeeds.
        first.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        alert_sweep()
        second = _delivery()
        assert (second.status, second.attempts) == ("pending", 2)
        assert 55 < (second.next_attempt_at - utcnow()).total_seconds() <= 60
        second.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        alert_sweep()
        done = _delivery()
        assert (done.status, done.attempts) == ("sent", 3)
        assert done.sent_at is not None
    assert len(robot.bodies) == 3
    body = robot.bodies[-1]
    assert body["msgtype"] == "markdown"
    assert event.title in body["markdown"]["content"]
    assert "/consultations/" in body["markdown"]["content"]


def test_robot_error_code_in_a_200_is_a_failure_and_the_last_attempt_is_final(
    app, office, client, auth
):
    app.config.update(ALERT_MAX_ATTEMPTS=2)
    with Robot(fail=5, mode="errcode") as robot:
        app.config.update(ALERT_WEBHOOK_URL=robot.url, ALERT_WEBHOOK_FORMAT="dingtalk")
        event, _ = make_event(office)
        events.escalate(event, level=1, actor=SYSTEM)
        db.session.commit()
        d = _delivery()
        assert d.status == "pending" and "310000" in d.last_error
        d.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        alert_sweep()
        d = _delivery()
        assert (d.status, d.attempts) == ("failed", 2)
        assert d.next_attempt_at is None
        # The admin page lists it; 立即重试 gives it a fresh set of attempts and sends at
        # once (the robot still refuses: pending again, with the error shown).
        auth.login("admin")
        page = client.get("/admin/alerts").get_data(as_text=True)
        assert "发送失败" in page and "310000" in page
        assert client.post(f"/admin/alerts/{d.id}/retry").status_code == 302
        d = _delivery()
        assert (d.status, d.attempts) == ("pending", 1)
        assert len(robot.bodies) == 3
    body = robot.bodies[0]
    assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"title", "text"}


def test_each_robot_format_and_signature():
    wecom = webhooks.payload("wecom", "标题", "内容")
    assert wecom == {"msgtype": "markdown", "markdown": {"content": "**标题**\n内容"}}
    ding = webhooks.payload("dingtalk", "标题", "内容")
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == "标题"
    feishu = webhooks.payload("feishu", "标题", "内容")
    assert feishu == {"msg_type": "text", "content": {"text": "标题\n内容"}}
    url, _ = webhooks.sign(
        "dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=t", ding, "SEC", 1700000000.0
    )
    assert "&timestamp=1700000000000&sign=" in url
    _, signed = webhooks.sign("feishu", "https://open.feishu.cn/x", feishu, "SEC", 1700000000.0)
    assert signed["timestamp"] == "1700000000" and signed["sign"]
    with pytest.raises(ValueError):
        webhooks.payload("slack", "t", "x")


def test_email_alert_goes_to_officers_whose_scope_covers_the_event(app, office, smtp):
    office.users["duty"].email = "duty@example.gov.cn"
    office.users["health_handler"].email = "health@example.gov.cn"
    db.session.commit()
    event, _ = make_event(office)
    events.escalate(event, level=2, actor=SYSTEM)
    db.session.commit()
    d = _delivery()
    assert (d.channel, d.status) == ("email", "sent")
    assert len(smtp.messages) == 1
    assert smtp.messages[0].rcpt_tos == ["duty@example.gov.cn"]


@pytest.fixture
def smtp(app):
    from aiosmtpd.controller import Controller

    from tests.test_reminders import Sink

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


# --------------------------------------------------------------------------- transitions


def test_every_consultation_transition_is_audited_in_order(app, office, client, auth):
    event, case = make_event(office)
    duty, edu = office.actor("duty"), office.actor("edu_handler")
    c = consultations.open_consultation(duty, event)
    assert c.status == "open" and c.level is None
    assert c.responsible_unit_id == office.edu.id  # suggested: the unit handling its cases
    consultations.assess(duty, c, "major")
    assert sorted(k.kind for k in c.clocks) == ["authoritative", "press", "respond"]
    consultations.assess(duty, c, "large")  # lowered: 重大-only clocks stop
    assert {k.kind: k.cancelled_at is not None for k in c.clocks} == {
        "respond": False,
        "authoritative": True,
        "press": True,
    }
    consultations.set_responsible(duty, c, office.health)
    invite = consultations.invite(duty, c, office.edu)
    with pytest.raises(InvalidTransition):
        consultations.invite(duty, c, office.edu)
    with pytest.raises(Forbidden):
        consultations.confirm(office.actor("health_handler"), c, invite)
    consultations.confirm(edu, c, invite, "派副局长参加")
    assert invite.confirmed_at is not None
    consultations.record_minutes(duty, c, "教育局通报核查情况")
    consultations.set_agreed_line(duty, c, "已责成属地街道与开发商约谈，车位不得捆绑销售。")
    clock = consultations.meet_clock(duty, c, "respond")
    assert clock.met_at is not None and clock.state(utcnow()) == "met"
    with pytest.raises(InvalidTransition):
        consultations.close_with_review(duty, c, "过早")
    consultations.decide(duty, c, "住建局牵头，三日内回应")
    assert c.status == "decided"
    consultations.close_with_review(duty, c, "回应及时，舆情平息")
    assert c.status == "closed" and c.closed_at is not None
    with pytest.raises(InvalidTransition):
        consultations.set_agreed_line(duty, c, "改口径")
    db.session.commit()
    assert audit_actions(c) == [
        "consultation.open",
        "consultation.assess",
        "consultation.assess",
        "consultation.responsible",
        "consultation.invite",
        "consultation.confirm",
        "consultation.minutes",
        "consultation.agreed_line",
        "consultation.clock_met",
        "consultation.decide",
        "consultation.close",
    ]
    # The agreed line is shown on the event's case page.
    auth.login("edu_handler")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "统一口径" in page and "车位不得捆绑销售" in page


def test_decide_needs_a_level_and_text(app, office):
    event, _ = make_event(office)
    duty = office.actor("duty")
    c = consultations.open_consultation(duty, event)
    with pytest.raises(ValidationFailed, match="研判等级"):
        consultations.decide(duty, c, "决策")
    consultations.assess(duty, c, "general")
    with pytest.raises(ValidationFailed, match="会商决策"):
        consultations.decide(duty, c, "  ")


def test_suggestion_prefers_the_topic_owner_inside_the_place_area(app, office):
    """属地管理 + 谁主管谁负责: a county unit whose name holds the place, and the unit that
    owns the event's topic."""
    from sentinel.services import units

    county = units.create_unit(SEED_ACTOR, "A市A3区人民政府", "county", office.root)
    housing = units.create_unit(SEED_ACTOR, "A3区住建局", "department", county)
    app.config["CONSULT_TOPIC_UNITS"] = {"城乡建设": "A3区住建局"}
    event, case = make_event(office, places=["A3区", "阳光小区"])
    case.topic = "城乡建设"
    db.session.commit()
    found = consultations.suggest_units(event)
    assert [s.unit.id for s in found[:3]] == [housing.id, county.id, office.edu.id]
    assert found[0].reason == "属地管理 + 谁主管谁负责"
    assert found[1].reason == "属地管理"


# --------------------------------------------------------------------------- clocks


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


@pytest.mark.parametrize(
    ("basis", "hours", "due"),
    [
        # 61号 counts wall-clock time: Friday 16:00 + 5 h is Friday 21:00.
        ("wall", 5, "2026-03-06 21:00"),
        # On working time: 1.5 h on Friday (to 17:30), 3.5 h on Monday from 08:30.
        ("working", 5, "2026-03-09 12:00"),
        ("wall", 48, "2026-03-08 16:00"),
        # 48 working hours at 7.5 h a day: 1.5 h Friday, 37.5 h the next week, 7.5 h
        # Monday the 16th, the last 1.5 h on Tuesday the 17th from 08:30.
        ("working", 48, "2026-03-17 10:00"),
    ],
)
def test_clock_due_on_wall_clock_and_on_the_working_calendar(app, basis, hours, due):
    spec = consult_clocks.ClockSpec("authoritative", hours, basis)
    got, _warn = consult_clocks.due_and_warn(_at("2026-03-06 16:00"), spec, None, 0.2)
    assert got == _at(due)


def test_the_clock_basis_is_a_setting(app, office):
    app.config.update(CONSULT_RESPOND_BASIS="working", CONSULT_RESPOND_HOURS=5)
    event, _ = make_event(office)
    c = consultations.open_consultation(
        office.actor("duty"), event, "general", now=_at("2026-03-06 16:00")
    )
    (clock,) = c.clocks
    assert (clock.basis, clock.hours, clock.due_at) == ("working", 5.0, _at("2026-03-09 12:00"))
    app.config.update(CONSULT_RESPOND_BASIS="wall")
    event2, _ = make_event(office, "第二个事件：学校门口道路积水")
    c2 = consultations.open_consultation(
        office.actor("duty"), event2, "general", now=_at("2026-03-06 16:00")
    )
    assert c2.clocks[0].due_at == _at("2026-03-06 21:00")


def test_approaching_then_breached_clocks_alert_the_owners_once(app, office):
    event, _ = make_event(office)
    duty = office.actor("duty")
    start = utcnow() - timedelta(hours=40)  # 48 h respond clock: 8 h left (< 20 %)
    c = consultations.open_consultation(duty, event, "general", now=start)
    consultations.invite(duty, c, office.health)
    db.session.commit()
    for _ in range(3):
        alert_sweep()
    clock = c.clocks[0]
    db.session.refresh(clock)
    assert clock.warned_at is not None and clock.breached_at is None
    assert db.session.scalars(select(Alert.level).where(Alert.kind == "clock")).all() == [
        "respond:approaching"
    ]
    alert = db.session.scalars(select(Alert).where(Alert.kind == "clock")).one()
    assert sorted(alert.unit_ids) == sorted([office.edu.id, office.health.id])
    consultations.sweep_clocks(utcnow() + timedelta(hours=9))
    consultations.sweep_clocks(utcnow() + timedelta(hours=10))
    db.session.commit()
    assert sorted(db.session.scalars(select(Alert.level).where(Alert.kind == "clock"))) == [
        "respond:approaching",
        "respond:breached",
    ]
    db.session.refresh(clock)
    assert clock.breached_at is not None
    # Met late: recorded as such for the reports.
    consultations.meet_clock(duty, c, "respond", now=utcnow() + timedelta(hours=11))
    assert clock.state(utcnow()) == "met_late"


# --------------------------------------------------------------------------- board


def test_board_shows_a_leader_only_the_events_touching_their_units(app, office, client, auth):
    edu_event, _ = make_event(office, "学校食堂饭菜质量差，多名家长反映")
    health_event, _ = make_event(office, "县医院挂号难，排队三小时", unit=office.health)
    for ev in (edu_event, health_event):
        events.escalate(ev, level=1, actor=SYSTEM)
    users.create_user(SEED_ACTOR, "leader_health", PASSWORD, "leader", [office.health])
    db.session.commit()
    auth.login("leader")
    page = client.get("/board").get_data(as_text=True)
    assert edu_event.title in page and health_event.title in page
    auth.logout()
    auth.login("leader_health")
    page = client.get("/board").get_data(as_text=True)
    assert health_event.title in page and edu_event.title not in page
    data = client.get("/board/data").get_json()
    assert health_event.title in data["html"] and edu_event.title not in data["html"]
    assert [s["event_id"] for s in data["curves"]["series"]] == [health_event.id]
    # The other unit's consultation is a 404, not a 403 (ids do not leak).
    other = consultations.for_event(edu_event.id)
    assert client.get(f"/consultations/{other.id}").status_code == 404


def test_board_orders_consultations_by_the_nearest_clock(app, office):
    duty = office.actor("duty")
    late, _ = make_event(office, "事件甲：供水中断")
    soon, _ = make_event(office, "事件乙：道路塌陷")
    consultations.open_consultation(duty, late, "general", now=utcnow())
    consultations.open_consultation(duty, soon, "general", now=utcnow() - timedelta(hours=30))
    db.session.commit()
    rows = board.consultations_for(office.users["leader"])
    assert [r.event.id for r in rows] == [soon.id, late.id]
    assert rows[0].remaining in ("剩余 17 小时 59 分", "剩余 18 小时 0 分")


# --------------------------------------------------------------------------- forms (CSRF on)


class TestFormsWithCsrf:
    """The forms as served: CSRF on."""

    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_the_agreed_line_form_needs_the_page_token(self, app, office, client):
        from tests.test_duplicates import csrf_login, page_token

        event, _ = make_event(office)
        c = consultations.open_consultation(office.actor("duty"), event)
        db.session.commit()
        csrf_login(client, "duty")
        url = f"/consultations/{c.id}/line"
        refused = client.post(url, data={"agreed_line": "口径"})
        assert refused.status_code == 400
        db.session.refresh(c)
        assert c.agreed_line is None
        _, token = page_token(client, f"/consultations/{c.id}")
        ok = client.post(url, data={"agreed_line": "已责成核查", "csrf_token": token})
        assert ok.status_code == 302
        db.session.refresh(c)
        assert c.agreed_line == "已责成核查"


def test_demo_opens_one_consultation_on_the_hottest_event(app, office):
    from sentinel.services import consult_demo

    cool, _ = make_event(office, "公园路灯不亮")
    hot, _ = make_event(office, "阳光小区车位捆绑销售")
    cool.heat, hot.heat = 3.0, 40.0
    db.session.commit()
    c = consult_demo.seed()
    db.session.commit()
    assert c is not None and c.event_id == hot.id and c.is_open
    assert c.level == "major" and c.agreed_line and c.minutes
    assert sorted(k.kind for k in c.clocks) == ["authoritative", "press", "respond"]
    assert db.session.scalars(select(Alert.level).where(Alert.event_id == hot.id)).all() == ["3"]
    assert consult_demo.seed() is None


def test_event_page_links_to_its_consultation(app, office, client, auth):
    event, _case = make_event(office)
    auth.login("duty")
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "会商 #" not in page
    c = consultations.open_consultation(office.actor("duty"), event)
    consultations.set_agreed_line(office.actor("duty"), c, "车位不得捆绑销售。")
    db.session.commit()
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert f'href="/consultations/{c.id}"' in page and "统一口径已确定" in page
