"""FAQ knowledge base (issue 15): suggestions on answer, duplicates, approval and
visibility, the public page, import/export, "use this answer", reminders, search quality."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from sentinel.errors import ValidationFailed
from sentinel.extensions import db
from sentinel.models import AuditEvent, FaqEntry, FaqSource, FaqUse, FaqVersion
from sentinel.services import faq, triage
from tests.conftest import PASSWORD
from tests.support.replies import publish_answer

QUESTION_TEXT = "您好，我的社保卡丢了。请问社保卡在哪里补办？需要带什么材料？谢谢！"
ANSWER = "您好！社保卡遗失可携带本人身份证到县政务服务中心社保窗口办理补卡，工本费20元。"


def answered_consultation(office: Any, text: str = QUESTION_TEXT, body: str = ANSWER) -> Any:
    """A 咨询 case of the education bureau, answered by its handler."""
    case = office.case(text)
    case.request_type = "咨询"
    duty, edu = office.actor("duty"), office.actor("edu_handler")
    triage.claim(duty, case)
    triage.dispatch(duty, case, office.edu)
    triage.acknowledge(edu, case)
    publish_answer(office, case, body)
    db.session.commit()
    return case


def approved_entry(office: Any, question: str, answer: str, **kw: Any) -> FaqEntry:
    entry = FaqEntry(question=question, answer=answer, unit_id=office.edu.id, status="pending")
    db.session.add(entry)
    db.session.flush()
    faq.approve(office.actor("duty"), entry, visibility=kw.pop("visibility", "public"), **kw)
    db.session.commit()
    return entry


# --- suggestion on answer ----------------------------------------------------------------


def test_condensed_question_is_the_asking_sentence_without_salutations():
    assert faq.condense_question([QUESTION_TEXT]) == "请问社保卡在哪里补办？"
    assert faq.condense_question(["尊敬的领导：\n\t小区门口路灯坏了。"]) == "小区门口路灯坏了。"
    # A bare question gets the sentence before it as context.
    text = "我家孩子今年六岁，户籍在城关镇。能上学吗？"
    assert faq.condense_question([text]) == "我家孩子今年六岁，户籍在城关镇。能上学吗？"


def test_answering_a_consultation_creates_one_pending_suggestion(office):
    case = answered_consultation(office)
    entry = db.session.scalars(select(FaqEntry)).one()
    assert entry.status == "pending" and entry.visibility == "draft"
    assert entry.question == "请问社保卡在哪里补办？"
    assert entry.answer == ANSWER
    assert entry.unit_id == office.edu.id and entry.updates_id is None
    assert [s.case_id for s in entry.sources] == [case.id]
    assert db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "faq.suggest")
    )
    # Pending: not searched anywhere, not on the public page.
    assert faq.search("社保卡补办", 5) == []
    assert faq.public_entries() == []


def test_answers_to_other_request_types_make_no_suggestion(office):
    case = office.case("小区门口的垃圾三天没人清理，太臭了！")
    case.request_type = "投诉"
    duty, edu = office.actor("duty"), office.actor("edu_handler")
    triage.claim(duty, case)
    triage.dispatch(duty, case, office.edu)
    triage.acknowledge(edu, case)
    publish_answer(office, case, "已安排清理。")
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(FaqEntry)) == 0


def test_close_match_is_offered_as_an_update_of_the_existing_entry(office, app):
    existing = approved_entry(office, "社保卡在哪里补办？", "到政务服务中心社保窗口补办。")
    answered_consultation(office)
    suggestion = db.session.scalars(select(FaqEntry).where(FaqEntry.status == "pending")).one()
    assert suggestion.updates_id == existing.id
    assert suggestion.similarity >= app.config["FAQ_DUPLICATE_THRESHOLD"]
    live = faq.approve(office.actor("reviewer"), suggestion, visibility="public")
    db.session.commit()
    assert live.id == existing.id and live.version == 2 and live.answer == ANSWER
    assert suggestion.status == "merged"
    assert (
        db.session.scalar(
            select(func.count()).select_from(FaqEntry).where(FaqEntry.status == "approved")
        )
        == 1
    )
    assert [
        s.case_id
        for s in db.session.scalars(select(FaqSource).where(FaqSource.entry_id == existing.id))
    ]
    changes = [
        v.change
        for v in db.session.scalars(
            select(FaqVersion).where(FaqVersion.entry_id == existing.id).order_by(FaqVersion.id)
        )
    ]
    assert changes == ["approved", "updated"]


def test_an_unrelated_question_is_a_new_suggestion(office):
    approved_entry(office, "学校什么时候开学？", "秋季学期9月1日开学。")
    answered_consultation(office)
    suggestion = db.session.scalars(select(FaqEntry).where(FaqEntry.status == "pending")).one()
    assert suggestion.updates_id is None


# --- approval and visibility ---------------------------------------------------------------


def test_approved_internal_entries_are_searched_but_not_public(office):
    answered_consultation(office)
    entry = db.session.scalars(select(FaqEntry)).one()
    faq.approve(office.actor("duty"), entry, visibility="internal")
    db.session.commit()
    assert [e.id for e in faq.search("社保卡丢了怎么补办", 3)] == [entry.id]
    assert faq.search("社保卡丢了怎么补办", 3, public_only=True) == []
    assert faq.public_entries() == []


def test_rejected_suggestion_stays_invisible(office):
    answered_consultation(office)
    entry = db.session.scalars(select(FaqEntry)).one()
    faq.reject(office.actor("duty"), entry, "答复针对个人情况")
    db.session.commit()
    assert entry.status == "rejected"
    assert faq.search("社保卡补办", 3) == []
    with pytest.raises(Exception, match="待审核"):
        faq.approve(office.actor("duty"), entry, visibility="public")


def test_public_page_shows_only_public_current_entries(office, client):
    public = approved_entry(office, "社保卡在哪里补办？", "到政务服务中心补办。")
    internal = approved_entry(
        office, "社保卡补办内部口径是什么？", "内部口径：社保卡补办。", visibility="internal"
    )
    expired = approved_entry(office, "社保卡补办要多少钱？", "社保卡补办工本费20元。")
    expired.review_by = faq.today() - timedelta(days=1)
    future = approved_entry(office, "社保卡补办新规何时实施？", "社保卡补办新规明年实施。")
    future.valid_from = faq.today() + timedelta(days=5)
    pending = FaqEntry(
        question="社保卡补办进度？",
        answer="社保卡补办待定。",
        status="pending",
        visibility="public",
        unit_id=office.edu.id,
    )
    db.session.add(pending)
    db.session.commit()
    for url in ("/faq", "/faq?q=社保卡补办"):
        page = client.get(url).get_data(as_text=True)
        assert public.question in page, url
        for hidden in (internal, expired, future, pending):
            assert hidden.question not in page, (url, hidden.question)
    # Expired entries are listed for their unit to re-confirm; re-confirming restores them.
    assert [e.id for e in faq.due_for_review({office.edu.id})] == [expired.id]
    assert faq.due_for_review({office.health.id}) == []
    faq.reconfirm(office.actor("duty"), expired)
    db.session.commit()
    assert expired.question in client.get("/faq").get_data(as_text=True)


def test_public_page_needs_no_login_and_is_rate_limited(office, app_config):
    from sentinel.app import create_app

    limited = create_app(
        {**app_config, "RATELIMIT_ENABLED": True, "FAQ_PUBLIC_RATE_LIMIT": "3 per minute"}
    )
    client = limited.test_client()
    codes = [client.get("/faq?q=路灯").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_approval_queue_is_scoped_to_the_users_units(office, client, auth):
    answered_consultation(office)
    entry = db.session.scalars(select(FaqEntry)).one()
    from sentinel.services import users
    from tests.conftest import SEED_ACTOR

    users.create_user(SEED_ACTOR, "duty_health", PASSWORD, "duty_officer", [office.health])
    db.session.commit()
    auth.login("duty_health")
    assert entry.question not in client.get("/kb/queue").get_data(as_text=True)
    assert (
        client.post(
            f"/kb/{entry.id}/decide", data={"decision": "approve", "visibility": "public"}
        ).status_code
        == 404
    )
    auth.logout()
    auth.login("edu_handler")
    assert client.get("/kb/queue").status_code == 403
    auth.logout()
    auth.login("duty")
    page = client.get("/kb/queue").get_data(as_text=True)
    assert entry.question in page
    response = client.post(
        f"/kb/{entry.id}/decide",
        data={
            "decision": "approve",
            "visibility": "public",
            "question": "社保卡在哪里补办？",
            "answer": ANSWER,
            "topic": "社会保障",
        },
    )
    assert response.status_code == 302
    db.session.refresh(entry)
    assert (entry.status, entry.visibility, entry.question, entry.topic) == (
        "approved",
        "public",
        "社保卡在哪里补办？",
        "社会保障",
    )
    assert entry.review_by is not None and entry.valid_from == faq.today()


# --- use this answer ---------------------------------------------------------------------


def test_case_page_shows_matches_and_use_puts_the_answer_in_the_draft(office, client, auth):
    entry = approved_entry(office, "社保卡在哪里补办？", ANSWER)
    case = office.case("请问社保卡丢了去哪里补办？")
    duty, edu = office.actor("duty"), office.actor("edu_handler")
    triage.claim(duty, case)
    triage.dispatch(duty, case, office.edu)
    triage.acknowledge(edu, case)
    db.session.commit()
    auth.login("duty")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "问答库推荐" in page and entry.question in page and "使用此答案" not in page
    auth.logout()
    auth.login("edu_handler")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "使用此答案" in page
    assert client.post(f"/cases/{case.id}/faq/{entry.id}/use").status_code == 302
    db.session.expire_all()
    draft = next(r for r in case.replies if r.status == "draft")
    assert draft.body == ANSWER
    assert db.session.get(FaqEntry, entry.id).use_count == 1
    assert db.session.scalar(select(func.count()).select_from(FaqUse)) == 1
    # A second use appends: the officer's text is never overwritten.
    client.post(f"/cases/{case.id}/faq/{entry.id}/use")
    db.session.expire_all()
    assert draft.body == ANSWER + "\n\n" + ANSWER
    assert db.session.get(FaqEntry, entry.id).use_count == 2


# --- import / export ---------------------------------------------------------------------


def _csv_bytes(rows: list[list[str]], encoding: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([["编号", "问题", "答案", "主题", "单位"], *rows])
    return buf.getvalue().encode(encoding)


def test_import_gbk_csv_then_reimport_updates_and_export_round_trips(office, tmp_path):
    from sentinel.auth.permissions import Actor

    actor = Actor(label="test")
    data = _csv_bytes(
        [
            ["Q-1", "社保卡在哪里补办？", "到政务服务中心补办。", "社会保障", "县教育局"],
            ["Q-2", "学校什么时候开学？", "9月1日开学。", "教育", ""],
        ],
        "gbk",
    )
    result = faq.import_table(actor, data, "问答.csv")
    db.session.commit()
    assert (result.created, result.updated, result.errors) == (2, 0, [])
    first = db.session.scalars(select(FaqEntry).where(FaqEntry.external_ref == "Q-1")).one()
    assert (first.status, first.visibility, first.unit_id) == (
        "approved",
        "internal",
        office.edu.id,
    )
    again = _csv_bytes(
        [["Q-1", "社保卡在哪里补办？", "到县政务服务中心二楼补办。", "社会保障", ""]], "gbk"
    )
    result = faq.import_table(actor, again, "问答.csv")
    db.session.commit()
    assert (result.created, result.updated) == (0, 1)
    assert db.session.scalar(select(func.count()).select_from(FaqEntry)) == 2
    db.session.refresh(first)
    assert first.answer == "到县政务服务中心二楼补办。" and first.version == 2
    # Export (XLSX and CSV) and import the export into an empty knowledge base.
    rows = faq.export_rows(None)
    for fmt in ("xlsx", "csv"):
        blob = faq.export_bytes(rows, fmt)
        db.session.execute(FaqVersion.__table__.delete())
        db.session.execute(FaqEntry.__table__.delete())
        db.session.commit()
        result = faq.import_table(actor, blob, f"faq.{fmt}")
        db.session.commit()
        assert result.created == 2, fmt
        back = {
            e.external_ref: (e.question, e.answer, e.topic, e.unit_id)
            for e in db.session.scalars(select(FaqEntry))
        }
        assert back == {
            "Q-1": ("社保卡在哪里补办？", "到县政务服务中心二楼补办。", "社会保障", office.edu.id),
            "Q-2": ("学校什么时候开学？", "9月1日开学。", "教育", None),
        }, fmt


def test_import_reports_bad_rows_and_missing_columns(office):
    from sentinel.auth.permissions import Actor
    from sentinel.errors import ValidationFailed

    actor = Actor(label="test")
    with pytest.raises(ValidationFailed, match="答案"):
        faq.import_table(actor, "编号,问题\n1,x\n".encode(), "a.csv")
    result = faq.import_table(
        actor, _csv_bytes([["1", "", "答"], ["2", "问", "答"]], "utf-8"), "a.csv"
    )
    assert result.created == 1 and len(result.errors) == 1 and "第 2 行" in result.errors[0]


def test_cli_import_and_search_contract(office, runner, tmp_path):
    path = tmp_path / "faq.csv"
    path.write_bytes(
        _csv_bytes(
            [
                ["A-1", "社保卡在哪里补办？", "到政务服务中心社保窗口补办。"],
                ["A-2", "学校什么时候开学？", "秋季学期9月1日开学。"],
                ["A-3", "路灯坏了找谁修？", "请拨打城管热线报修。"],
            ],
            "gbk",
        )
    )
    result = runner.invoke(args=["faq", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "created=3" in result.output
    result = runner.invoke(args=["faq", "import", str(path)])
    assert "created=0" in result.output and "unchanged=3" in result.output
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps(
            {"id": "x1", "text": "我家门口的路灯坏了好几天了，晚上很黑，找谁来修？"},
            ensure_ascii=False,
        )
        + "\n"
        + json.dumps(
            {"id": 2, "text": "孩子今年上一年级，想问一下学校几号开学"}, ensure_ascii=False
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "o.jsonl"
    result = runner.invoke(
        args=["faq", "search", "--queries", str(queries), "--top", "2", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["x1", 2]
    assert lines[0]["results"][0] == "A-3" and lines[1]["results"][0] == "A-2"
    assert all(len(line["results"]) <= 2 for line in lines)


# --- review reminders --------------------------------------------------------------------


def test_review_reminder_job_marks_overdue_entries_once(office, app):
    from sentinel.jobs.faq import faq_review_reminders

    entry = approved_entry(office, "社保卡在哪里补办？", "到政务服务中心补办。")
    entry.review_by = faq.today() - timedelta(days=1)
    db.session.commit()
    assert faq_review_reminders()["due"] == 1
    assert db.session.get(FaqEntry, entry.id).review_reminded_at is not None
    assert faq_review_reminders()["due"] == 0  # not again within FAQ_REMIND_EVERY_DAYS


# --- CSRF ----------------------------------------------------------------------------------


class TestCsrf:
    @pytest.fixture
    def app_config(self, app_config: dict[str, Any]) -> dict[str, Any]:
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_approval_form_refused_without_token_and_applied_with_the_pages(self, office, client):
        from tests.test_duplicates import csrf_login, page_token

        answered_consultation(office)
        entry = db.session.scalars(select(FaqEntry)).one()
        csrf_login(client, "duty")
        form = {"decision": "approve", "visibility": "internal"}
        assert client.post(f"/kb/{entry.id}/decide", data=form).status_code == 400
        db.session.refresh(entry)
        assert entry.status == "pending"
        page, token = page_token(client, "/kb/queue")
        assert entry.question in page
        response = client.post(f"/kb/{entry.id}/decide", data={**form, "csrf_token": token})
        assert response.status_code == 302
        db.session.refresh(entry)
        assert entry.status == "approved"

    def test_use_answer_form_needs_the_token(self, office, client):
        from tests.test_duplicates import csrf_login, page_token

        entry = approved_entry(office, "社保卡在哪里补办？", ANSWER)
        case = office.case("请问社保卡丢了去哪里补办？")
        duty, edu = office.actor("duty"), office.actor("edu_handler")
        triage.claim(duty, case)
        triage.dispatch(duty, case, office.edu)
        triage.acknowledge(edu, case)
        db.session.commit()
        csrf_login(client, "edu_handler")
        assert client.post(f"/cases/{case.id}/faq/{entry.id}/use").status_code == 400
        page, token = page_token(client, f"/cases/{case.id}")
        assert "使用此答案" in page
        assert (
            client.post(
                f"/cases/{case.id}/faq/{entry.id}/use", data={"csrf_token": token}
            ).status_code
            == 302
        )
        db.session.expire_all()
        assert db.session.get(FaqEntry, entry.id).use_count == 1


# --- search quality on the held-out half of gov_replies ----------------------------------

DATA = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "data", "gov_replies", "messages_with_replies.csv"
)


@pytest.mark.skipif(not os.path.exists(DATA), reason="gov_replies data set not present")
def test_search_beats_the_char_ngram_baseline_on_held_out_queries():
    """Precision@3 on held-out queries (a subset, for speed); bench/faq_quality.py reports
    the full split. Entries are every distinct subject with its reply."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench"))
    from faq_quality import baseline_rankings, load, our_rankings, precision_at

    entries, queries = load(DATA)
    held_out = [q for q in queries if q[2] == "test"][:400]
    truth = [q[0] for q in held_out]
    ours = precision_at(our_rankings(entries, held_out), truth)
    base = precision_at(baseline_rankings(entries, held_out), truth)
    assert ours > base, (ours, base)
    assert ours >= 0.93, ours


