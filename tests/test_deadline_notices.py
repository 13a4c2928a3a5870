"""Honest 延期/暂停 actions: the notice to the asker is a draft (public wording, no internal
reason) and the page says so; pending requests end with 退单 / re-dispatch; one list of
request types everywhere. Forms run with CSRF on."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import select, text

from classifiers.data import REQUEST_TYPES
from sentinel.auth.permissions import Actor
from sentinel.errors import Forbidden, InvalidTransition, ValidationFailed
from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, DeadlineChange, Reply
from sentinel.services import deadline_changes, returns, sla, triage, workcalendar
from sentinel.timefmt import SHANGHAI
from tests.conftest import PASSWORD
from tests.support.replies import publish_answer

ACTOR = Actor(label="test")
TEXTS = iter(f"第{i}号：请问学校门口的人行道什么时候能修好，已经坏了{i}天" for i in range(1000))
INTERNAL_REASON = "局长出差，班子会议未开"  # the unit's internal reason: never public
INTERNAL_NOTE = "同意，下不为例"  # the approver's internal note: never public


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def handling(office) -> Case:
    """A 求助 case dispatched to 教育局 and acknowledged on Wednesday 2026-03-04 09:30."""
    workcalendar.seed_from_package(ACTOR)
    case = office.case(next(TEXTS))
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


def request_extension(office, case: Case, days: int = 3) -> DeadlineChange:
    change = deadline_changes.request_change(
        office.actor("edu_handler"), case, "extension", days, INTERNAL_REASON
    )
    db.session.commit()
    return change


def notices(case: Case) -> list[Reply]:
    return list(
        db.session.scalars(select(Reply).where(Reply.case_id == case.id, Reply.kind == "notice"))
    )


class Browser:
    """A test client that logs in and posts forms with the page's CSRF token."""

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

    def logout(self) -> None:
        # The tests' app context outlives requests, so Flask-Login's cached user must go.
        token = self.token("/inbox/")
        assert self.client.post("/logout", data={"csrf_token": token}).status_code == 302

    def post(self, path: str, data: dict[str, str], token_from: str) -> str:
        response = self.client.post(
            path, data={**data, "csrf_token": self.token(token_from)}, follow_redirects=True
        )
        assert response.status_code == 200
        return response.get_data(as_text=True)


# --------------------------------------------------------------------------- the notice


def test_approval_drafts_a_public_notice_and_sends_nothing(office, handling):
    case = handling
    change = request_extension(office, case)
    with mock.patch(
        "sentinel.services.deadline_changes.utcnow",
        return_value=at(2026, 3, 5, 10, 0).astimezone(UTC),
    ):
        draft = deadline_changes.decide_change(office.actor("duty"), change, True, INTERNAL_NOTE)
    db.session.commit()
    [notice] = notices(case)
    assert draft is notice
    assert notice.status == "draft"  # nothing was sent: it waits for review
    assert not db.session.scalar(select(Reply).where(Reply.status == "sent"))
    assert INTERNAL_REASON not in notice.body and INTERNAL_NOTE not in notice.body
    assert "延长 3 个工作日" in notice.body and "2026年03月16日" in notice.body
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "case.deadline_change_decided")
    )
    assert event.data["notice_reply_id"] == notice.id and event.data["notice_edited"] is False


def test_pause_notice_uses_the_template_setting(app, office, handling):
    app.config["DEADLINE_NOTICE_TEMPLATE"] = "办理时限{action}{days}个工作日，新时限{due_date}。"
    change = deadline_changes.request_change(
        office.actor("edu_handler"), handling, "pause", 2, INTERNAL_REASON
    )
    deadline_changes.decide_change(office.actor("duty"), change, True)
    [notice] = notices(handling)
    assert notice.body == "办理时限暂停2个工作日，新时限2026年03月13日。"


def test_a_template_with_unknown_placeholders_is_refused(app_config):
    from sentinel import create_app

    with pytest.raises(RuntimeError, match="DEADLINE_NOTICE_TEMPLATE"):
        create_app({**app_config, "DEADLINE_NOTICE_TEMPLATE": "因{reason}延期至{due_date}"})


def test_the_approver_may_reword_the_notice_and_it_stays_a_draft(office, handling):
    change = request_extension(office, handling)
    with pytest.raises(ValidationFailed):
        deadline_changes.decide_change(office.actor("duty"), change, True, notice="x" * 1001)
    assert change.status == "pending"
    deadline_changes.decide_change(office.actor("duty"), change, True, notice="  新的公开说明。  ")
    [notice] = notices(handling)
    assert notice.body == "新的公开说明。" and notice.status == "draft"


