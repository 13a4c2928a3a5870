"""Acting on a case needs the right relation to it; officers own the priority; pages
lead somewhere (what waits for whom), and links stay safe."""

from __future__ import annotations

import re

import pytest
from flask import g
from sqlalchemy import select

from sentinel.errors import Forbidden, ValidationFailed
from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, DeadlineChange, Item
from sentinel.services import deadline_changes, returns, sla, triage, units, users
from tests.conftest import PASSWORD, SEED_ACTOR
from tests.support.replies import publish_answer


@pytest.fixture
def assisted(office):
    """A case led by the education bureau (acknowledged) on which health assists."""
    case = office.case("学校门口的路灯坏了，晚上接孩子很危险")
    triage.dispatch(office.actor("duty"), case, office.edu)
    assist = returns.add_assist(office.actor("duty"), case, office.health, 1)
    triage.acknowledge(office.actor("edu_handler"), case)
    db.session.commit()
    return case, assist


def _actions(case: Case) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "case", AuditEvent.object_id == case.id
            )
        )
    )


# --------------------------------------------------------------------- lead-unit actions


def test_assisting_unit_cannot_draft_or_answer_for_the_lead_unit(office, assisted):
    """The assisting unit sees the case, but the answer (and the clock it stops) is the
    lead unit's: saving the draft and answering are refused, nothing changes."""
    case, _ = assisted
    helper = office.actor("health_handler")
    with pytest.raises(Forbidden):
        triage.save_draft(helper, case, "协办单位写的答复")
    with pytest.raises(Forbidden):
        triage.submit_answer(helper, case, "协办单位写的答复")
    db.session.rollback()
    assert case.status == "acknowledged" and case.answered_at is None and not case.replies
    assert case.deadline_state is None
    publish_answer(office, case, "您好，已安排维修。")
    assert case.status == "answered"


def test_assisting_unit_cannot_acknowledge_or_return_the_lead_units_case(office):
    case = office.case("学校食堂的饭菜太咸")
    triage.dispatch(office.actor("duty"), case, office.edu)
    returns.add_assist(office.actor("duty"), case, office.health, 1)
    db.session.commit()
    helper = office.actor("health_handler")
    with pytest.raises(Forbidden):
        triage.acknowledge(helper, case)
    with pytest.raises(Forbidden):
        returns.return_case(helper, case, "function", "不是我们的事")
    db.session.rollback()
    assert case.status == "dispatched" and case.return_count == 0


def test_assisting_unit_cannot_ask_for_an_extension(office, assisted):
    case, _ = assisted
    with pytest.raises(Forbidden):
        deadline_changes.request_change(
            office.actor("health_handler"), case, "extension", 3, "需要时间"
        )


def test_assisting_handler_answer_post_is_a_403_and_changes_nothing(client, auth, office, assisted):
    case, _ = assisted
    auth.login("health_handler")
    before = _actions(case)
    response = client.post(
        f"/cases/{case.id}/reply", data={"body": "协办单位的答复", "submit": "answer"}
    )
    assert response.status_code == 403
    assert "只有主办单位可以答复" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "acknowledged"
    assert _actions(case) == before


# --------------------------------------------------------------------- 协办 tasks


def test_one_assisting_unit_cannot_finish_another_units_task(office, assisted):
    case, health_task = assisted
    transport = units.create_unit(SEED_ACTOR, "县交通局", "department", office.root)
    users.create_user(SEED_ACTOR, "transport_handler", PASSWORD, "handler", [transport])
    g.pop("_scope_cache", None)  # the tests' app context outlives a request's
    transport_task = returns.add_assist(office.actor("duty"), case, transport, 1)
    db.session.commit()
    with pytest.raises(Forbidden):
        returns.finish_assist(office.actor("health_handler"), case, transport_task)
    with pytest.raises(Forbidden):
        returns.acknowledge_assist(office.actor("health_handler"), case, transport_task)
    assert transport_task.status == "active"
    # Its own task: acknowledge (签收), then finish.
    returns.acknowledge_assist(office.actor("health_handler"), case, health_task)
    assert health_task.status == "acknowledged" and health_task.acknowledged_at is not None
    returns.finish_assist(office.actor("health_handler"), case, health_task)
    assert health_task.status == "done"
    # The lead unit and the office may close an assisting unit's part.
    returns.finish_assist(office.actor("edu_handler"), case, transport_task)
    assert transport_task.status == "done"


