"""No silent merges (issue 10): automatic attaches only to an open case of the same unit
inside the time window, possible-duplicate links otherwise, badges, audit, 拆分 (unmerge)
that survives re-delivery and ``reclassify --all``. Forms run with CSRF on."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from sentinel.errors import Forbidden, ValidationFailed
from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, Item
from sentinel.services import duplicates, ingest, sources, triage
from tests.conftest import PASSWORD, SEED_ACTOR
from tests.support.replies import publish_answer

TEXT = "图书馆周末几点开门？"
NEAR_A = "A市A3区魏家坡小区脏乱差，垃圾堆放多日无人清运，多次向社区反映得不到解决"
NEAR_B = "A市A3区魏家坡小区脏乱差，垃圾堆放多日无人清运，多次向社区反映都得不到解决！"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "WTF_CSRF_ENABLED": True}


def send(source: Any, external_id: str, text: str, posted_at: datetime | None = None) -> Any:
    result = ingest.ingest_items(
        SEED_ACTOR,
        source,
        [ingest.IncomingItem(external_id=external_id, text=text, posted_at=posted_at)],
    )[0]
    db.session.commit()
    return result


def edu_source(office: Any) -> Any:
    source = sources.create_source(SEED_ACTOR, "教育局微信", "wechat", "县教育发布", office.edu)
    db.session.commit()
    return source


def actions(case_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "case", AuditEvent.object_id == case_id)
            .order_by(AuditEvent.id)
        )
    )


def csrf_login(client: Any, username: str) -> str:
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return token


def page_token(client: Any, path: str) -> tuple[str, str]:
    page = client.get(path).get_data(as_text=True)
    return page, page.split('name="csrf_token" value="')[1].split('"')[0]


# --- the rule ----------------------------------------------------------------------------


def test_the_rule_refuses_each_case_it_must():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    week = timedelta(days=7)
    case = SimpleNamespace(status="new", owner_unit_id=1, first_item_at=now - timedelta(days=2))
    assert duplicates.may_auto_attach(case, unit_id=1, at=now, window=week)
    assert duplicates.may_auto_attach(case, unit_id=2, at=now, window=week).reason == "other_unit"
    later = now + timedelta(days=6)
    assert duplicates.may_auto_attach(case, unit_id=1, at=later, window=week).reason == (
        "outside_window"
    )
    assert not duplicates.may_auto_attach(
        case, unit_id=1, at=now, window=week, decided_by_person=True
    )
    for status in ("answered", "closed", "merged", "noise"):
        done = SimpleNamespace(status=status, owner_unit_id=1, first_item_at=now)
        decision = duplicates.may_auto_attach(done, unit_id=1, at=now, window=week)
        assert not decision and decision.reason == "not_open"
    for status in ("new", "claimed", "dispatched", "acknowledged"):
        open_case = SimpleNamespace(status=status, owner_unit_id=None, first_item_at=now)
        assert duplicates.may_auto_attach(open_case, unit_id=None, at=now, window=week)


# --- identical text at ingest ------------------------------------------------------------


def test_identical_text_to_an_answered_case_opens_a_new_case_linked_as_possible_duplicate(office):
    case = office.case(TEXT)
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    publish_answer(office, case, "上午九点。")
    db.session.commit()
    result = office.ingest(TEXT)[0]
    assert result.case_id != case.id and result.duplicate is False
    new = db.session.get(Case, result.case_id)
    assert new.status == "new" and new.ask_count == 1 and new.auto_attached == 0
    assert (new.duplicate_of_id, new.duplicate_reason) == (case.id, "not_open")
    assert db.session.get(Case, case.id).ask_count == 1
    assert "case.possible_duplicate" in actions(new.id)
    # A closed case too; the new one links to the newest case with the text.
    triage.close(office.actor("duty"), case)
    db.session.commit()
    third = db.session.get(Case, office.ingest(TEXT)[0].case_id)
    assert third.id == new.id and third.ask_count == 2  # joins the open, linked case


def test_identical_text_to_another_units_case_opens_a_linked_case(office):
    ours = office.case(TEXT)
    theirs = send(edu_source(office), "e1", TEXT)
    assert theirs.case_id != ours.id and not theirs.duplicate
    new = db.session.get(Case, theirs.case_id)
    assert new.owner_unit_id == office.edu.id
    assert (new.duplicate_of_id, new.duplicate_reason) == (ours.id, "other_unit")
    assert db.session.get(Case, ours.id).ask_count == 1


def test_identical_text_outside_the_window_opens_a_linked_case(app, office):
    old = datetime.now(UTC) - timedelta(days=10)
    first = send(office.source, "w1", TEXT, posted_at=old)
    second = send(office.source, "w2", TEXT)
    assert second.case_id != first.case_id
    case = db.session.get(Case, second.case_id)
    assert (case.duplicate_of_id, case.duplicate_reason) == (first.case_id, "outside_window")
    # The window is a setting.
    app.config["AUTO_ATTACH_WINDOW_DAYS"] = 30
    third = send(office.source, "w3", TEXT, posted_at=old + timedelta(days=1))
    assert third.case_id == second.case_id or third.case_id == first.case_id
    assert third.duplicate


def test_inside_the_window_and_same_unit_attaches_with_badge_and_audit(app, client, office):
    first = office.ingest(TEXT)[0]
    # Another account of the same unit (the county's mailbox).
    second = office.ingest(TEXT, source=office.other_source)[0]
    assert second.case_id == first.case_id and second.duplicate
    case = db.session.get(Case, first.case_id)
    assert case.ask_count == 2 and case.auto_attached == 1 and case.duplicate_of_id is None
    item = db.session.get(Item, second.id)
    assert item.attach_kind == "exact" and item.attached_at and item.attach_similarity == 1.0
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.auto_attach")
    ).one()
    assert event.object_id == case.id and event.data["item_ids"] == [second.id]
    assert event.data["kind"] == "exact" and event.actor_label == SEED_ACTOR.label
    csrf_login(client, "duty")
    queue = client.get("/triage/").get_data(as_text=True)
    assert "自动合并 1" in queue
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "合并进来的留言" in page and "内容相同" in page
    assert f"/cases/{case.id}/items/{second.id}/unmerge" in page and "拆分" in page


def test_identical_texts_in_one_batch_share_a_case_and_count(office):
    results = office.ingest(TEXT, TEXT, TEXT)
    assert len({r.case_id for r in results}) == 1
    assert [r.duplicate for r in results] == [False, True, True]
    case = db.session.get(Case, results[0].case_id)
    assert case.ask_count == 3 and case.auto_attached == 2


# --- 拆分 (unmerge) ------------------------------------------------------------------------


def test_unmerge_moves_the_item_to_a_new_case_and_survives_redelivery_and_reclassify(
    app, client, runner, office
):
    first = office.ingest(TEXT)[0]
    second = office.ingest(TEXT, source=office.other_source)[0]
    case_id = first.case_id
    csrf_login(client, "duty")
    _page, token = page_token(client, f"/cases/{case_id}")
    url = f"/cases/{case_id}/items/{second.id}/unmerge"
    assert client.post(url).status_code == 400  # CSRF is on
    response = client.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert "已将留言拆分为新工单" in response.get_data(as_text=True)
    db.session.expire_all()
    item = db.session.get(Item, second.id)
    old = db.session.get(Case, case_id)
    new = db.session.get(Case, item.case_id)
    assert new.id != case_id and new.status == "new" and new.ask_count == 1
    assert new.source_id == office.other_source.id and new.owner_unit_id == office.root.id
    assert old.ask_count == 1 and old.auto_attached == 0
    assert not item.is_duplicate and item.attach_kind is None
    assert item.attach_decided_at and item.attach_decided_by_id == office.users["duty"].id
    assert item.detached_from_case_id == case_id
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.unmerge")).one()
    assert event.object_id == case_id and event.actor_id == office.users["duty"].id
    assert event.ip == "127.0.0.1" and event.data["new_case_id"] == new.id
    assert "case.unmerged_from" in actions(new.id)

    # Re-delivery of the same item stores nothing and leaves it where the person put it.
    again = ingest.ingest_items(
        SEED_ACTOR,
        office.other_source,
        [ingest.IncomingItem(external_id=item.external_id, text=TEXT)],
    )[0]
    db.session.commit()
    assert again.redelivered and again.case_id == new.id

    result = runner.invoke(args=["reclassify", "--all"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Item, second.id).case_id == new.id
    assert db.session.get(Case, case_id).ask_count == 1


def test_unmerge_is_for_duty_officers_and_never_splits_a_case_from_itself(client, office):
    first = office.ingest(TEXT)[0]
    second = office.ingest(TEXT)[0]
    case = db.session.get(Case, first.case_id)
    with pytest.raises(Forbidden):
        duplicates.unmerge(office.actor("leader"), case, db.session.get(Item, second.id))
    with pytest.raises(ValidationFailed, match="首条留言"):
        duplicates.unmerge(office.actor("duty"), case, db.session.get(Item, first.id))
    db.session.rollback()
    token = csrf_login(client, "leader")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "/unmerge" not in page
    url = f"/cases/{case.id}/items/{second.id}/unmerge"
    assert client.post(url, data={"csrf_token": token}).status_code == 403


# --- near-duplicates -----------------------------------------------------------------------


def test_near_duplicate_across_units_is_only_suggested(classified_app, office):
    ours = office.case(NEAR_A)
    theirs = send(edu_source(office), "e1", NEAR_B)
    db.session.expire_all()
    new = db.session.get(Case, theirs.case_id)
    assert new.id != ours.id and new.status == "new" and new.merged_into_id is None
    assert (new.duplicate_of_id, new.duplicate_reason) == (ours.id, "other_unit")
    assert new.duplicate_similarity >= 0.8
    assert db.session.get(Item, theirs.id).suggested_case_id == ours.id
    assert db.session.get(Case, ours.id).ask_count == 1


def test_near_duplicate_of_an_answered_case_is_only_suggested(classified_app, office):
    case = office.case(NEAR_A)
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    publish_answer(office, case, "已安排清运。")
    db.session.commit()
    new = office.case(NEAR_B)
    db.session.refresh(new)
    assert new.status == "new" and new.duplicate_of_id == case.id
    assert new.duplicate_reason == "not_open"


def test_near_duplicate_attach_is_visible_and_its_unmerge_survives_reclassify(
    classified_app, client, runner, office
):
    first = office.case(NEAR_A)
    second = office.case(NEAR_B)
    db.session.expire_all()
    first = db.session.get(Case, first.id)
    assert db.session.get(Case, second.id).status == "merged"
    assert first.ask_count == 2 and first.auto_attached == 1
    moved = [i for i in first.items if i.is_duplicate]
    assert len(moved) == 1 and moved[0].attach_kind == "neardup"
    assert moved[0].attach_similarity >= 0.8
    csrf_login(client, "duty")
    page, token = page_token(client, f"/cases/{first.id}")
    assert "内容相似" in page and "自动合并 1" in page
    response = client.post(
        f"/cases/{first.id}/items/{moved[0].id}/unmerge", data={"csrf_token": token}
    )
    assert response.status_code == 302
    db.session.expire_all()
    item = db.session.get(Item, moved[0].id)
    new_case_id = item.case_id
    assert new_case_id not in (first.id, second.id)
    new = db.session.get(Case, new_case_id)
    assert new.topic == item.topic and new.request_type == item.request_type
    result = runner.invoke(args=["reclassify", "--all"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Item, moved[0].id).case_id == new_case_id
    assert db.session.get(Case, new_case_id).status == "new"
    assert db.session.get(Case, first.id).ask_count == 1


# --- a person's merge of a possible duplicate ----------------------------------------------


def test_possible_duplicate_merges_in_one_click_from_the_queue(client, office):
    old = datetime.now(UTC) - timedelta(days=10)
    first = send(office.source, "w1", TEXT, posted_at=old)
    second = send(office.source, "w2", TEXT)
    token = csrf_login(client, "duty")
    queue = client.get("/triage/").get_data(as_text=True)
    assert "可能重复" in queue
    button = re.search(
        rf'formaction="(/cases/{second.case_id}/merge)" name="into_id" value="{first.case_id}"',
        queue,
    )
    assert button, "the queue row has a one-click merge"
    response = client.post(
        button.group(1),
        data={"csrf_token": token, "into_id": str(first.case_id), "next": "/triage/"},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/triage/")
    db.session.expire_all()
    merged = db.session.get(Case, second.case_id)
    assert merged.status == "merged" and merged.merged_into_id == first.case_id
    target = db.session.get(Case, first.case_id)
    assert target.ask_count == 2 and target.auto_attached == 0
    item = db.session.get(Item, second.id)
    assert item.attach_kind == "manual" and item.attach_decided_at is not None
    # The case page offers the same merge for a linked case.
    third = send(office.source, "w3", TEXT, posted_at=old - timedelta(days=30))
    page = client.get(f"/cases/{third.case_id}").get_data(as_text=True)
    assert "未自动合并" in page and "合并过去" in page


def test_links_follow_a_merge_of_their_target(office):
    old = datetime.now(UTC) - timedelta(days=10)
    first = send(office.source, "w1", TEXT, posted_at=old)
    linked = send(office.source, "w2", TEXT)
    other = office.case("另一件事：图书馆周末开放时间能否延长？")
    triage.merge(office.actor("duty"), db.session.get(Case, first.case_id), other)
    db.session.commit()
    assert db.session.get(Case, linked.case_id).duplicate_of_id == other.id
    # Merging the link's own target into the linked case clears the link (no self-link).
    triage.merge(office.actor("duty"), other, db.session.get(Case, linked.case_id))
    db.session.commit()
    assert db.session.get(Case, linked.case_id).duplicate_of_id is None