def test_draft_notice_edits_are_scoped_audited_and_end_with_review(office, handling):
    change = request_extension(office, handling)
    deadline_changes.decide_change(office.actor("duty"), change, True)
    [notice] = notices(handling)
    with pytest.raises(Forbidden):
        deadline_changes.edit_notice(office.actor("reviewer"), notice, "改写")
    with pytest.raises(ValidationFailed):
        deadline_changes.edit_notice(office.actor("edu_handler"), notice, "   ")
    deadline_changes.edit_notice(office.actor("edu_handler"), notice, "经审批，时限延长。")
    assert notice.body == "经审批，时限延长。"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "case.notice_edited"))
    notice.status = "final"  # reviewed (the review flow, later)
    with pytest.raises(InvalidTransition):
        deadline_changes.edit_notice(office.actor("edu_handler"), notice, "再改")


def test_the_page_says_what_really_happened(app, office, handling):
    case = handling
    request_extension(office, case)
    change = db.session.scalar(select(DeadlineChange))
    browser = Browser(app)
    browser.login("duty")
    page = browser.client.get(f"/cases/{case.id}").get_data(as_text=True)
    # The approval form offers the public wording for editing, without the internal reason.
    offered = re.search(r'<textarea name="notice"[^>]*>([^<]*)</textarea>', page).group(1)
    assert "延长 3 个工作日" in offered and "2026年03月16日" in offered
    assert INTERNAL_REASON not in offered
    body = browser.post(
        f"/deadline-changes/{change.id}/decide",
        {"decision": "approve", "note": INTERNAL_NOTE, "notice": offered},
        token_from=f"/cases/{case.id}",
    )
    assert "已批准延期；给留言人的延期告知已生成草稿，待审核发布" in body
    assert "已通知留言人" not in body
    assert "草稿，待审核发布" in body
    [notice] = notices(case)
    assert notice.status == "draft" and notice.body == offered
    # The draft can be edited on the case page before review (CSRF on).
    body = browser.post(
        f"/cases/{case.id}/notices/{notice.id}",
        {"body": "您好，经审批，办理时限延长 3 个工作日。"},
        token_from=f"/cases/{case.id}",
    )
    assert "告知留言人的草稿已保存，待审核发布" in body
    db.session.refresh(notice)
    assert notice.body == "您好，经审批，办理时限延长 3 个工作日。"


def test_rejection_says_so_and_drafts_nothing(app, office, handling):
    change = request_extension(office, handling)
    browser = Browser(app)
    browser.login("duty")
    body = browser.post(
        f"/deadline-changes/{change.id}/decide",
        {"decision": "reject", "note": "理由不充分"},
        token_from=f"/cases/{handling.id}",
    )
    assert "已驳回延期申请" in body
    assert notices(handling) == []


def test_no_approval_without_a_running_clock(office, handling):
    """Approving after the answer would record a deadline change and a notice that aren't."""
    change = request_extension(office, handling)
    publish_answer(office, handling, "已答复。")
    with pytest.raises(InvalidTransition, match="不在办理中"):
        deadline_changes.decide_change(office.actor("duty"), change, True)
    assert change.status == "pending" and notices(handling) == []
    deadline_changes.decide_change(office.actor("duty"), change, False, "已答复，无需延期")
    assert change.status == "rejected"


def test_old_sent_notices_become_drafts_in_the_migration(tmp_path):
    from flask_migrate import upgrade

    from sentinel import create_app
    from sentinel.models import utcnow
    from tests.test_migrations import _fresh_url

    url = _fresh_url(tmp_path, "notices")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path / "i")})
    with app.app_context():
        upgrade(revision="ed925f7bf81d")
        # Raw SQL: the ORM models describe the newest schema, not this revision's.
        now = utcnow()
        db.session.execute(
            text(
                "INSERT INTO sources (id, name, platform, account, active, created_at) "
                "VALUES (1, '微博', 'weibo', '', true, :now)"
            ),
            {"now": now},
        )
        db.session.execute(
            text(
                "INSERT INTO cases (id, title, source_id, text_hash, status, priority, "
                "ask_count, needs_person, first_item_at, last_item_at, created_at, updated_at) "
                "VALUES (1, 't', 1, 'h', 'new', 0, 1, false, :now, :now, :now, :now)"
            ),
            {"now": now},
        )
        for kind, status, body in (
            ("notice", "sent", "因内部原因，延期"),
            ("answer", "final", "答复"),
        ):
            db.session.execute(
                text(
                    "INSERT INTO replies (case_id, kind, status, body, created_at, updated_at) "
                    "VALUES (1, :kind, :status, :body, :now, :now)"
                ),
                {"kind": kind, "status": status, "body": body, "now": now},
            )
        db.session.commit()
        upgrade()
        rows = db.session.execute(select(Reply.kind, Reply.status).order_by(Reply.id)).all()
        assert [tuple(r) for r in rows] == [("notice", "draft"), ("answer", "final")]
        db.session.remove()
        db.engine.dispose()


# --------------------------------------------------------------------------- 退单 / 改派


def cancelled(change: DeadlineChange) -> None:
    db.session.refresh(change)
    assert change.status == "cancelled" and change.decision_note == "工单已退回/改派"
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "case.deadline_change_cancelled")
    )
    assert event is not None and event.data["change_id"] == change.id
    assert event.data["reason"] == "工单已退回/改派"