def test_xlsx_import_reads_numeric_ids_as_written(office):
    from openpyxl import Workbook

    from sentinel.auth.permissions import Actor

    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "问题", "答案"])
    ws.append([2549, "社保卡在哪里补办？", "到政务服务中心补办。"])
    ws.append([2550.0, "学校什么时候开学？", "9月1日开学。"])
    out = io.BytesIO()
    wb.save(out)
    result = faq.import_table(Actor(label="test"), out.getvalue(), "问答.xlsx")
    db.session.commit()
    assert result.created == 2
    refs = set(db.session.scalars(select(FaqEntry.external_ref)))
    assert refs == {"2549", "2550"}


# --- editing an approved entry -----------------------------------------------------------


def test_edit_page_changes_an_approved_entry_audited_and_searched_at_once(office, client, auth):
    entry = approved_entry(office, "社保卡在哪里补办？", "到政务服务中心社保窗口补办。")
    assert faq.search_ids("社保卡补办", 3, public_only=True) == [entry.id]
    auth.login("duty")
    page = client.get(f"/kb/{entry.id}/edit").get_data(as_text=True)
    assert "编辑问答" in page and "有效期至" in page and "社保卡在哪里补办？" in page
    until = faq.today() + timedelta(days=30)
    response = client.post(
        f"/kb/{entry.id}/edit",
        data={
            "question": "电子社保卡怎么申领？",
            "answer": "在国家政务服务平台或银行应用中申领电子社保卡。",
            "topic": "社会保障",
            "unit_id": str(office.edu.id),
            "review_by": until.isoformat(),
            # no "public": internal only from now on
        },
    )
    assert response.status_code == 302
    db.session.refresh(entry)
    assert (entry.question, entry.topic, entry.visibility, entry.review_by, entry.version) == (
        "电子社保卡怎么申领？",
        "社会保障",
        "internal",
        until,
        2,
    )
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "faq.edit")).one()
    assert event.object_id == entry.id and event.actor_id == office.users["duty"].id
    assert event.ip == "127.0.0.1" and event.at is not None
    assert set(event.data["fields"]) == {"question", "answer", "topic", "visibility", "review_by"}
    assert "电子社保卡" not in json.dumps(event.data, ensure_ascii=False)  # no text in the log
    # The next search sees the edit (no rebuild): found internally, gone from the public page.
    assert faq.search_ids("电子社保卡申领", 3) == [entry.id]
    assert faq.search_ids("电子社保卡申领", 3, public_only=True) == []
    assert "第 2 版" in client.get(f"/kb/{entry.id}/edit").get_data(as_text=True)


