"""A tier-C (敏感) reply in headless Chromium: drafted with a phone number, blocked by the
lint, masked in one click, 初审 → 复审 → 领导终审, published by the duty officer.

Screenshots of the review queue, the draft with findings and a rumour page land in
``screenshots/``. Skipped without Debian's ``chromium`` (see tests/test_browser.py)."""

from __future__ import annotations

from sentinel.extensions import db
from sentinel.models import Case, Reply
from sentinel.services import review, rumours, triage
from tests.support.replies import ensure_reviewer2
from tests.test_browser import (  # noqa: F401 (shared fixtures and skip mark)
    _login,
    _page,
    _shot,
    browser,
    pytestmark,
    server,
)

DRAFT = (
    "您好！您反映的校园食品安全问题已转县市场监管局联合调查，"
    "如需补充材料请联系经办人，电话 138-0013-8000。"
)


def _logout(page) -> None:
    page.click("text=退出")


def test_tier_c_reply_from_draft_to_leader_sign_off_to_published(server, browser, office):  # noqa: F811
    case = office.case("学校食堂饭菜发霉，孩子吃了拉肚子，学校不管")
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    case.risk_tier = "C"
    ensure_reviewer2(office)
    db.session.commit()
    case_id = case.id

    page = _page(browser)
    _login(page, server, "edu_handler")
    page.wait_for_selector("text=本单位待办")
    page.goto(f"{server}/cases/{case_id}")
    page.fill("form[action$='/reply'] textarea[name=body]", DRAFT)
    page.click("button:has-text('提交审核')")
    page.wait_for_selector(".flash-danger")
    assert "手机号" in page.inner_text(".flashes")  # the lint blocked the submission
    page.wait_for_selector("mark.lint-mobile")  # the draft was kept: its findings
    assert page.inner_text("mark.lint-mobile") == "138-0013-8000"
    _shot(page, "reply-draft-with-findings")
    page.click("tr.finding[data-kind=mobile] button:has-text('一键遮蔽')")
    page.wait_for_selector(".flash-success")
    assert page.locator("mark.lint").count() == 0
    page.click("button:has-text('保存并提交审核')")
    page.wait_for_selector("text=已提交审核")
    _logout(page)

    for name, level in (("reviewer", "初审"), ("reviewer2", "复审"), ("leader", "终审")):
        _login(page, server, name)
        page.goto(f"{server}/reviews")
        row = page.locator(f"#review-queue tr:has-text('#{case_id}')")
        assert level in row.inner_text()
        if name == "reviewer":
            _shot(page, "review-queue")
        row.locator("a").click()
        page.fill("#approve-form input[name=opinion]", f"{level}同意")
        page.click("#approve-form button[type=submit]")
        page.wait_for_selector(".flash-success")
        assert f"{level}通过" in page.inner_text(".flashes")
        _logout(page)

    _login(page, server, "duty")
    page.goto(f"{server}/cases/{case_id}")
    assert "办理中" in page.inner_text(".case-head")  # approved is not yet published
    page.click(".open-replies a")
    page.fill("#publish-form input[name=link]", "https://weibo.com/7788/PqRs")
    page.click("#publish-form button[type=submit]")
    page.wait_for_selector("text=已登记人工发布")
    _shot(page, "reply-published")
    page.goto(f"{server}/cases/{case_id}")
    assert "已答复" in page.inner_text(".case-head")
    assert "138-****-8000" in page.inner_text(".reply.final")

    db.session.expire_all()
    stored = db.session.get(Case, case_id)
    (reply,) = [r for r in stored.replies if r.kind == "answer"]
    assert stored.status == "answered" and reply.status == "final"
    assert [s.reviewer.username for s in review.approvals(reply)] == [
        "reviewer",
        "reviewer2",
        "leader",
    ]
    assert {s.text_hash for s in review.approvals(reply)} == {reply.published_hash}


def test_rumour_page(server, browser, office):  # noqa: F811
    """The rumour page after the clarification was published (screenshot)."""
    from tests.support.replies import approve_all

    case = office.case("网传县第一中学食堂发生集体食物中毒，三十多名学生送医")
    office.ingest(
        "网传县第一中学食堂发生集体食物中毒，三十多名学生送医", source=office.other_source
    )
    triage.dispatch(office.actor("duty"), case, office.edu)
    triage.acknowledge(office.actor("edu_handler"), case)
    case.rumour_score = 0.91
    rumour = rumours.mark(office.actor("duty"), case, "一中食堂集体食物中毒", "多个账号转发")
    rumours.verify(
        office.actor("edu_handler"),
        rumour,
        finding="经县市场监管局现场核查和医院核实，无学生因食物中毒就医。",
        source_kind="document",
        source_title="县市场监管局《关于县一中食堂抽检情况的通报》",
    )
    reply = rumours.draft_clarification(
        office.actor("edu_handler"),
        rumour,
        "关于网传县一中食堂食物中毒的情况说明：经核实，网传内容不实。请不信谣、不传谣。",
    )
    review.submit(office.actor("edu_handler"), reply)
    approve_all(office, reply)
    review.publish(office.actor("duty"), reply, "https://weibo.com/1/clarify")
    rumours.refer(office.actor("duty"), rumour, "cac", "", "请求处置首发账号")
    db.session.commit()
    office.ingest("网传县第一中学食堂发生集体食物中毒，三十多名学生送医！！转发")
    rumour_id = rumour.id

    page = _page(browser)
    _login(page, server, "duty")
    page.goto(f"{server}/rumours/{rumour_id}")
    page.wait_for_selector("#respread-count")
    assert page.inner_text("#respread-count b") == "1"
    assert "网信部门" in page.inner_text(".case-side")
    _shot(page, "rumour-page")
    assert db.session.get(Reply, reply.id).status == "final"
