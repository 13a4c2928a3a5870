"""Reply review (issue 13): 初审 → 复审 → 终审 by risk tier, lint gates, publishing, queue."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import AuditEvent, ReplyVersion, ReviewStep
from sentinel.services import reply_checks, reply_templates, review, triage, users
from tests.conftest import PASSWORD, SEED_ACTOR
from tests.support.replies import ensure_reviewer2, publish_answer

BODY = "您好，您反映的路灯问题已安排维修，预计本周内修复。感谢您的监督！"


@pytest.fixture
def handling(office):
    """An acknowledged case of the education bureau (lead unit), reviewer2 present."""
    case = office.case("学校门口的路灯坏了一周了，晚上很危险")
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    ensure_reviewer2(office)
    db.session.commit()
    return case


def submitted(office, case, tier="A", body=BODY):
    case.risk_tier = tier
    reply = triage.submit_answer(office.actor("edu_handler"), case, body)
    assert reply.status == "review" and reply.tier == tier
    return reply


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- tiers


@pytest.mark.parametrize(
    ("tier", "chain"),
    [
        ("A", ["reviewer"]),
        ("B", ["reviewer", "reviewer2"]),
        ("C", ["reviewer", "reviewer2", "leader"]),
    ],
)
def test_each_tier_needs_its_levels_then_publishes(office, handling, tier, chain):
    reply = submitted(office, handling, tier)
    for i, name in enumerate(chain, start=1):
        with pytest.raises(InvalidTransition, match="尚未通过全部审核"):
            review.publish(office.actor("duty"), reply, "")
        step = review.approve(office.actor(name), reply, f"第{i}级同意")
        assert step.level == i and step.text_hash == sha(BODY)
        assert step.reviewer_id == office.users[name].id and step.opinion == f"第{i}级同意"
        assert reply.status == ("approved" if i == len(chain) else "review")
    assert handling.status == "acknowledged"  # approved is not published
    review.publish(office.actor("duty"), reply, "https://weibo.com/123/abc")
    db.session.commit()
    assert reply.status == "final" and reply.published_hash == sha(BODY)
    assert reply.publish_method == "manual" and reply.published_link == "https://weibo.com/123/abc"
    assert handling.status == "answered" and handling.answered_at == reply.published_at
    assert handling.deadline_state in ("met", "late")  # the clock stopped at publication
    with pytest.raises(InvalidTransition, match="已发布"):
        review.save_text(office.actor("edu_handler"), reply, BODY + "补充")
    actions = [
        e.action
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("reply.%")).order_by(AuditEvent.id)
        )
    ]
    assert actions == [
        "reply.drafted",
        "reply.submitted",
        *["reply.approved"] * len(chain),
        "reply.published",
    ]


def test_tier_c_final_level_must_be_a_leader(office, handling):
    third = users.create_user(SEED_ACTOR, "reviewer3", PASSWORD, "reviewer", [office.root])
    reply = submitted(office, handling, "C")
    review.approve(office.actor("reviewer"), reply)
    review.approve(office.actor("reviewer2"), reply)
    with pytest.raises(Forbidden, match="终审须由领导"):
        review.approve(review_actor(third), reply)
    assert review.review_refusal(third, reply) is not None
    review.approve(office.actor("leader"), reply, "同意发布")
    assert reply.status == "approved"


def review_actor(user):
    from sentinel.auth.permissions import Actor

    return Actor.for_user(user, "127.0.0.1")


def test_the_drafter_never_approves_their_own_draft(office, handling):
    """A handler cannot review at all; a reviewer who edited the text is an author too."""
    reply = submitted(office, handling, "B")
    with pytest.raises(Forbidden):
        review.approve(office.actor("edu_handler"), reply)
    # An admin edits the text (admins may draft): they are now an author of it.
    review.save_text(office.actor("admin"), reply, BODY + "如有疑问请致电12345。")
    with pytest.raises(Forbidden, match="起草或修改过"):
        review.approve(office.actor("admin"), reply)
    assert review.queue_for(office.users["admin"]) == []
    assert not review.approvals(reply)


def test_one_person_approves_one_level(office, handling):
    reply = submitted(office, handling, "B")
    review.approve(office.actor("reviewer"), reply)
    with pytest.raises(Forbidden, match="已审核过本轮"):
        review.approve(office.actor("reviewer"), reply)


def test_edit_after_approval_goes_back_to_first_level(office, handling):
    reply = submitted(office, handling, "B")
    review.approve(office.actor("reviewer"), reply)
    assert review.next_level(reply) == 2
    new_body = BODY.replace("本周内", "三个工作日内")
    assert review.save_text(office.actor("edu_handler"), reply, new_body)
    assert reply.status == "review" and review.next_level(reply) == 1
    # The first reviewer reviews the new text again at 初审.
    assert [r.reply.id for r in review.queue_for(office.users["reviewer"])] == [reply.id]
    review.approve(office.actor("reviewer"), reply)
    review.approve(office.actor("reviewer2"), reply)
    assert [s.text_hash for s in review.approvals(reply)] == [sha(new_body)] * 2
    versions = db.session.scalars(
        select(ReplyVersion).where(ReplyVersion.reply_id == reply.id).order_by(ReplyVersion.number)
    ).all()
    assert [v.number for v in versions] == [1, 2] and versions[1].body == new_body
    edited = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reply.edited")).one()
    assert edited.data["back_to_first_level"] is True


def test_publish_refuses_a_text_nobody_approved(office, handling):
    """Belt and braces: a text changed behind the service's back is never published."""
    reply = submitted(office, handling, "A")
    review.approve(office.actor("reviewer"), reply)
    reply.body = BODY + "（未经审核的改动）"
    with pytest.raises(InvalidTransition, match="不一致"):
        review.publish(office.actor("duty"), reply, "")
    assert handling.status == "acknowledged"