def test_only_the_assisting_unit_acknowledges_its_task(office, assisted):
    case, task = assisted
    for name in ("edu_handler", "duty"):
        with pytest.raises(Forbidden):
            returns.acknowledge_assist(office.actor(name), case, task)
    assert task.status == "active"


def test_assisting_unit_page_shows_its_own_state_and_signoff(client, auth, office, assisted):
    """One clear state for the assisting unit (协办待签收) and its 签收 action — not the
    lead unit's answer form."""
    case, task = assisted
    auth.login("health_handler")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "本单位为协办单位" in page and "协办待签收" in page
    assert re.search(r'title="待签收（含协办任务）">1<', page)  # its task waits for it
    assert f"/assist/{task.id}/acknowledge" in page
    assert f'action="/cases/{case.id}/reply"' not in page
    assert f'action="/cases/{case.id}/return"' not in page
    inbox = client.get("/inbox/?tab=acknowledged").get_data(as_text=True)
    assert "协办待签收" in inbox and f"/assist/{task.id}/acknowledge" in inbox
    response = client.post(f"/cases/{case.id}/assist/{task.id}/acknowledge")
    assert response.status_code == 302
    db.session.expire_all()
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "协办办理中" in page and f"/assist/{task.id}/done" in page
    auth.logout()
    auth.login("edu_handler")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f'action="/cases/{case.id}/reply"' in page and "本单位为协办单位" not in page


# --------------------------------------------------------------------- priority


def test_officer_clears_urgent_with_a_reason_and_the_deadline_follows(office):
    """A C-tier word made the case 紧急 with a same-day deadline: the duty officer lowers
    it with a reason (audited), the deadline is recomputed by the request type's rule,
    and a later item does not raise it again."""
    case = office.case("学校门口的路灯坏了")
    case.priority = 2  # as the classifier does for tier C
    case.risk_tier = "C"
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    db.session.commit()
    assert case.clock_spec["resolution"]["amount"] == 0  # urgent: same day
    same_day = case.due_at
    with pytest.raises(ValidationFailed):
        triage.set_priority(office.actor("duty"), case, 0, "  ")
    with pytest.raises(Forbidden):
        triage.set_priority(office.actor("edu_handler"), case, 0, "不紧急")
    assert triage.set_priority(office.actor("duty"), case, 0, "经核实不属于紧急事项")
    db.session.commit()
    assert case.priority == 0 and case.priority_manual
    assert case.clock_spec["resolution"]["amount"] == sla.BUILTIN_DEFAULT_DAYS
    assert case.due_at > same_day
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.priority")).one()
    assert event.data["reason"] == "经核实不属于紧急事项" and event.data["to"] == 0
    assert event.actor_id == office.users["duty"].id and event.ip == "127.0.0.1"
    recomputed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.deadline_recomputed")
    ).one()
    assert recomputed.data["event"] == "priority"
    # A later item of the case, classified tier C again, leaves the officer's decision.
    from sentinel.services.classification import label_case_from_item

    item = db.session.scalars(select(Item).where(Item.case_id == case.id)).first()
    item.risk_tier = "C"
    label_case_from_item(case, item)
    assert case.priority == 0
    # And back: 紧急 again gives the same-day rule.
    triage.set_priority(office.actor("duty"), case, 2, "出现安全事故")
    assert case.clock_spec["resolution"]["amount"] == 0


def test_priority_form_on_the_case_page(client, auth, office):
    case = office.case("小区停电了")
    auth.login("duty")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f'action="/cases/{case.id}/priority"' in page
    response = client.post(
        f"/cases/{case.id}/priority", data={"priority": "2", "reason": "大面积停电"}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case.id).priority == 2
    auth.logout()
    auth.login("leader")
    assert (
        client.post(f"/cases/{case.id}/priority", data={"priority": "0", "reason": "x"}).status_code
        == 403
    )


# --------------------------------------------------------------------- links


