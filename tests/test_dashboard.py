"""Dashboards: every figure against a hand-computed October 2026 fixture, every number and
chart point drilling down to exactly the cases it counts, the CSV/XLSX export (opened and
parsed), and unit scope on pages and exports, URL tampering included."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook

from sentinel.extensions import db
from sentinel.models import Case, Item
from sentinel.services import dashboard, units, users
from sentinel.services.dashboard import DrillFilter
from sentinel.services.sla_report import custom_period
from sentinel.timefmt import SHANGHAI
from tests.conftest import PASSWORD, SEED_ACTOR

OCT = "start=2026-10-01&end=2026-10-31"
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def L(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A local (Asia/Shanghai) time in 2026, as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


class Fixture:
    """Eleven cases around October 2026 (see each line); the expected figures are written out
    by hand in the tests, not computed."""

    def __init__(self, office: Any) -> None:
        self.o = office
        self.root, self.edu, self.health = office.root, office.edu, office.health
        self.section = units.create_unit(SEED_ACTOR, "县教育局基教科", "section", office.edu)
        users.create_user(SEED_ACTOR, "leader_health", PASSWORD, "leader", [office.health])
        self.c: dict[str, Case] = {}
        edu, health, section = self.edu, self.health, self.section
        # A: Mon 10/12; dispatched 09:30, 签收 11:00 (1.5 working hours); answered Wed 10/14
        # 16:00, clock from 11:00: 5 + 7.5 + 6 = 18.5 h = 2.47 working days. Met.
        self.add(
            "A",
            first=L(10, 12, 9),
            unit=edu,
            status="answered",
            topic="教育",
            sentiment="negative",
            dispatched_at=L(10, 12, 9, 30),
            acknowledged_at=L(10, 12, 11),
            clock_started_at=L(10, 12, 11),
            due_at=L(10, 20, 17, 30),
            answered_at=L(10, 14, 16),
            deadline_state="met",
        )
        # B: 10/13 07:00 local = 10/12 23:00 UTC: a 10/13 case in Beijing time. Late.
        self.add(
            "B",
            first=L(10, 13, 7),
            unit=edu,
            status="answered",
            topic="教育",
            sentiment="neutral",
            due_at=L(10, 16, 17, 30),
            answered_at=L(10, 20, 10),
            deadline_state="late",
        )
        # C: in the section below edu; due 10/16, still open → overdue at the end of October.
        self.add(
            "C",
            first=L(10, 13, 10),
            unit=section,
            status="acknowledged",
            topic="交通",
            sentiment="negative",
            due_at=L(10, 16, 17, 30),
        )
        # D: health, answered on time.
        self.add(
            "D",
            first=L(10, 14, 10),
            unit=health,
            status="answered",
            topic="医疗",
            sentiment="positive",
            due_at=L(10, 21, 17, 30),
            answered_at=L(10, 15, 10),
            deadline_state="met",
        )
        # E: not dispatched, no labels: counts in the receiving unit (root).
        self.add("E", first=L(10, 19, 10), unit=None, status="new", topic=None, sentiment=None)
        # F: merged into A: never counted.
        self.add(
            "F", first=L(10, 12, 10), unit=edu, status="merged", topic="教育", sentiment="negative"
        )
        # G: arrived in September (9/30 23:00 local), answered on time in October.
        self.add(
            "G",
            first=L(9, 30, 23),
            unit=edu,
            status="answered",
            topic="教育",
            sentiment="neutral",
            due_at=L(10, 12, 17, 30),
            answered_at=L(10, 9, 10),
            deadline_state="met",
        )
        # H: 10/31 23:59 local, health, dispatched, due in November.
        self.add(
            "H",
            first=L(10, 31, 23, 59),
            unit=health,
            status="dispatched",
            topic="医疗",
            sentiment="negative",
            due_at=L(11, 5, 17, 30),
        )
        # J: health, due 10/23, answered late on 11/3: overdue and open at October's end.
        self.add(
            "J",
            first=L(10, 20, 10),
            unit=health,
            status="answered",
            topic="医疗",
            sentiment="neutral",
            due_at=L(10, 23, 17, 30),
            answered_at=L(11, 3, 10),
            deadline_state="late",
        )
        # K: edu, due 10/26, closed without an answer on 11/2: overdue at October's end too.
        self.add(
            "K",
            first=L(10, 21, 10),
            unit=edu,
            status="closed",
            topic="教育",
            sentiment="positive",
            due_at=L(10, 26, 17, 30),
            closed_at=L(11, 2, 10),
        )
        # I: 11/1 00:30 local = 10/31 16:30 UTC: a November case.
        self.add(
            "I",
            first=L(11, 1, 0, 30),
            unit=health,
            status="new",
            topic="医疗",
            sentiment="negative",
        )
        db.session.commit()

    def add(self, name: str, first: datetime, unit: Any, **values: Any) -> None:
        text_hash = hashlib.sha256(name.encode()).hexdigest()
        case = Case(
            title=f"{name} 看板测试",
            source_id=self.o.source.id,
            owner_unit_id=self.root.id,
            unit_id=unit.id if unit else None,
            text_hash=text_hash,
            first_item_at=first,
            last_item_at=first,
            created_at=first,
            **values,
        )
        db.session.add(case)
        db.session.flush()
        db.session.add(
            Item(
                source_id=self.o.source.id,
                external_id=f"dash-{name}",
                text=f"{name} 留言",
                text_normalised=f"{name} 留言",
                text_hash=text_hash,
                received_at=first,
                case_id=case.id,
            )
        )
        self.c[name] = case

    def ids(self, *names: str) -> set[int]:
        return {self.c[n].id for n in names}


@pytest.fixture
def fx(office: Any) -> Fixture:
    return Fixture(office)


def _board(fx: Fixture, unit: Any = None, bucket: str = "day") -> dashboard.Dashboard:
    ids = dashboard.subtree_ids(unit) if unit else None
    return dashboard.build(
        custom_period(date(2026, 10, 1), date(2026, 10, 31)),
        unit,
        ids,
        lambda f: "?" + "&".join(f"{k}={v}" for k, v in f.args().items()),
        bucket,
        now=NOW,
    )


def _cards(board: dashboard.Dashboard) -> dict[str, Any]:
    return {f.label: f.value for f in board.cards}


def test_leaders_figures_match_the_hand_computed_fixture(fx):
    board = _board(fx)
    # Volume: A B C D E H J K (F merged, G September, I November in Beijing time).
    assert _cards(board) == {
        "留言工单量": 8,
        "答复量": 4,  # A B D G
        "按期答复": 3,  # A D G
        "按期办结率": 0.75,
        "当前未办结": 4,  # C E H I — "now", whatever the period
        "超期未办结": 3,  # C, and J and K (answered / closed only after October)
    }
    by_day = {v["start"]: v["value"] for v in board.volume if v["value"]}
    assert by_day == {
        "2026-10-12": 1,
        "2026-10-13": 2,
        "2026-10-14": 1,
        "2026-10-19": 1,
        "2026-10-20": 1,
        "2026-10-21": 1,
        "2026-10-31": 1,
    }
    assert len(board.volume) == 31
    assert {t["name"]: t["value"] for t in board.topics} == {
        "教育": 3,  # A B K
        "交通": 1,
        "医疗": 3,  # D H J
        "未分类": 1,
    }
    assert {s["name"]: s["value"] for s in board.sentiments} == {
        "负面": 3,  # A C H
        "中性": 2,  # B J
        "正面": 2,  # D K
        "未识别": 1,
    }
    assert [s["name"] for s in board.sentiments] == ["负面", "中性", "正面", "未识别"]
    rows = {r["name"]: (r["answered"], r["on_time"], r["rate"], r["overdue"]) for r in board.units}
    assert rows == {
        "县卫健局": (1, 1, 1.0, 1),
        "县教育局": (3, 2, 0.6667, 1),
        "县教育局基教科": (0, 0, None, 1),
    }
    assert [r["name"] for r in board.units] == ["县卫健局", "县教育局", "县教育局基教科"]
    # The events panel lists the events behind the period's cases (see the events test).
    assert isinstance(board.events, list)


def test_weeks_are_monday_to_sunday_clipped_to_the_period(fx):
    board = _board(fx, bucket="week")
    assert [(v["label"], v["value"]) for v in board.volume] == [
        ("10-01至10-04", 0),
        ("10-05至10-11", 0),
        ("10-12至10-18", 4),
        ("10-19至10-25", 3),
        ("10-26至10-31", 1),
    ]


def test_unit_dashboard_covers_the_unit_and_its_subtree(fx):
    board = _board(fx, unit=fx.edu)
    assert board.title == "县教育局看板"
    cards = _cards(board)
    assert cards["留言工单量"] == 4  # A B C K
    assert (cards["答复量"], cards["按期答复"], cards["超期未办结"], cards["当前未办结"]) == (
        3,  # A B G
        2,  # A G
        2,  # C K
        1,  # C
    )
    assert {t["name"]: t["value"] for t in board.topics} == {"教育": 3, "交通": 1}


def test_drill_ids_are_exactly_the_cases_counted(fx):
    def ids(unit_ids: Any = None, **kw: Any) -> set[int]:
        f = DrillFilter(start=date(2026, 10, 1), end=date(2026, 10, 31), **kw)
        return set(db.session.scalars(dashboard.drill_ids(f, unit_ids, now=NOW)))

    assert ids(metric="volume") == fx.ids("A", "B", "C", "D", "E", "H", "J", "K")
    assert ids(metric="volume", topic="-") == fx.ids("E")
    assert ids(metric="volume", sentiment="negative") == fx.ids("A", "C", "H")
    assert ids(metric="answered_on_time") == fx.ids("A", "D", "G")
    assert ids(metric="overdue_open") == fx.ids("C", "J", "K")
    # As at the end of November J and K are answered / closed; C and H (due 11/5) are overdue.
    nov = DrillFilter("overdue_open", date(2026, 11, 1), date(2026, 11, 30))
    assert set(db.session.scalars(dashboard.drill_ids(nov, None, now=NOW))) == fx.ids("C", "H")
    assert ids(metric="open") == fx.ids("C", "E", "H", "I")
    edu_tree = dashboard.subtree_ids(fx.edu)
    assert ids(edu_tree, metric="volume") == fx.ids("A", "B", "C", "K")
    one_day = DrillFilter("volume", date(2026, 10, 13), date(2026, 10, 13))
    assert set(db.session.scalars(dashboard.drill_ids(one_day, None, now=NOW))) == fx.ids("B", "C")


def _login(client: Any, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302


def _total(page: str) -> int:
    return int(re.search(r'id="drill-total">(\d+)<', page).group(1))


def _listed(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/cases/(\d+)"', page)}


def _chart_data(page: str) -> dict[str, Any]:
    raw = page.split('<script type="application/json" id="dash-data">')[1].split("</script>")[0]
    return json.loads(raw)


def _cards_on_page(page: str) -> list[tuple[str, str, str]]:
    return re.findall(
        r'<a class="dash-card" href="([^"]+)" data-figure="([^"]+)">.*?'
        r'<span class="dash-value">([^<]+)</span>',
        page,
        re.S,
    )


def test_every_number_and_chart_point_drills_down_to_its_cases(fx, client):
    _login(client, "admin")
    page = client.get(f"/dashboard/?{OCT}").get_data(as_text=True)
    assert "echarts.min.js" in page and "领导驾驶舱" in page
    cards = _cards_on_page(page)
    assert len(cards) == 6
    checked = 0
    for href, label, value in cards:
        listed = client.get(href.replace("&amp;", "&")).get_data(as_text=True)
        if label == "按期办结率":
            assert value.strip() == "75.0%"
            assert _total(listed) == 3
        else:
            assert _total(listed) == int(value), label
            assert len(_listed(listed)) == int(value)
        checked += 1
    assert checked == 6
    data = _chart_data(page)
    points = data["volume"] + data["topics"] + data["sentiments"]
    for point in points:
        listed = client.get(point["url"]).get_data(as_text=True)
        assert _total(listed) == point["value"], point
    for row in data["units"]:
        for key, url_key in (
            ("answered", "answered_url"),
            ("on_time", "on_time_url"),
            ("overdue", "overdue_url"),
        ):
            listed = client.get(row[url_key]).get_data(as_text=True)
            assert _total(listed) == row[key], (row["name"], key)
    # The list behind the 10/13 bar is B and C, by name.
    bar = next(p for p in data["volume"] if p["start"] == "2026-10-13")
    assert _listed(client.get(bar["url"]).get_data(as_text=True)) == fx.ids("B", "C")


def test_export_csv_and_xlsx_carry_the_cases_and_their_working_times(fx, client):
    from sentinel.models import Reply

    # A's answer as published (the frozen text and its link go into the export).
    db.session.add(
        Reply(
            case_id=fx.c["A"].id,
            kind="answer",
            status="final",
            body="您好，路灯已修复。",
            published_at=fx.c["A"].answered_at,
            published_link="https://www.example.gov.cn/reply/1",
        )
    )
    db.session.commit()
    _login(client, "duty")
    query = f"metric=answered&{OCT}"
    response = client.get(f"/dashboard/cases.csv?{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert header == list(dashboard.EXPORT_COLUMNS)
    by_id = {int(r[0]): dict(zip(header, r, strict=True)) for r in body}
    assert set(by_id) == fx.ids("A", "B", "D", "G")
    a = by_id[fx.c["A"].id]
    assert a["首次响应（工作小时）"] == "1.5"
    assert a["办理用时（工作日）"] == "2.47"
    assert a["主办单位"] == "县教育局" and a["收件单位"] == "测试县政府办"
    assert a["首条留言时间"] == "2026-10-12 09:00" and a["是否超期"] == "按期"
    assert by_id[fx.c["B"].id]["是否超期"] == "超期办结"
    assert a["已发布的答复"] == "您好，路灯已修复。"
    assert a["发布链接"] == "https://www.example.gov.cn/reply/1"
    assert by_id[fx.c["B"].id]["已发布的答复"] == ""  # answered without a published reply row

    response = client.get(f"/dashboard/cases.xlsx?{query}")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.data))
    ws = wb["工单"]
    values = list(ws.iter_rows(values_only=True))
    assert list(values[0]) == list(dashboard.EXPORT_COLUMNS)
    assert ws.freeze_panes == "A2"
    xrows = {r[0]: r for r in values[1:]}
    assert set(xrows) == fx.ids("A", "B", "D", "G")
    a_row = xrows[fx.c["A"].id]
    # Numbers stay numbers in the workbook.
    assert a_row[10] == 1.5 and a_row[13] == 2.47 and isinstance(a_row[0], int)
    assert wb["筛选条件"]["B1"].value == "答复量"


def test_unit_scope_on_pages_and_exports_even_with_an_edited_url(fx, client):
    _login(client, "leader_health")
    page = client.get(f"/dashboard/?{OCT}").get_data(as_text=True)
    cards = {label: value for _h, label, value in _cards_on_page(page)}
    assert cards["留言工单量"] == "3"  # D H J only
    assert "县教育局" not in page
    # Other units' rows: by unit id, subtree, list or export: 404.
    for url in (
        f"/dashboard/unit?unit_id={fx.edu.id}",
        f"/reports/cases?metric=volume&unit_id={fx.edu.id}&{OCT}",
        f"/reports/cases?metric=volume&unit_id={fx.root.id}&subtree=1&{OCT}",
        f"/dashboard/cases.csv?metric=volume&unit_id={fx.edu.id}&{OCT}",
        f"/dashboard/cases.xlsx?metric=volume&unit_id={fx.section.id}&subtree=1&{OCT}",
    ):
        assert client.get(url).status_code == 404, url
    # Without a unit the list and the export are the viewer's own scope only.
    listed = client.get(f"/reports/cases?metric=volume&{OCT}").get_data(as_text=True)
    assert _listed(listed) == fx.ids("D", "H", "J")
    export = client.get(f"/dashboard/cases.csv?metric=open&{OCT}").data.decode("utf-8-sig")
    assert {int(r[0]) for r in list(csv.reader(io.StringIO(export)))[1:]} == fx.ids("H", "I")
    own = client.get(f"/dashboard/unit?unit_id={fx.health.id}&{OCT}")
    assert own.status_code == 200 and "县卫健局看板" in own.get_data(as_text=True)


def test_malformed_filters_are_refused(fx, client):
    _login(client, "admin")
    for query in (
        f"metric=nope&{OCT}",
        "metric=volume&start=2026-10-31&end=2026-10-01",
        "metric=volume&start=2025-01-01&end=2026-10-01",
        f"metric=volume&unit_id=abc&{OCT}",
    ):
        assert client.get(f"/reports/cases?{query}").status_code in (400, 404), query
    # An event filter lists only that event's cases in scope (none: there is no such event).
    page = client.get(f"/reports/cases?metric=volume&event_id=999999&{OCT}")
    assert '<strong id="drill-total">0</strong>' in page.get_data(as_text=True)
    assert client.get("/dashboard/?bucket=month").status_code == 400
    assert client.get(f"/dashboard/cases.pdf?metric=volume&{OCT}").status_code == 404


def test_handlers_and_reviewers_have_no_dashboard(fx, client):
    for name in ("edu_handler", "reviewer"):
        _login(client, name)
        assert client.get("/dashboard/").status_code == 403
        assert client.get(f"/dashboard/cases.csv?metric=volume&{OCT}").status_code == 403
        client.post("/logout")


@pytest.mark.skipif(
    dashboard._event_models() is None,
    reason="the Event model (branch events12) is not on this branch: no events panel to test",
)
def test_events_panel_when_the_model_exists(fx, client):
    """Runs once events12 is merged (it was run on a scratch merge of its model)."""
    from sentinel.models import Event, EventItem  # type: ignore[attr-defined]

    hot = Event(title="学校食堂问题", first_at=L(10, 12, 9), last_at=L(10, 13, 10), heat=42.0)
    other = Event(title="卫健事件", first_at=L(10, 14, 9), last_at=L(10, 14, 10), heat=10.0)
    db.session.add_all([hot, other])
    db.session.flush()
    for name, event in (("A", hot), ("B", hot), ("D", other), ("I", other)):
        case = fx.c[name]
        db.session.add(
            EventItem(
                event_id=event.id,
                item_id=case.items[0].id,
                case_id=case.id,
                item_at=case.first_item_at,
            )
        )
    db.session.commit()
    board = _board(fx)
    # I arrived in November: the 卫健事件 counts only D in October.
    assert [(e["title"], e["cases"]) for e in board.events] == [
        ("学校食堂问题", 2),
        ("卫健事件", 1),
    ]
    f = DrillFilter("volume", date(2026, 10, 1), date(2026, 10, 31), event_id=hot.id)
    assert set(db.session.scalars(dashboard.drill_ids(f, None, now=NOW))) == fx.ids("A", "B")
    assert [(e["title"], e["cases"]) for e in _board(fx, unit=fx.health).events] == [
        ("卫健事件", 1)
    ]
    _login(client, "admin")
    page = client.get(f"/dashboard/?{OCT}").get_data(as_text=True)
    assert 'id="events-panel"' in page and "学校食堂问题" in page and "进行中" in page
    url = re.search(r'href="(/reports/cases\?[^"]*event_id=\d+[^"]*)"', page).group(1)
    listed = client.get(url.replace("&amp;", "&")).get_data(as_text=True)
    assert _total(listed) == 2
