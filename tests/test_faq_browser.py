"""FAQ pages in headless Chromium (issue 15): the public page, the approval queue and the
case page's suggestions, clicked through; screenshots go to ``screenshots/faq_*.png``."""

from __future__ import annotations

from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import FaqEntry
from sentinel.services import faq, triage
from tests.support.replies import publish_answer
from tests.test_browser import _login, _page, _shot, browser, pytestmark, server  # noqa: F401

ENTRIES = [
    (
        "社保卡丢失后在哪里补办？",
        "可携带本人身份证到县政务服务中心一楼社保窗口补办，当场制卡。",
        "社会保障",
    ),
    (
        "城乡居民医保每年什么时候缴费？",
        "每年9月1日至12月31日为集中缴费期，可通过微信、银行网点缴纳。",
        "社会保障",
    ),
    (
        "孩子上小学需要准备哪些报名材料？",
        "户口簿、房产证明或租房备案证明、预防接种证，具体以学校通知为准。",
        "教育",
    ),
    (
        "公租房申请条件是什么？",
        "本县户籍或在本县稳定就业满一年，家庭人均收入低于规定标准且无自有住房。",
        "住房保障",
    ),
    ("路灯不亮找哪个部门？", "城区路灯由县城管局负责维护，可拨打城管热线报修。", "城乡建设"),
]


def test_public_page_queue_and_case_suggestions(server, browser, office):  # noqa: F811
    actor = Actor(label="test")
    for n, (q, a, topic) in enumerate(ENTRIES):
        entry = FaqEntry(question=q, answer=a, topic=topic, unit_id=office.edu.id)
        db.session.add(entry)
        db.session.flush()
        faq.approve(actor, entry, visibility="public" if n != 3 else "internal")
    db.session.commit()
    # A consultation answered by the unit: its suggestion waits in the queue.
    case = office.case("您好，请问孩子上小学报名要带哪些材料？谢谢！")
    case.request_type = "咨询"
    duty, edu = office.actor("duty"), office.actor("edu_handler")
    for c in (case,):
        triage.claim(duty, c)
        triage.dispatch(duty, c, office.edu)
        triage.acknowledge(edu, c)
    publish_answer(office, case, "您好！报名需户口簿、房产证明或租房备案证明、预防接种证。")
    open_case = office.case("我的社保卡丢了，想问一下去哪里补办，要带什么？")
    triage.claim(duty, open_case)
    triage.dispatch(duty, open_case, office.edu)
    triage.acknowledge(edu, open_case)
    db.session.commit()

    page = _page(browser)
    page.goto(server + "/faq?q=社保卡丢了怎么补办")
    assert page.locator(".faq-entry").first.inner_text().startswith("社保卡丢失后在哪里补办")
    assert "公租房" not in page.content()  # internal entry
    _shot(page, "faq_public")

    _login(page, server, "duty")
    page.goto(server + "/kb/queue")
    assert page.locator(".faq-suggestion").count() == 1
    assert "与已有问答" in page.content()  # offered as an update of the existing entry
    _shot(page, "faq_queue")
    page.click("button[value=approve]")
    assert "已通过" in page.content()

    page.goto(server + f"/cases/{open_case.id}")
    _shot(page, "faq_case_duty")
    page.click("button[type=submit]:has-text('退出')")
    _login(page, server, "edu_handler")
    page.goto(server + f"/cases/{open_case.id}")
    hits = page.locator(".faq-hits .faq-q")
    assert hits.first.inner_text() == "社保卡丢失后在哪里补办？"
    _shot(page, "faq_case_suggestions")
    page.locator(".faq-hits button:has-text('使用此答案')").first.click()
    assert "已将问答库答案放入答复草稿" in page.content()
    assert "当场制卡" in page.locator("textarea[name=body]").input_value()
    db.session.expire_all()
    used = db.session.scalars(select(FaqEntry).where(FaqEntry.question == ENTRIES[0][0])).one()
    assert used.use_count == 1


def test_edit_page_saves_and_the_site_searches_the_new_text(server, browser, office):  # noqa: F811
    actor = Actor(label="test")
    for q, a, topic in ENTRIES:
        entry = FaqEntry(question=q, answer=a, topic=topic, unit_id=office.edu.id)
        db.session.add(entry)
        db.session.flush()
        faq.approve(actor, entry, visibility="public")
    db.session.commit()
    page = _page(browser)
    _login(page, server, "duty")
    page.goto(server + "/kb?q=路灯不亮")
    page.click(".faq-entry a:has-text('编辑')")
    assert page.locator("h1").inner_text().startswith("编辑问答")
    _shot(page, "faq_edit")
    page.fill("textarea[name=answer]", "城区路灯由县城管局路灯所维护，报修电话12319，24小时受理。")
    page.fill("input[name=topic]", "市政设施")
    page.uncheck("input[name=public]")
    page.click("button:has-text('保存修改')")
    assert "已保存" in page.content() and "第 2 版" in page.content()
    _shot(page, "faq_edit_saved")
    # The server's worker process applied the edit at its next search; so does this one.
    page.goto(server + "/kb?q=路灯报修电话")
    assert "24小时受理" in page.locator(".faq-entry").first.inner_text()
    page.goto(server + "/faq?q=路灯不亮")
    assert "路灯不亮找哪个部门" not in page.content()  # internal now
    edited = db.session.scalars(select(FaqEntry).where(FaqEntry.topic == "市政设施")).one()
    assert faq.search_ids("路灯报修电话", 1) == [edited.id]