def test_edit_refuses_bad_input_and_entries_not_approved(office, client, auth):
    entry = approved_entry(office, "社保卡在哪里补办？", "到政务服务中心社保窗口补办。")
    auth.login("duty")
    response = client.post(
        f"/kb/{entry.id}/edit",
        data={"question": " ", "answer": "新答案", "unit_id": str(office.edu.id)},
    )
    assert response.status_code == 422
    assert "问题不能为空" in response.get_data(as_text=True)
    assert "新答案" in response.get_data(as_text=True)  # the form keeps what was typed
    response = client.post(
        f"/kb/{entry.id}/edit",
        data={
            "question": "社保卡在哪里补办？",
            "answer": "新答案",
            "unit_id": str(office.edu.id),
            "review_by": "2020-01-01",
        },
    )
    assert response.status_code == 422  # ends before it started (valid_from is today)
    db.session.refresh(entry)
    assert (entry.answer, entry.version) == ("到政务服务中心社保窗口补办。", 1)
    faq.retire(office.actor("duty"), entry)
    db.session.commit()
    assert client.get(f"/kb/{entry.id}/edit").status_code == 404
    assert (
        client.post(f"/kb/{entry.id}/edit", data={"question": "x", "answer": "y"}).status_code
        == 422
    )


def test_edit_cannot_move_an_entry_out_of_the_editors_units(office):
    entry = approved_entry(office, "社保卡在哪里补办？", "到政务服务中心社保窗口补办。")
    with pytest.raises(ValidationFailed):
        faq.edit(
            office.actor("duty"),
            entry,
            question=entry.question,
            answer=entry.answer,
            topic=None,
            unit_id=office.health.id,
            visibility="public",
            review_by=None,
            allowed_units={office.edu.id},
        )