def test_rejection_returns_the_draft_with_reasons(office, handling):
    reply = submitted(office, handling, "A")
    with pytest.raises(ValidationFailed, match="理由"):
        review.reject(office.actor("reviewer"), reply, "  ")
    step = review.reject(office.actor("reviewer"), reply, "请写明维修的具体时间")
    assert reply.status == "draft" and step.decision == "reject"
    assert step.opinion == "请写明维修的具体时间"
    with pytest.raises(InvalidTransition):
        review.approve(office.actor("reviewer"), reply)
    review.save_text(office.actor("edu_handler"), reply, BODY + "维修时间为周三上午。")
    review.submit(office.actor("edu_handler"), reply)
    review.approve(office.actor("reviewer"), reply)
    assert reply.status == "approved"


def test_raising_and_lowering_the_tier(office, handling):
    reply = submitted(office, handling, "B")
    review.approve(office.actor("reviewer"), reply)
    review.approve(office.actor("reviewer2"), reply)
    assert reply.status == "approved"
    review.set_tier(office.actor("reviewer"), reply, "C")  # raising needs no reason
    assert reply.status == "review" and review.next_level(reply) == 3
    with pytest.raises(ValidationFailed, match="须填写理由"):
        review.set_tier(office.actor("reviewer"), reply, "B")
    assert reply.tier == "C"
    review.set_tier(office.actor("reviewer"), reply, "B", "经核实不涉及敏感内容")
    assert reply.tier == "B" and reply.status == "approved"
    with pytest.raises(Forbidden):
        review.set_tier(office.actor("edu_handler"), reply, "A", "想快点发")
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("reply.tier_%")).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.data["from"], e.data["to"], e.data["reason"]) for e in events] == [
        ("reply.tier_raised", "B", "C", None),
        ("reply.tier_lowered", "C", "B", "经核实不涉及敏感内容"),
    ]


def test_tier_comes_from_the_case_classifier(office, handling):
    handling.risk_tier = "C"
    reply = triage.save_draft(office.actor("edu_handler"), handling, BODY)
    assert reply.tier == "C"
    handling.risk_tier = None
    assert review.case_tier(handling) == "A"


# --------------------------------------------------------------------------- lint gates


PHONE_BODY = "您好，请联系经办人张老师，电话13800138000，我们会尽快处理。"