def test_item_url_must_be_http_and_back_link_same_site(client, auth, office):
    case = office.case("路灯坏了")
    item = case.items[0]
    item.url = "javascript:alert(document.cookie)"
    db.session.commit()
    auth.login("duty")
    page = client.get(f"/cases/{case.id}?back=//evil.example/phish").get_data(as_text=True)
    assert "javascript:" not in page
    assert "evil.example" not in page
    assert re.search(r'class="crumbs"><a href="/"', page)
    item.url = "https://weibo.com/1234/abcd"
    db.session.commit()
    page = client.get(f"/cases/{case.id}?back=/triage/?status=all").get_data(as_text=True)
    assert 'href="https://weibo.com/1234/abcd"' in page
    assert 'href="/triage/?status=all"' in page
    for target in ("https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        page = client.get(f"/cases/{case.id}", query_string={"back": target}).get_data(as_text=True)
        assert "evil.example" not in page and "javascript:" not in page, target


def test_form_next_cannot_leave_the_site(client, auth, office):
    case = office.case("路灯坏了")
    auth.login("duty")
    response = client.post(f"/cases/{case.id}/claim", data={"next": "//evil.example/"})
    assert response.headers["Location"].endswith(f"/cases/{case.id}")
    response = client.post(
        "/triage/bulk",
        data={"action": "claim", "case_ids": [str(case.id)], "next": "https://evil.example/"},
    )
    assert response.headers["Location"].endswith("/triage/")


# --------------------------------------------------------------------- what waits for whom


def test_approver_finds_pending_changes_in_the_navigation_and_decides_there(
    client, auth, office, assisted
):
    case, _ = assisted
    deadline_changes.request_change(office.actor("edu_handler"), case, "extension", 3, "需核查")
    db.session.commit()
    auth.login("duty")
    page = client.get("/triage/").get_data(as_text=True)
    assert re.search(
        r'href="/deadline-changes"[^>]*>待审批 <span class="count"[^>]*>1</span>', page
    )
    listing = client.get("/deadline-changes").get_data(as_text=True)
    assert "需核查" in listing and 'name="decision" value="approve"' in listing
    change = db.session.scalars(select(DeadlineChange)).one()
    response = client.post(
        f"/deadline-changes/{change.id}/decide",
        data={"decision": "approve", "next": "/deadline-changes"},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/deadline-changes"
    )
    assert "没有待审批的申请" in client.get("/deadline-changes").get_data(as_text=True)
    auth.logout()
    auth.login("edu_handler")
    page = client.get("/inbox/").get_data(as_text=True)
    assert "待审批" not in page  # handlers do not decide


def test_handler_sees_what_waits_for_signoff(client, auth, office):
    case = office.case("学校门口拥堵")
    triage.dispatch(office.actor("duty"), case, office.edu)
    db.session.commit()
    auth.login("edu_handler")
    page = client.get("/inbox/").get_data(as_text=True)
    assert re.search(r'本单位待办 <span class="count" title="待签收（含协办任务）">1</span>', page)


def test_unit_pickers_follow_the_tree_not_the_id_text(client, auth, office):
    """Ten units under the root: “/1/10/” must not sort before “/1/2/”."""
    made = [office.edu, office.health]
    for n in range(8):
        made.append(units.create_unit(SEED_ACTOR, f"县第{n}局", "department", office.root))
    child = units.create_unit(SEED_ACTOR, "县教育局基教科", "section", office.edu)
    db.session.commit()
    case = office.case("路灯坏了")
    auth.login("duty")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    picker = page.split('name="unit_id"')[1].split("</select>")[0]
    names = re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', picker)
    expected = [office.root.name, office.edu.name, child.name] + [u.name for u in made[1:]]
    assert names == expected


def test_channel_name_is_not_suffixed_twice(client, auth, office):
    from sentinel.services import sources

    douyin = sources.create_source(SEED_ACTOR, "云和交警（抖音）", "douyin", "", office.root)
    db.session.commit()
    assert douyin.label == "云和交警（抖音）"
    assert office.source.label == "测试微博（微博）"
    auth.login("duty")
    page = client.get("/triage/").get_data(as_text=True)
    assert "（抖音）（抖音）" not in page and "云和交警（抖音）" in page


def test_roles_without_bulk_actions_see_no_checkboxes(client, auth, office):
    office.case("路灯坏了")
    auth.login("leader")
    page = client.get("/triage/").get_data(as_text=True)
    assert 'name="case_ids"' not in page and 'id="select-all"' not in page
    auth.logout()
    auth.login("duty")
    page = client.get("/triage/").get_data(as_text=True)
    assert 'name="case_ids"' in page
