"""The triage queue's search, filters and live feed."""

from __future__ import annotations

from sentinel.extensions import db
from sentinel.services import triage


def test_text_search_finds_cases_by_any_of_their_items(client, auth, office):
    office.case("小区物业乱收停车费")
    office.case("公交站台顶棚漏雨")
    auth.login("duty")
    body = client.get("/triage/?q=物业").get_data(as_text=True)
    assert "乱收停车费" in body and "顶棚漏雨" not in body
    body = client.get("/triage/?q=100%25_").get_data(as_text=True)  # LIKE wildcards are literal
    assert "乱收停车费" not in body and "顶棚漏雨" not in body


def test_search_by_case_number(client, auth, office):
    case = office.case("公交站台顶棚漏雨")
    office.case("小区物业乱收停车费")
    auth.login("duty")
    body = client.get(f"/triage/?q=%23{case.id}").get_data(as_text=True)
    assert "顶棚漏雨" in body and "乱收停车费" not in body


def test_status_tabs_and_unit_filter(client, auth, office):
    a = office.case("学校门口交通拥堵")
    office.case("小区物业乱收停车费")
    triage.dispatch(office.actor("duty"), a, office.edu)
    db.session.commit()
    auth.login("duty")
    todo = client.get("/triage/").get_data(as_text=True)
    assert "乱收停车费" in todo and "交通拥堵" not in todo
    dispatched = client.get(f"/triage/?status=dispatched&unit_id={office.edu.id}").get_data(
        as_text=True
    )
    assert "交通拥堵" in dispatched and "乱收停车费" not in dispatched


def test_live_feed_returns_only_newer_cases(client, auth, office):
    first = office.case("第一条")
    auth.login("duty")
    assert client.get(f"/triage/feed?after={first.id}").get_json()["count"] == 0
    second = office.case("第二条新留言")
    feed = client.get(f"/triage/feed?after={first.id}").get_json()
    assert feed["count"] == 1 and feed["max_id"] == second.id and "第二条新留言" in feed["html"]


def test_filtered_count_stops_at_the_cap_and_says_so(app, client, auth, office, monkeypatch):
    from sentinel.services import case_queries

    monkeypatch.setattr(case_queries, "COUNT_CAP", 3)
    app.config["TRIAGE_PAGE_SIZE"] = 2
    for n in range(5):
        office.case(f"小区物业第{n}号楼电梯故障")
    office.case("公交站台顶棚漏雨")
    auth.login("duty")
    body = client.get("/triage/?q=物业").get_data(as_text=True)
    assert "第 1 / 2 页，共 3+ 件" in body and "请缩小筛选范围" in body
    body = client.get("/triage/?q=顶棚").get_data(as_text=True)
    assert "共 1 件" in body and "3+" not in body