def test_lint_blocks_submit_and_mask_fixes_it(office, handling):
    draft = triage.save_draft(office.actor("edu_handler"), handling, PHONE_BODY)
    with pytest.raises(reply_checks.LintBlocked, match="手机号") as blocked:
        review.submit(office.actor("edu_handler"), draft)
    finding = blocked.value.findings[0]
    assert PHONE_BODY[finding.start : finding.end] == "13800138000"
    assert draft.status == "draft"
    review.apply_mask(office.actor("edu_handler"), draft, finding.start, finding.end)
    assert "138****8000" in draft.body and reply_checks.findings(draft.body) == []
    review.submit(office.actor("edu_handler"), draft)
    assert draft.status == "review"


def test_lint_blocks_every_step_and_publishing(office, handling):
    reply = submitted(office, handling, "B")
    review.approve(office.actor("reviewer"), reply)
    reply.body = BODY + "详见 www.taobao.com"  # slipped in without the service
    with pytest.raises(reply_checks.LintBlocked, match="外部链接"):
        review.approve(office.actor("reviewer2"), reply)
    assert len(review.approvals(reply)) == 1
    reply.body = BODY
    review.approve(office.actor("reviewer2"), reply)
    reply.body = BODY + "中华人民共合国"
    with pytest.raises((reply_checks.LintBlocked, InvalidTransition)):
        review.publish(office.actor("duty"), reply, "")
    assert reply.status == "approved"


def test_suggestion_replaces_a_wrong_word(office, handling):
    draft = triage.save_draft(
        office.actor("edu_handler"), handling, "根据中华人民共合国有关规定办理。"
    )
    (finding,) = reply_checks.findings(draft.body)
    assert finding.kind == "word" and finding.suggestion == "中华人民共和国"
    review.apply_suggestion(office.actor("edu_handler"), draft, finding.start, finding.end)
    assert draft.body == "根据中华人民共和国有关规定办理。"
    with pytest.raises(ValidationFailed):
        review.apply_mask(office.actor("edu_handler"), draft, finding.start, finding.end)


# --------------------------------------------------------------------------- scope, queue


def test_reviewers_are_scoped_to_their_units(office, handling):
    outsider = users.create_user(SEED_ACTOR, "reviewer_h", PASSWORD, "reviewer", [office.health])
    reply = submitted(office, handling, "A")
    assert review.queue_for(outsider) == []
    with pytest.raises(NotFound):
        review.approve(review_actor(outsider), reply)
    assert [r.reply.id for r in review.queue_for(office.users["reviewer"])] == [reply.id]


def test_queue_shows_level_age_and_deadline(office, handling):
    reply = submitted(office, handling, "C")
    (row,) = review.queue_for(office.users["reviewer"])
    assert row.level == 1 and row.level_label == "初审" and row.waiting_since is not None
    assert review.queue_for(office.users["leader"])[0].level == 1  # leaders may 初审 too
    review.approve(office.actor("reviewer"), reply)
    review.approve(office.actor("reviewer2"), reply)
    assert review.queue_for(office.users["reviewer"]) == []
    (row,) = review.queue_for(office.users["leader"])
    assert row.level_label == "终审"


def test_correction_is_a_new_reply_linked_to_the_first(office, handling):
    first = publish_answer(office, handling, BODY)
    correction = review.start_correction(office.actor("edu_handler"), first)
    assert correction.corrects_id == first.id and correction.status == "draft"
    with pytest.raises(InvalidTransition, match="已有一份更正"):
        review.start_correction(office.actor("edu_handler"), first)
    review.save_text(office.actor("edu_handler"), correction, BODY.replace("本周内", "下周一"))
    review.submit(office.actor("edu_handler"), correction)
    review.approve(office.actor("reviewer"), correction)
    review.publish(office.actor("duty"), correction, "")
    assert first.status == "final" and first.body == BODY  # the first stays frozen
    assert correction.status == "final" and handling.status == "answered"


