"""辟谣 (issue 13): mark → verify (authoritative source) → clarification at tier C →
published to every account and asker → corrections to the same people → re-spread."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import AuditEvent, RumourDelivery, RumourReferral
from sentinel.services import review, rumours, triage, users
from tests.conftest import PASSWORD, SEED_ACTOR
from tests.support.replies import approve_all

RUMOUR = "网传县第一中学食堂发生集体食物中毒，已有三十多名学生送医，学校封锁消息"
CLARIFY = (
    "关于网传县第一中学食堂食物中毒的情况说明：经县教育局会同县市场监管局核实，"
    "该校食堂近期未发生食物中毒事件，网传内容不实。请广大网民不信谣、不传谣。"
)


@pytest.fixture
def rumour_case(office):
    """Two accounts carried the rumour: a weibo comment and an identical mailbox letter
    (attached to the same case)."""
    case = office.case(RUMOUR)
    office.ingest(RUMOUR, source=office.other_source)  # identical text: attaches or links
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    case.rumour_score = 0.93
    db.session.commit()
    return case


def verified(office, case):
    rumour = rumours.mark(office.actor("duty"), case, "一中食堂食物中毒", "多个账号转发")
    rumours.verify(
        office.actor("edu_handler"),
        rumour,
        finding="经现场核查和医院核实，无学生因食物中毒就医。",
        source_kind="document",
        source_title="县市场监管局《关于县一中食堂抽检情况的通报》（县市监〔2026〕12号）",
    )
    return rumour


def test_rumour_flow_end_to_end(office, rumour_case):
    # A differently worded question about the same rumour, on its own case: added.
    other = office.case("听说一中食堂有人中毒了，是真的吗？")
    assert len({i.source_id for i in rumour_case.items}) == 2  # weibo and the mailbox
    rumour = rumours.mark(office.actor("duty"), rumour_case, "一中食堂食物中毒")
    assert rumour.status == "suspected" and rumour.score == pytest.approx(0.93)
    assert rumour.unit_id == office.edu.id
    rumours.add_case(office.actor("duty"), rumour, other)
    with pytest.raises(InvalidTransition, match="核实"):
        rumours.draft_clarification(office.actor("edu_handler"), rumour, CLARIFY)
    with pytest.raises(ValidationFailed, match="http"):
        rumours.verify(
            office.actor("edu_handler"), rumour, finding="不实", source_kind="link", source_url="x"
        )
    rumours.verify(
        office.actor("edu_handler"),
        rumour,
        finding="经核实，该校食堂未发生食物中毒。",
        source_kind="link",
        source_url="https://www.example.gov.cn/tzgg/2026/1201.html",
    )
    assert rumour.status == "verified" and rumour.verified_by_id == office.users["edu_handler"].id
    reply = rumours.draft_clarification(office.actor("edu_handler"), rumour, CLARIFY)
    assert reply.kind == "clarification" and reply.tier == "C"  # RUMOUR_REVIEW_TIER
    review.submit(office.actor("edu_handler"), reply)
    approve_all(office, reply)
    assert [s.reviewer.role for s in review.approvals(reply)][-1] == "leader"
    review.publish(office.actor("duty"), reply, "https://weibo.com/county/clarify")
    db.session.commit()
    assert rumour.status == "clarified" and rumour.clarified_at == reply.published_at
    assert rumour_case.status == "acknowledged"  # a clarification does not answer the case
    delivered = rumours.deliveries(rumour)
    accounts = {d.source_id for d in delivered if d.target_kind == "account"}
    askers = [d.item_id for d in delivered if d.target_kind == "asker"]
    assert accounts == {office.source.id, office.other_source.id}
    assert sorted(askers) == sorted(i.id for c in (rumour_case, other) for i in c.items)
    assert all(d.method == "manual" and d.reply_id == reply.id for d in delivered)

    # A correction goes to exactly the same people, even after another asker appears.
    office.ingest(RUMOUR + "，转发", source=office.source)
    correction = review.start_correction(office.actor("edu_handler"), reply)
    review.save_text(office.actor("edu_handler"), correction, CLARIFY + "（更正：抽检通报文号）")
    review.submit(office.actor("edu_handler"), correction)
    assert correction.tier == "C"
    approve_all(office, correction)
    review.publish(office.actor("duty"), correction, "")
    second = [d for d in rumours.deliveries(rumour) if d.reply_id == correction.id]
    assert sorted((d.target_kind, d.source_id, d.item_id) for d in second) == sorted(
        (d.target_kind, d.source_id, d.item_id) for d in delivered
    )
    assert db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "rumour.clarified", AuditEvent.object_id == rumour.id
        )
    )


def test_new_items_repeating_the_rumour_are_counted_as_respread(office, rumour_case):
    rumour = verified(office, rumour_case)
    before = office.ingest("县一中食堂食物中毒三十多名学生送医的事是真的吗")  # before: not counted
    reply = rumours.draft_clarification(office.actor("edu_handler"), rumour, CLARIFY)
    review.submit(office.actor("edu_handler"), reply)
    approve_all(office, reply)
    review.publish(office.actor("duty"), reply, "")
    db.session.commit()
    assert rumour.respread_count == 0
    repeat = office.ingest(
        "网传县第一中学食堂发生集体食物中毒，已有三十多名学生送医，学校封锁消息！！",
        "县图书馆周末几点开门？",
    )
    db.session.refresh(rumour)
    spread = rumours.respread_items(rumour)
    assert [item.id for _, item in spread] == [repeat[0].id]
    assert spread[0][0].similarity >= 0.5 and rumour.respread_count == 1
    assert before[0].id not in [item.id for _, item in spread]


def test_verification_needs_the_responsible_unit_and_a_source(office, rumour_case):
    rumour = rumours.mark(office.actor("duty"), rumour_case, "一中食堂食物中毒")
    with pytest.raises(Forbidden):
        rumours.verify(
            office.actor("duty"), rumour, finding="不实", source_kind="document", source_title="x"
        )
    with pytest.raises(NotFound):
        rumours.verify(
            office.actor("health_handler"),
            rumour,
            finding="不实",
            source_kind="document",
            source_title="x",
        )
    with pytest.raises(ValidationFailed, match="附件"):
        rumours.verify(
            office.actor("edu_handler"), rumour, finding="不实", source_kind="attachment"
        )
    rumours.verify(
        office.actor("edu_handler"),
        rumour,
        finding="不实",
        source_kind="attachment",
        attachment=("抽检报告.pdf", b"%PDF-1.4 report"),
    )
    assert rumour.attachment_name == "抽检报告.pdf"
    with open(rumours.attachment_file(rumour), "rb") as fh:
        assert fh.read() == b"%PDF-1.4 report"
    with pytest.raises(InvalidTransition, match="已标记"):
        rumours.mark(office.actor("duty"), rumour_case, "again")


def test_referrals_are_recorded(office, rumour_case):
    rumour = verified(office, rumour_case)
    with pytest.raises(ValidationFailed):
        rumours.refer(office.actor("duty"), rumour, "court", "", "")
    rumours.refer(
        office.actor("duty"), rumour, "police", "县公安局网安大队 受案号 2026-118", "造谣者已查明"
    )
    rumours.refer(office.actor("leader"), rumour, "cac", "", "请求处置传播账号")
    rows = db.session.scalars(select(RumourReferral).order_by(RumourReferral.id)).all()
    assert [(r.agency, r.recorded_by_id) for r in rows] == [
        ("police", office.users["duty"].id),
        ("cac", office.users["leader"].id),
    ]
    with pytest.raises(Forbidden):
        rumours.refer(office.actor("edu_handler"), rumour, "police", "", "")


def test_rumours_are_scoped(office, rumour_case):
    rumour = verified(office, rumour_case)
    outsider = users.create_user(SEED_ACTOR, "duty_h", PASSWORD, "duty_officer", [office.health])
    assert rumours.visible_to(outsider) == []
    assert rumours.visible_to(office.users["duty"]) == [rumour]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def test_rumour_pages_with_csrf(client, office, rumour_case):
    from tests.test_duplicates import csrf_login, page_token

    csrf_login(client, "duty")
    _, token = page_token(client, f"/cases/{rumour_case.id}")
    response = client.post(
        f"/cases/{rumour_case.id}/rumour",
        data={"csrf_token": token, "title": "一中食堂食物中毒", "note": ""},
    )
    rumour = rumours.rumour_of_case(rumour_case)
    assert response.status_code == 302 and rumour is not None
    client.post(
        f"/rumours/{rumour.id}/referral",
        data={"csrf_token": token, "agency": "police", "reference": "受案号1", "note": ""},
    )
    client.post("/logout", data={"csrf_token": token})
    csrf_login(client, "edu_handler")
    _, token = page_token(client, f"/rumours/{rumour.id}")
    client.post(
        f"/rumours/{rumour.id}/verify",
        data={
            "csrf_token": token,
            "finding": "经核实不实",
            "source_kind": "attachment",
            "attachment": (io.BytesIO(b"%PDF report"), "通报.pdf"),
        },
        content_type="multipart/form-data",
    )
    db.session.expire_all()
    assert rumour.status == "verified" and rumour.attachment_name == "通报.pdf"
    page = client.get(f"/rumours/{rumour.id}").get_data(as_text=True)
    assert "公安机关" in page and "起草辟谣" in page and "通报.pdf" in page
    response = client.post(
        f"/rumours/{rumour.id}/clarification", data={"csrf_token": token, "body": CLARIFY}
    )
    assert response.status_code == 302 and "/replies/" in response.headers["Location"]
    assert client.get(f"/rumours/{rumour.id}/attachment").data == b"%PDF report"
    assert db.session.scalars(select(RumourDelivery)).all() == []


def test_a_hot_event_is_marked_as_one_rumour_over_its_cases(office, rumour_case):
    """Marking an event gathers every case of it (in scope, not yet a rumour's) under one
    rumour, so all their askers get the clarification; audited on the event."""
    from sentinel.models import Event, EventItem, Rumour, RumourCase, utcnow

    other = office.case("听说一中食堂出事了，好多学生去医院了，是真的吗")
    now = utcnow()
    event = Event(title="一中食堂食物中毒传闻", first_at=now, last_at=now, item_count=2)
    db.session.add(event)
    db.session.flush()
    for case in (rumour_case, other):
        link = db.session.scalar(select(EventItem).where(EventItem.item_id == case.items[0].id))
        if link is None:
            link = EventItem(item_id=case.items[0].id, case_id=case.id, item_at=now)
            db.session.add(link)
        link.event_id = event.id
    db.session.commit()
    rumour = rumours.mark_event(office.actor("duty"), event, "一中食堂食物中毒")
    db.session.commit()
    linked = set(
        db.session.scalars(select(RumourCase.case_id).where(RumourCase.rumour_id == rumour.id))
    )
    assert linked == {rumour_case.id, other.id}
    assert db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "event.rumour_marked", AuditEvent.object_id == event.id
        )
    )
    # Every case already carries the rumour: marking again is refused, nothing added.
    with pytest.raises(InvalidTransition):
        rumours.mark_event(office.actor("duty"), event, "再标一次")
    db.session.rollback()
    assert len(db.session.scalars(select(Rumour)).all()) == 1
