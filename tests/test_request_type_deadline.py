"""Request type and deadlines: a corrected type moves the deadline (audited, shown to the
unit, kept for training); a type the model is unsure about, between two types with
different deadlines, is flagged for a person. Forms run with CSRF on."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from unittest import mock

import pytest
from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, Item
from sentinel.services import corrections, sla, triage, workcalendar
from sentinel.timefmt import SHANGHAI
from tests.conftest import PASSWORD

ACTOR = Actor(label="test")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def handling(office) -> Case:
    """A 求助 case dispatched to 教育局 and acknowledged on Wednesday 2026-03-04 09:30
    (求助: 5 working days → 2026-03-11 17:30)."""
    workcalendar.seed_from_package(ACTOR)
    case = office.case("学校门口的人行道坏了很久，孩子上学很危险，恳请帮忙修一下")
    case.request_type = "求助"
    db.session.commit()
    moment = at(2026, 3, 4, 9, 0).astimezone(UTC)
    with mock.patch("sentinel.services.triage.utcnow", return_value=moment):
        triage.dispatch(office.actor("duty"), case, office.edu)
    with mock.patch("sentinel.services.triage.utcnow", return_value=moment.replace(minute=30)):
        triage.acknowledge(office.actor("edu_handler"), case)
    db.session.commit()
    assert case.due_at.astimezone(SHANGHAI) == at(2026, 3, 11, 17, 30)
    return case


def deadline_events(case: Case) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action == "case.deadline_recomputed",
                AuditEvent.object_id == case.id,
            )
            .order_by(AuditEvent.id)
        )
    )


def test_correcting_the_type_moves_the_deadline_from_the_frozen_rules(office, handling):
    case = handling
    corrections.correct(office.actor("duty"), case, "request_type", "投诉")
    db.session.commit()
    # 投诉: 13 working days from 签收 (Wed 03-04), the new rule frozen on the case.
    assert case.clock_spec["resolution"]["amount"] == 13
    assert case.due_at.astimezone(SHANGHAI) == at(2026, 3, 23, 17, 30)
    [event] = deadline_events(case)
    assert event.data["event"] == "request_type"
    assert "求助→投诉" in event.data["reason"]
    assert event.actor_id == office.users["duty"].id
    # Back to 咨询 (3 working days): earlier than the first deadline.
    corrections.correct(office.actor("duty"), case, "request_type", "咨询")
    db.session.commit()
    assert case.due_at.astimezone(SHANGHAI) == at(2026, 3, 9, 17, 30)
    assert len(deadline_events(case)) == 2
    # The last correction per item is a training row.
    rows = [r for r in corrections.training_rows() if r["field"] == "request_type"]
    assert rows == [
        {"text": case.items[0].text_normalised, "field": "request_type", "label": "咨询"}
    ]


def test_correction_before_dispatch_changes_no_deadline(office):
    case = office.case("请问孩子转学需要什么材料")
    case.request_type = "咨询"
    db.session.commit()
    corrections.correct(office.actor("duty"), case, "request_type", "求助")
    db.session.commit()
    assert case.due_at is None and deadline_events(case) == []
    # When it is dispatched and acknowledged, the corrected type's rule is used.
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    db.session.commit()
    assert case.clock_spec["resolution"]["amount"] == 5


class Browser:
    def __init__(self, app) -> None:
        self.client = app.test_client()

    def token(self, path: str) -> str:
        page = self.client.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def login(self, username: str) -> None:
        response = self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": self.token("/login")},
        )
        assert response.status_code == 302


def test_correction_form_needs_the_token_and_shows_the_new_deadline_to_the_unit(
    app, office, handling
):
    case = handling
    browser = Browser(app)
    browser.login("edu_handler")
    path = f"/cases/{case.id}"
    refused = browser.client.post(
        f"{path}/correct", data={"field": "request_type", "value": "投诉"}
    )
    assert refused.status_code in (400, 302)
    db.session.refresh(case)
    assert case.request_type == "求助"
    page = browser.client.post(
        f"{path}/correct",
        data={"field": "request_type", "value": "投诉", "csrf_token": browser.token(path)},
        follow_redirects=True,
    ).get_data(as_text=True)
    db.session.refresh(case)
    assert case.request_type == "投诉"
    assert "办理时限按规则重算为" in page
    # The unit sees the recomputation and why in the deadline panel.
    assert "时限重新计算" in page and "诉求类型更正：求助→投诉" in page


def _classify_with_margin(app, office, margin: float, text: str) -> Case:
    app.config["REQUEST_TYPE_MARGIN"] = margin
    return office.case(text)


UNSURE_TEXT = "我家孩子今年上小学，户口在外地，不知道能不能在这里入学，需要准备哪些材料"


def test_an_unsure_type_between_different_deadlines_needs_a_person(classified_app, office):
    app = classified_app
    case = _classify_with_margin(app, office, 1.0, UNSURE_TEXT)
    item = db.session.scalar(select(Item).where(Item.case_id == case.id))
    candidates = item.explanation["request_type_candidates"]
    # With margin 1.0 the model always reports its top two; the case is flagged exactly
    # when the two carry different deadlines.
    assert len(candidates) == 2 and candidates[0] == case.request_type
    assert sla.resolution_rules_differ(*candidates)
    assert case.needs_person is True
    browser = Browser(app)
    browser.login("duty")
    page = browser.client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f"诉求类型待确认：{candidates[0]} 或 {candidates[1]}" in page
    # A person decides: the flag goes (the topic was sure or is not the question here).
    other = candidates[1]
    corrections.correct(office.actor("duty"), case, "request_type", other)
    db.session.commit()
    if not item.explanation.get("topic_needs_person"):
        assert case.needs_person is False
    page = browser.client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "诉求类型待确认" not in page


def test_a_sure_type_is_not_flagged(classified_app, office):
    case = _classify_with_margin(classified_app, office, 0.0, UNSURE_TEXT)
    item = db.session.scalar(select(Item).where(Item.case_id == case.id))
    assert item.explanation["request_type_candidates"] == []
    assert case.needs_person is bool(item.explanation["topic_needs_person"])


def test_types_with_the_same_deadline_are_not_unsure(app):
    assert not sla.resolution_rules_differ("投诉", "举报")
    assert not sla.resolution_rules_differ("建议", "投诉")
    assert sla.resolution_rules_differ("咨询", "投诉")
    assert sla.resolution_rules_differ("求助", "咨询")