def test_deadline_notice_goes_through_review(office, handling):
    from sentinel.services import deadline_changes

    change = deadline_changes.request_change(
        office.actor("edu_handler"), handling, "extension", 2, "需现场核查"
    )
    notice = deadline_changes.decide_change(office.actor("duty"), change, True)
    assert notice.status == "draft" and notice.text_hash and review.versions(notice)
    review.submit(office.actor("edu_handler"), notice)
    review.approve(office.actor("reviewer"), notice)
    deadline_changes.edit_notice(office.actor("duty"), notice, notice.body + "感谢理解。")
    assert notice.status == "review" and review.next_level(notice) == 1
    review.approve(office.actor("reviewer"), notice)
    review.publish(office.actor("duty"), notice, "")
    assert notice.status == "final" and handling.status == "acknowledged"


# --------------------------------------------------------------------------- templates


def test_templates_fill_from_the_case_and_most_specific_wins(office, handling):
    handling.request_type = "咨询"
    generic = reply_templates.save_template(
        office.actor("admin"), None, kind="answer", name="通用", body="{留言人}您好！{承办单位}答复"
    )
    specific = reply_templates.save_template(
        office.actor("admin"),
        None,
        kind="answer",
        name="咨询",
        body="{留言人}您好！{承办单位}于{受理日期}受理，{办理时限}前办结。",
        request_type="咨询",
    )
    assert reply_templates.candidates(handling, "answer")[:2] == [specific, generic]
    text = reply_templates.render(specific, handling)
    assert "县教育局" in text and "网友您好" in text and "{" not in text
    with pytest.raises(ValidationFailed, match="未知的占位符"):
        reply_templates.save_template(
            office.actor("admin"), None, kind="answer", name="x", body="{身份证号}"
        )


# --------------------------------------------------------------------------- pages


@pytest.fixture
def app_config(app_config):
    """CSRF on for this module's page tests (services are unaffected)."""
    return {**app_config, "WTF_CSRF_ENABLED": True}


def test_reply_pages_with_csrf(client, office, handling):
    from tests.test_duplicates import csrf_login, page_token

    draft = triage.save_draft(office.actor("edu_handler"), handling, PHONE_BODY)
    db.session.commit()
    csrf_login(client, "edu_handler")
    page = client.get(f"/replies/{draft.id}").get_data(as_text=True)
    assert '<mark class="lint lint-mobile"' in page and "一键遮蔽" in page
    _, token = page_token(client, f"/replies/{draft.id}")
    assert client.post(f"/replies/{draft.id}/submit").status_code == 400  # no token
    start = PHONE_BODY.index("138")
    client.post(
        f"/replies/{draft.id}/fix",
        data={"csrf_token": token, "start": start, "end": start + 11, "action": "mask"},
    )
    client.post(f"/replies/{draft.id}/submit", data={"csrf_token": token})
    db.session.expire_all()
    assert draft.status == "review" and "138****8000" in draft.body
    client.post("/logout", data={"csrf_token": token})
    csrf_login(client, "reviewer")
    queue = client.get("/reviews").get_data(as_text=True)
    assert f'data-reply-id="{draft.id}"' in queue and "初审" in queue
    _, token = page_token(client, f"/replies/{draft.id}")
    client.post(f"/replies/{draft.id}/approve", data={"csrf_token": token, "opinion": "同意"})
    db.session.expire_all()
    assert draft.status == "approved"
    client.post("/logout", data={"csrf_token": token})
    csrf_login(client, "duty")
    _, token = page_token(client, f"/replies/{draft.id}")
    response = client.post(
        f"/replies/{draft.id}/publish",
        data={"csrf_token": token, "link": "https://weibo.com/x/1"},
        follow_redirects=True,
    )
    assert "已登记人工发布" in response.get_data(as_text=True)
    db.session.expire_all()
    assert draft.status == "final" and handling.status == "answered"
    case_page = client.get(f"/cases/{handling.id}").get_data(as_text=True)
    assert "138****8000" in case_page and "人工发布" in case_page
    steps = db.session.scalars(select(ReviewStep)).all()
    assert [(s.level, s.decision) for s in steps] == [(1, "approve")]
