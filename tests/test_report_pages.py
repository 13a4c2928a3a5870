"""Report pages: the generate form (CSRF on), progress JSON, download, scope, drill-down,
and the real services feeding the report (dispatch, 签收, answer, 退单, 协办)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from sentinel.extensions import db
from sentinel.models import Assignment, ReportArchive, utcnow
from sentinel.services import reports, returns, sla_report, triage
from sentinel.timefmt import SHANGHAI
from tests.support.replies import publish_answer
from tests.test_duplicates import csrf_login, page_token


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "WTF_CSRF_ENABLED": True}


def _form(office: Any, token: str | None, **extra: str) -> dict[str, str]:
    data = {
        "kind": "sla",
        "fmt": "docx",
        "period": "month",
        "day": "2026-10-15",
        "unit_id": str(office.edu.id),
        **extra,
    }
    if token is not None:
        data["csrf_token"] = token
    return data


def test_generate_needs_the_token_then_runs_as_a_job_with_progress(client, office):
    csrf_login(client, "duty")
    refused = client.post("/reports/", data=_form(office, None))
    assert refused.status_code == 400
    assert db.session.scalar(select(ReportArchive.id)) is None
    page, token = page_token(client, "/reports/")
    assert "生成报告" in page and "县教育局" in page
    response = client.post("/reports/", data=_form(office, token))
    assert response.status_code == 302
    archive = db.session.scalars(select(ReportArchive)).one()
    assert response.headers["Location"].endswith(f"/reports/{archive.id}")
    assert archive.job_run_id is not None
    show = client.get(f"/reports/{archive.id}").get_data(as_text=True)
    assert "data-status-url" in show
    status = client.get(f"/reports/{archive.id}/status").get_json()
    # Jobs run in-process in tests: the report is ready when the page asks.
    assert status["ready"] is True and status["progress"] == 100
    assert status["download_url"].endswith(f"/reports/{archive.id}/download")
    download = client.get(status["download_url"])
    assert download.status_code == 200 and download.data == reports.file_bytes(archive)
    assert archive.generated_by_label == "duty" and archive.params["unit_id"] == office.edu.id
    index = client.get("/reports/").get_data(as_text=True)
    assert archive.sha256[:12] in index


def test_a_unit_sees_its_subtree_only(client, office):
    edu = reports.request_report(
        office.actor("duty"),
        {
            "kind": "sla",
            "fmt": "xlsx",
            "start": "2026-10-01",
            "end": "2026-10-31",
            "unit_id": office.edu.id,
        },
    )
    whole = reports.request_report(
        office.actor("admin"),
        {"kind": "sla", "fmt": "xlsx", "start": "2026-10-01", "end": "2026-10-31"},
    )
    db.session.commit()
    from sentinel.models import User
    from sentinel.services import users
    from tests.conftest import PASSWORD

    users.create_user(office.actor("admin"), "health_leader", PASSWORD, "leader", [office.health])
    db.session.commit()
    health_leader = db.session.scalars(select(User).where(User.username == "health_leader")).one()
    assert reports.archives_for(health_leader) == []
    assert {a.id for a in reports.archives_for(office.users["leader"])} == {edu.id, whole.id}
    csrf_login(client, "health_leader")
    assert client.get(f"/reports/{whole.id}/status").status_code == 404
    assert client.get(f"/reports/{edu.id}/download").status_code == 404
    page, token = page_token(client, "/reports/")
    assert "全部单位" not in page and "县教育局" not in page
    # Neither the whole tree nor another unit's subtree can be asked for.
    client.post("/reports/", data={**_form(office, token), "unit_id": ""})
    client.post("/reports/", data=_form(office, token))
    assert db.session.scalar(select(ReportArchive.id).where(ReportArchive.id > whole.id)) is None
    sla = f"/reports/sla?period=month&day=2026-10-15&unit_id={office.edu.id}"
    assert client.get(sla).status_code == 404
    assert client.get("/reports/sla?period=month&day=2026-10-15").status_code == 404


def test_the_real_services_feed_the_report_and_its_drill_down(client, office):
    duty, edu_handler = office.actor("duty"), office.actor("edu_handler")
    health_handler = office.actor("health_handler")
    case = office.case("第1号留言：学校门口的路灯坏了")
    triage.claim(duty, case)
    triage.dispatch(duty, case, office.health)
    returns.return_case(health_handler, case, "function", "")
    triage.dispatch(duty, case, office.edu)
    triage.acknowledge(edu_handler, case)
    task = returns.add_assist(duty, case, office.health, 2)
    returns.finish_assist(health_handler, case, task)
    publish_answer(office, case, "您好，已安排维修。")
    db.session.commit()
    assert db.session.get(Assignment, task.id).finished_at is not None
    today = utcnow().astimezone(SHANGHAI).date()
    table = sla_report.sla_table(sla_report.period_of("day", today))
    rows = {r.name: r.values for r in table.rows}
    assert rows["县教育局"]["dispatched"] == 1 and rows["县教育局"]["answered"] == 1
    assert rows["县教育局"]["answered_on_time"] == 1 and rows["县教育局"]["ack_on_time"] == 1
    assert rows["县卫健局"]["returned"] == 1 and rows["县卫健局"]["redispatched"] == 1
    assert rows["县卫健局"]["assist_tasks"] == 1 and rows["县卫健局"]["assist_on_time"] == 1
    csrf_login(client, "duty")
    page = client.get(f"/reports/sla?period=day&day={today}&unit_id={office.root.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "按期办结率" in html and "指标说明" in html
    link = (
        f"/reports/cases?metric=returned&amp;unit_id={office.health.id}"
        f"&amp;start={today}&amp;end={today}"
    )
    assert link in html
    drill = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert f"#{case.id}" in drill


def test_the_page_offers_pdf_and_serves_it_as_a_pdf(client, office):
    csrf_login(client, "duty")
    page, token = page_token(client, "/reports/")
    assert '<option value="pdf">PDF</option>' in page
    response = client.post("/reports/", data=_form(office, token, fmt="pdf"))
    assert response.status_code == 302
    archive = db.session.scalars(select(ReportArchive)).one()
    assert archive.fmt == "pdf" and archive.status == "ready"
    download = client.get(f"/reports/{archive.id}/download")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert download.data.startswith(b"%PDF-") and download.data == reports.file_bytes(archive)
    assert f"{archive.title}.pdf" in download.headers["Content-Disposition"] or (
        "filename*=" in download.headers["Content-Disposition"]
    )