def test_a_return_cancels_the_pending_request_and_the_next_unit_asks_its_own(office, handling):
    case = handling
    change = request_extension(office, case)
    returns.return_case(office.actor("edu_handler"), case, "function", "应由卫健局办理")
    db.session.commit()
    cancelled(change)
    # The old request can no longer be approved onto the next unit's clock.
    with pytest.raises(InvalidTransition):
        deadline_changes.decide_change(office.actor("duty"), change, True)
    triage.dispatch(office.actor("duty"), case, office.health)
    triage.acknowledge(office.actor("health_handler"), case)
    db.session.commit()
    assert case.extension_days == 0
    mine = deadline_changes.request_change(
        office.actor("health_handler"), case, "extension", 2, "需现场核查"
    )
    assert mine.status == "pending" and deadline_changes.pending_change(case) is mine


def _left_pending_by_old_code(office, case: Case) -> DeadlineChange:
    """A case returned while a request was pending, as the code before this fix left it."""
    change = request_extension(office, case)
    with mock.patch.object(sla, "cancel_pending_changes", create=True):
        returns.return_case(office.actor("edu_handler"), case, "territory")
    db.session.commit()
    assert change.status == "pending"
    return change


def test_a_re_dispatch_cancels_a_pending_request(office, handling):
    case = handling
    change = _left_pending_by_old_code(office, case)
    triage.dispatch(office.actor("duty"), case, office.health)
    db.session.commit()
    cancelled(change)
    triage.acknowledge(office.actor("health_handler"), case)
    assert deadline_changes.request_change(
        office.actor("health_handler"), case, "pause", 1, "等待检测"
    )


def test_a_re_dispatch_before_acknowledgement_cancels_too(office, handling):
    case = handling
    change = _left_pending_by_old_code(office, case)
    case.status = "dispatched"  # re-dispatch from 待签收
    case.unit_id = office.edu.id
    db.session.commit()
    triage.dispatch(office.actor("duty"), case, office.health)
    cancelled(change)


def test_arbitration_cancels_a_pending_request(office, handling):
    case = handling
    change = _left_pending_by_old_code(office, case)
    returns.arbitrate(office.actor("duty"), case, office.health, "由卫健局办理")
    db.session.commit()
    cancelled(change)


def test_the_case_page_shows_the_cancelled_request(app, office, handling):
    request_extension(office, handling)
    browser = Browser(app)
    browser.login("edu_handler")
    browser.post(
        f"/cases/{handling.id}/return", {"reason": "territory"}, token_from=f"/cases/{handling.id}"
    )
    browser.logout()
    browser.login("duty")
    page = browser.client.get(f"/cases/{handling.id}").get_data(as_text=True)
    assert "已撤销" in page and "工单已退回/改派" in page and "撤销延期/暂停申请" in page
    assert "批准延期" not in page  # nothing left to approve


# --------------------------------------------------------------------------- request types


def _options(page: str, select_name: str) -> list[str]:
    match = re.search(rf'<select[^>]*name="{select_name}"[^>]*>(.*?)</select>', page, re.S)
    assert match, select_name
    return [o for o in re.findall(r"<option[^>]*>([^<]*)</option>", match.group(1)) if o]


def test_request_types_are_one_list_in_ui_api_and_classifier(app, office, trained_models_dir):
    from classifiers import data, pipeline
    from classifiers.bundle import active_version
    from sentinel.services import corrections

    expected = list(REQUEST_TYPES)
    # Services validate against the same object.
    assert sla.REQUEST_TYPES is REQUEST_TYPES and corrections.REQUEST_TYPES is REQUEST_TYPES
    browser = Browser(app)
    browser.login("admin")
    triage_page = browser.client.get("/triage/").get_data(as_text=True)
    assert _options(triage_page, "request_type")[1:] == expected  # after 全部诉求
    rules_page = browser.client.get("/admin/deadlines").get_data(as_text=True)
    assert _options(rules_page, "request_type")[1:] == expected  # after （全部）
    case = office.case(next(TEXTS))
    case.request_type = "咨询"
    db.session.commit()
    case_page = browser.client.get(f"/cases/{case.id}").get_data(as_text=True)
    form = case_page.split('name="field" value="request_type">', 1)[1].split("</form>", 1)[0]
    assert re.findall(r'name="value" value="([^"]+)"', form) == expected
    # The API describes the same list.
    spec = browser.client.get("/api/v1/openapi.json").get_json()
    item_out = spec["components"]["schemas"]["ItemOut"]["properties"]["request_type"]
    assert item_out["enum"] == [*expected, None]
    # The classifier only ever answers with one of them.
    rule_labels = {label for label, _ in pipeline._RT_RULES} | {
        label for label, _ in data._SUBJECT_RULES
    }
    assert rule_labels <= set(expected)
    bundle = Path(trained_models_dir) / active_version(trained_models_dir)
    assert set(pipeline.Pipeline.load(bundle).models.request_classes) <= set(expected)
