"""The 留言办理情况 report: every figure against a hand-computed fixture (October 2026).

The fixture is written as rows with hand-set times (services stamp ``utcnow()``), so the
expected figures below are worked out by hand from the times in the comments. Calendar:
国庆 10/1–10/7 off, Saturday 10/10 a 调休 working day; office hours 08:30–12:00 and
13:30–17:30 (7.5 working hours a day). One test at the end drives the real services.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from sentinel.extensions import db
from sentinel.models import (
    Assignment,
    Case,
    CaseReturn,
    DeadlineChange,
    Item,
    ReportArchive,
)
from sentinel.services import reports, sla_report, units, workcalendar
from sentinel.services.sla_report import Period
from sentinel.timefmt import SHANGHAI
from tests.conftest import SEED_ACTOR

OCTOBER = Period("month", date(2026, 10, 1), date(2026, 10, 31))
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def L(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A local (Asia/Shanghai) time in 2026, as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


class Fixture:
    def __init__(self, office: Any) -> None:
        self.o = office
        for day in range(4, 8):  # 10/1–10/3 are fixed holidays already
            workcalendar.set_day(SEED_ACTOR, date(2026, 10, day), "holiday", "国庆节")
        workcalendar.set_day(SEED_ACTOR, date(2026, 10, 10), "workday", "国庆节调休")
        self.transport = units.create_unit(SEED_ACTOR, "县交通局", "department", office.root)
        self.root, self.edu, self.health = office.root, office.edu, office.health
        self.n = 0
        self.cases: dict[str, Case] = {}
        self.build()
        db.session.commit()

    def case(self, name: str, owner: Any, first: datetime, **values: Any) -> Case:
        self.n += 1
        case = Case(
            title=f"{name} 测试工单",
            status=values.pop("status", "new"),
            source_id=self.o.source.id,
            owner_unit_id=owner.id,
            text_hash=hashlib.sha256(name.encode()).hexdigest(),
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
                external_id=f"fx-{name}",
                text=f"{name} 留言",
                text_normalised=f"{name} 留言",
                text_hash=case.text_hash,
                received_at=first,
                case_id=case.id,
            )
        )
        self.cases[name] = case
        return case

    def lead(self, case: Case, unit: Any, at: datetime, ack: datetime | None, status: str) -> None:
        db.session.add(
            Assignment(
                case_id=case.id,
                unit_id=unit.id,
                role="lead",
                status=status,
                assigned_at=at,
                acknowledged_at=ack,
            )
        )

    def build(self) -> None:
        root, edu, health, transport = self.root, self.edu, self.health, self.transport
        # C1: dispatched Fri 10/9 09:00, 签收 10:00 (1 working hour, response due 14:30);
        # answered Mon 10/12 16:00 (due 10/13: 10/10 is a 调休 working day) → met.
        # Resolution 10/9 10:00 → 10/12 16:00 = 6 + 7.5 (10/10) + 6 = 19.5 h = 2.6 days.
        c1 = self.case(
            "C1",
            root,
            L(10, 9, 8),
            status="answered",
            unit_id=edu.id,
            dispatched_at=L(10, 9, 9),
            acknowledged_at=L(10, 9, 10),
            clock_started_at=L(10, 9, 10),
            response_due_at=L(10, 9, 14, 30),
            due_at=L(10, 13, 17, 30),
            answered_at=L(10, 12, 16),
            deadline_state="met",
        )
        self.lead(c1, edu, L(10, 9, 9), L(10, 9, 10), "done")
        # C2: dispatched Wed 9/30 16:00; response due across the holiday: 1.5 h on 9/30,
        # 2.5 h on Thu 10/8 → 11:00; 签收 10/8 11:30 → late, 1.5 + 3 = 4.5 working hours.
        # Due 10/12, never answered → overdue and open at the end of October.
        c2 = self.case(
            "C2",
            root,
            L(9, 30, 15),
            status="acknowledged",
            unit_id=edu.id,
            dispatched_at=L(9, 30, 16),
            acknowledged_at=L(10, 8, 11, 30),
            clock_started_at=L(10, 8, 11, 30),
            response_due_at=L(10, 8, 11),
            due_at=L(10, 12, 17, 30),
        )
        self.lead(c2, edu, L(9, 30, 16), L(10, 8, 11, 30), "acknowledged")
        # C3: edu acknowledges then returns it (退单); re-dispatched to health, which
        # acknowledges on time, gets an extension (10/14) and answers 10/20 15:00 → met.
        # Resolution 10/13 09:30 → 10/20 15:00 = 6.5 + 3×7.5 + 7.5 + 5 = 41.5 h.
        c3 = self.case(
            "C3",
            root,
            L(10, 12, 9),
            status="answered",
            unit_id=health.id,
            dispatched_at=L(10, 13, 9),
            acknowledged_at=L(10, 13, 9, 30),
            clock_started_at=L(10, 13, 9, 30),
            response_due_at=L(10, 13, 14, 30),
            due_at=L(10, 22, 17, 30),
            extension_days=2,
            answered_at=L(10, 20, 15),
            deadline_state="met",
            return_count=1,
        )
        self.lead(c3, edu, L(10, 12, 9, 30), L(10, 12, 10), "returned")
        db.session.add(
            CaseReturn(
                case_id=c3.id,
                unit_id=edu.id,
                reason="function",
                returned_at=L(10, 12, 11),
                outcome="redispatched",
                outcome_unit_id=health.id,
            )
        )
        self.lead(c3, health, L(10, 13, 9), L(10, 13, 9, 30), "done")
        db.session.add(
            DeadlineChange(
                case_id=c3.id,
                kind="extension",
                status="approved",
                days=2,
                reason="现场核查",
                approver_role="duty_officer",
                requested_at=L(10, 14, 9),
                decided_at=L(10, 14, 10),
            )
        )
        # C4: ping-pong. Transport returns it, health returns it, arbitration gives it
        # back to transport, which acknowledges on time; due 10/21, still open. Edu assists
        # (due 10/19 17:30, done 10/19 10:00 → on time).
        c4 = self.case(
            "C4",
            root,
            L(10, 15, 8),
            status="acknowledged",
            unit_id=transport.id,
            dispatched_at=L(10, 16, 10),
            acknowledged_at=L(10, 16, 10, 30),
            clock_started_at=L(10, 16, 10, 30),
            response_due_at=L(10, 16, 15, 30),
            due_at=L(10, 21, 17, 30),
            return_count=2,
        )
        self.lead(c4, transport, L(10, 15, 9), None, "returned")
        db.session.add(
            CaseReturn(
                case_id=c4.id,
                unit_id=transport.id,
                reason="function",
                returned_at=L(10, 15, 10),
                outcome="redispatched",
                outcome_unit_id=health.id,
            )
        )
        self.lead(c4, health, L(10, 15, 11), None, "returned")
        db.session.add(
            CaseReturn(
                case_id=c4.id,
                unit_id=health.id,
                reason="territory",
                returned_at=L(10, 16, 9),
                outcome="arbitrated",
                outcome_unit_id=transport.id,
            )
        )
        self.lead(c4, transport, L(10, 16, 10), L(10, 16, 10, 30), "acknowledged")
        db.session.add(
            Assignment(
                case_id=c4.id,
                unit_id=edu.id,
                role="assist",
                status="done",
                assigned_at=L(10, 16, 11),
                due_at=L(10, 19, 17, 30),
                finished_at=L(10, 19, 10),
            )
        )
        # C5: received on edu's own account; 签收 10/19 15:00 after the 14:30 response
        # deadline (3 + 1.5 = 4.5 h); paused 10/20; answered 10/26 09:30 after the due
        # time 10/23 → closed late. Resolution 2.5 + 4×7.5 + 1 = 33.5 h. Health assists
        # (due 10/21, done 10/22 → late); a withdrawn transport assist does not count.
        c5 = self.case(
            "C5",
            edu,
            L(10, 19, 8),
            status="answered",
            unit_id=edu.id,
            dispatched_at=L(10, 19, 9),
            acknowledged_at=L(10, 19, 15),
            clock_started_at=L(10, 19, 15),
            response_due_at=L(10, 19, 14, 30),
            due_at=L(10, 23, 17, 30),
            answered_at=L(10, 26, 9, 30),
            deadline_state="late",
        )
        self.lead(c5, edu, L(10, 19, 9), L(10, 19, 15), "done")
        db.session.add(
            DeadlineChange(
                case_id=c5.id,
                kind="pause",
                status="approved",
                days=1,
                reason="等待材料",
                approver_role="duty_officer",
                requested_at=L(10, 20, 9),
                decided_at=L(10, 20, 10),
            )
        )
        for unit, status, finished in (
            (health, "done", L(10, 22, 9)),
            (transport, "withdrawn", None),
        ):
            db.session.add(
                Assignment(
                    case_id=c5.id,
                    unit_id=unit.id,
                    role="assist",
                    status=status,
                    assigned_at=L(10, 20, 9),
                    due_at=L(10, 21, 17, 30),
                    finished_at=finished,
                )
            )
        # C6: merged into C1 after dispatch to edu: counts nowhere.
        c6 = self.case(
            "C6",
            root,
            L(10, 9, 8, 30),
            status="merged",
            unit_id=edu.id,
            dispatched_at=L(10, 9, 9),
            merged_into_id=c1.id,
            closed_at=L(10, 9, 11),
            close_reason="merged",
        )
        self.lead(c6, edu, L(10, 9, 9), None, "active")
        # C7: dispatched Fri 10/30 16:00, 签收 16:30 (0.5 h, on time); answered in
        # November: counts in October's dispatches and 签收, not in its answers.
        c7 = self.case(
            "C7",
            root,
            L(10, 30, 15),
            status="answered",
            unit_id=edu.id,
            dispatched_at=L(10, 30, 16),
            acknowledged_at=L(10, 30, 16, 30),
            clock_started_at=L(10, 30, 16, 30),
            response_due_at=L(11, 2, 11),
            due_at=L(11, 4, 17, 30),
            answered_at=L(11, 3, 10),
            deadline_state="met",
        )
        self.lead(c7, edu, L(10, 30, 16), L(10, 30, 16, 30), "done")
        # C8: September (the previous period): edu answers on time.
        c8 = self.case(
            "C8",
            root,
            L(9, 10, 8),
            status="answered",
            unit_id=edu.id,
            dispatched_at=L(9, 10, 9),
            acknowledged_at=L(9, 10, 9, 30),
            clock_started_at=L(9, 10, 9, 30),
            response_due_at=L(9, 10, 13),
            due_at=L(9, 15, 17, 30),
            answered_at=L(9, 11, 10),
            deadline_state="met",
        )
        self.lead(c8, edu, L(9, 10, 9), L(9, 10, 9, 30), "done")
        # C9: noise, received during the holiday; C11 at 23:30 on 10/31 (October);
        # C12 at 00:10 on 11/1 local — still 10/31 in UTC, but November here.
        self.case("C9", root, L(10, 2, 10), status="noise", closed_at=L(10, 5, 9))
        self.case("C11", root, L(10, 31, 23, 30))
        self.case("C12", root, L(11, 1, 0, 10))


@pytest.fixture
def fx(office: Any) -> Fixture:
    return Fixture(office)


def _rows(table: sla_report.SlaTable) -> dict[str, dict[str, Any]]:
    out = {r.name: r.values for r in table.rows}
    out["合计"] = table.total.values
    return out


EXPECTED_COUNTS = {
    # unit: received, dispatched, acknowledged, ack_on_time, ack_late, answered,
    # answered_on_time, closed_late, overdue_open, extended, paused, returned,
    # redispatched, ping_pong, assist_tasks, assist_on_time
    "测试县政府办": (6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "县教育局": (1, 4, 5, 2, 2, 2, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1),
    "县卫健局": (0, 2, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 0),
    "县交通局": (0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0),
    "合计": (7, 7, 7, 4, 2, 3, 2, 1, 2, 1, 1, 3, 3, 2, 2, 1),
}
COUNT_KEYS = (
    "received",
    "dispatched",
    "acknowledged",
    "ack_on_time",
    "ack_late",
    "answered",
    "answered_on_time",
    "closed_late",
    "overdue_open",
    "extended",
    "paused",
    "returned",
    "redispatched",
    "ping_pong",
    "assist_tasks",
    "assist_on_time",
)


def test_every_count_matches_the_hand_computed_fixture(fx):
    rows = _rows(sla_report.sla_table(OCTOBER, now=NOW))
    for unit, expected in EXPECTED_COUNTS.items():
        got = tuple(rows[unit][k] for k in COUNT_KEYS)
        assert got == expected, unit


def test_rates_times_ranking_and_totals(fx):
    table = sla_report.sla_table(OCTOBER, now=NOW)
    rows = _rows(table)
    edu, health, transport = rows["县教育局"], rows["县卫健局"], rows["县交通局"]
    assert edu["on_time_rate"] == 0.5 and health["on_time_rate"] == 1.0
    assert transport["on_time_rate"] is None
    assert edu["assist_rate"] == 1.0 and health["assist_rate"] == 0.0
    # First response (working hours): C1 1, C2 4.5 (across 国庆), C3 (before its
    # return) 0.5, C5 4.5, C7 0.5.
    assert edu["avg_response_h"] == 2.2 and edu["median_response_h"] == 1.0
    assert health["avg_response_h"] == 0.5 and transport["median_response_h"] == 0.5
    # Resolution (working days of 7.5 h): C1 19.5 h (调休 Saturday counts), C5 33.5 h.
    assert edu["avg_resolution_d"] == round((2.6 + 33.5 / 7.5) / 2, 2)
    assert health["median_resolution_d"] == round(41.5 / 7.5, 2)
    total = rows["合计"]
    assert total["on_time_rate"] == round(2 / 3, 4)
    assert total["avg_response_h"] == round(12 / 7, 2) and total["median_response_h"] == 0.5
    assert total["median_resolution_d"] == round(33.5 / 7.5, 2)
    assert total["satisfaction"] is None
    assert [(r.name, r.rank) for r in table.rows] == [
        ("县卫健局", 1),
        ("县教育局", 2),
        ("测试县政府办", None),
        ("县交通局", None),
    ]
    assert table.cutoff == L(11, 1, 0)


def test_previous_period_and_subtree(fx):
    september = OCTOBER.previous()
    assert (september.start, september.end) == (date(2026, 9, 1), date(2026, 9, 30))
    prev = _rows(sla_report.sla_table(september, now=NOW))
    assert prev["县教育局"]["answered"] == 1 and prev["县教育局"]["on_time_rate"] == 1.0
    assert prev["测试县政府办"]["received"] == 2  # C2, C8
    assert prev["县教育局"]["dispatched"] == 2  # C2 on 9/30, C8
    sub = sla_report.sla_table(OCTOBER, fx.edu, now=NOW)
    assert [r.name for r in sub.rows] == ["县教育局"]
    assert sub.total.values["dispatched"] == 4


def test_each_figure_drills_down_to_exactly_its_cases(fx):
    c = {k: v.id for k, v in fx.cases.items()}
    expect = {
        ("ack_late", fx.edu): {c["C2"], c["C5"]},
        ("acknowledged", fx.edu): {c["C1"], c["C2"], c["C3"], c["C5"], c["C7"]},
        ("dispatched", fx.transport): {c["C4"]},
        ("overdue_open", fx.edu): {c["C2"]},
        ("returned", fx.health): {c["C4"]},
        ("ping_pong", fx.transport): {c["C4"]},
        ("extended", fx.health): {c["C3"]},
        ("paused", fx.edu): {c["C5"]},
        ("assist_tasks", fx.health): {c["C5"]},
        ("closed_late", fx.edu): {c["C5"]},
        ("received", fx.root): {c["C1"], c["C3"], c["C4"], c["C7"], c["C9"], c["C11"]},
    }
    for (metric, unit), ids in expect.items():
        got = set(db.session.scalars(sla_report.drilldown_case_ids(metric, unit.id, OCTOBER, NOW)))
        assert got == ids, metric
    # Every figure equals the size of its list where the figure counts cases.
    rows = {r.unit_id: r.values for r in sla_report.sla_table(OCTOBER, now=NOW).rows}
    for metric in ("received", "dispatched", "answered", "overdue_open", "ping_pong"):
        for unit_id, values in rows.items():
            ids = list(
                db.session.scalars(sla_report.drilldown_case_ids(metric, unit_id, OCTOBER, NOW))
            )
            assert len(ids) == values[metric], (metric, unit_id)


def test_working_clock_equals_the_calendar_service(fx):
    periods = workcalendar.office_periods(None)
    snap = workcalendar.snapshot()
    clock = sla_report.WorkingClock(date(2026, 9, 1), date(2026, 11, 30), periods, snap)
    rng = random.Random(14)
    start = L(9, 1, 0)
    pairs: list[tuple[float, float]] = []
    expected_spans: list[float] = []
    for _ in range(300):
        a = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 85))
        b = a + timedelta(minutes=rng.randrange(0, 60 * 24 * 10))
        expected = workcalendar.working_seconds_between(a, b, periods, snap)
        assert abs(clock.between(a, b) - expected) < 1
        pairs.append((a.timestamp(), b.timestamp()))
        expected_spans.append(expected)
    # The array form the report uses gives the same spans, and refuses moments outside.
    got = clock.spans(pairs)
    assert len(got) == len(pairs)
    assert all(abs(g - e) < 1 for g, e in zip(got, expected_spans, strict=True))
    assert clock.spans([]) == []
    with pytest.raises(ValueError):
        clock.spans([(L(8, 1, 0).timestamp(), L(9, 2, 0).timestamp())])


def test_periods():
    assert sla_report.period_of("week", date(2026, 10, 14)) == Period(
        "week", date(2026, 10, 12), date(2026, 10, 18)
    )
    q = sla_report.period_of("quarter", date(2026, 11, 5))
    assert (q.start, q.end, q.label) == (date(2026, 10, 1), date(2026, 12, 31), "2026年第4季度")
    assert q.previous().start == date(2026, 7, 1)
    assert sla_report.period_of("year", date(2026, 3, 1)).previous().start == date(2025, 1, 1)
    custom = sla_report.custom_period(date(2026, 10, 11), date(2026, 10, 20))
    assert (custom.previous().start, custom.previous().end) == (
        date(2026, 10, 1),
        date(2026, 10, 10),
    )


# --------------------------------------------------------------------------- documents


def _archive(kind: str, fmt: str, unit_id: int | None = None) -> ReportArchive:
    archive = reports.request_report(
        SEED_ACTOR,
        {
            "kind": kind,
            "fmt": fmt,
            "period": "month",
            "start": "2026-10-01",
            "end": "2026-10-31",
            "unit_id": unit_id,
        },
    )
    reports.generate(archive)
    db.session.commit()
    return archive


def test_xlsx_has_a_sheet_per_table_with_numbers_as_numbers(fx):
    from openpyxl import load_workbook

    archive = _archive("sla", "xlsx")
    wb = load_workbook(io.BytesIO(reports.file_bytes(archive)))
    assert wb.sheetnames == ["说明", "各单位办理情况", "上期各单位办理情况"]
    ws = wb["各单位办理情况"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header[:4] == ["名次", "单位", "收件量", "交办量"]
    assert "按期办结率" in header and "上期按期办结率" in header and "满意度" in header
    rows = {
        r[1]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)
    }
    edu = rows["县教育局"]
    assert edu["名次"] == 2 and edu["交办量"] == 4 and isinstance(edu["交办量"], int)
    assert edu["按期办结率"] == 0.5 and edu["上期按期办结率"] == 1.0
    assert edu["按期办结率变化（百分点）"] == -50
    assert edu["超期未办结"] == 1 and edu["退单"] == 1 and edu["满意度"] == "—"
    assert rows["合计"]["交办量"] == 7
    rate_col = header.index("按期办结率") + 1
    assert ws.cell(row=2, column=rate_col).number_format == "0.0%"
    cover = [r[0] for r in wb["说明"].iter_rows(values_only=True)]
    assert cover[0] == "2026年10月留言办理情况"
    assert any(str(v).startswith("按期办结率：") for v in cover)
    assert any("满意度" in str(v) and "尚未记录" in str(v) for v in cover)


def test_docx_is_shaped_like_an_official_notice(fx, app):
    from docx import Document

    archive = _archive("quarterly", "docx", fx.root.id)
    document = Document(io.BytesIO(reports.file_bytes(archive)))
    text = [p.text for p in document.paragraphs]
    assert text[0] == "2026年10月季通报（测试县政府办及下属单位）"
    assert text[1].startswith("测试县政府办")
    headings = [
        t for t in text if t[:2] in ("一、", "二、", "三、", "四、", "五、", "六、", "七、")
    ]
    assert headings == [
        "一、留言总体情况",
        "二、话题与情感",
        "三、热点事件",
        "四、各单位留言办理情况",
        "五、超期未办结工单名单",
        "六、退单工单名单",
        "七、指标说明",
    ]
    # Eight messages (C6's too: merged, it was still a message), seven cases (C6 merged).
    assert any("共收到留言 8 条，形成工单 7 件" in t for t in text)
    tables = document.tables
    sla_rows = [[c.text for c in r.cells] for r in tables[2].rows]
    edu = next(r for r in sla_rows if r[1] == "县教育局")
    assert edu[0] == "2" and edu[3] == "4" and "50.0%" in edu
    overdue = [[c.text for c in r.cells] for r in tables[4].rows]
    assert sorted(r[0] for r in overdue[1:]) == sorted(
        [str(fx.cases["C2"].id), str(fx.cases["C4"].id)]
    )
    returned = [[c.text for c in r.cells] for r in tables[5].rows]
    assert [r[2] for r in returned[1:]] == ["县教育局", "县交通局", "县卫健局"]
    assert text[-1].startswith("测试县政府办")


def _pdf_lines(data: bytes) -> list[list[str]]:
    """Each page's text lines, read back by pypdf (independent of reportlab)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return [
        [line.strip() for line in page.extract_text().splitlines() if line.strip()]
        for page in reader.pages
    ]


def test_pdf_has_the_title_sections_and_each_units_figures(fx):
    archive = _archive("quarterly", "pdf", fx.root.id)
    data = reports.file_bytes(archive)
    assert data.startswith(b"%PDF-")
    pages = _pdf_lines(data)
    lines = [line for page in pages for line in page]
    title = "2026年10月季通报（测试县政府办及下属单位）"
    assert title in lines
    assert all(page[-1] == f"第 {n} 页" or f"第 {n} 页" in page for n, page in enumerate(pages, 1))
    headings = [t for t in lines if t[:2] in {f"{n}、" for n in reports.CHINESE_NUMERALS}]
    assert headings == [
        "一、留言总体情况",
        "二、话题与情感",
        "三、热点事件",
        "四、各单位留言办理情况",
        "五、超期未办结工单名单",
        "六、退单工单名单",
        "七、指标说明",
    ]
    text = "".join(lines)
    assert "共收到留言 8 条，形成工单 7 件" in text
    # The per-unit table, cell by cell (one text line per cell): 县教育局 ranks 2nd with
    # 收件量 …, 交办量 4, 签收量 5, … and 按期办结率 50.0% (the same row as the DOCX/XLSX).
    table = sla_report.sla_table(OCTOBER, fx.root, now=archive.generated_at)
    edu = next(r for r in table.rows if r.name == "县教育局")
    at = lines.index("县教育局")
    assert lines[at - 1] == "2"
    counted = [str(edu.values[k]) for k in sla_report.COLUMNS[:6]]
    assert lines[at + 1 : at + 7] == counted
    assert counted[1:3] == ["4", "5"] and "50.0%" in lines[at + 7 : at + 9]
    assert "超期未办结名单" in lines and str(fx.cases["C2"].id) in lines


def test_pdf_is_deterministic_and_repeats_table_headers(fx):
    doc = reports.build_report("sla", OCTOBER, None, now=NOW)
    # A long table: the header row must come back on every page it spans.
    long_rows = [[n, f"单位{n}", n, 0.5] for n in range(1, 121)]
    doc.sections[0].tables.append(
        reports.Table(
            "长表",
            ["名次", "单位", "交办量", "按期办结率"],
            long_rows,
            ["int", "text", "int", "rate"],
        )
    )
    first, second = reports.render(doc, "pdf"), reports.render(doc, "pdf")
    assert first == second  # invariant mode: same report, same bytes
    pages = _pdf_lines(first)
    spanned = [p for p in pages if "单位60" in p or "单位120" in p or "单位1" in p]
    assert len(spanned) >= 2
    assert all("名次" in p and "按期办结率" in "".join(p) for p in spanned)


def test_cli_writes_a_pdf(fx, runner, tmp_path):
    out = tmp_path / "sla.pdf"
    result = runner.invoke(
        args=["report", "sla", "--from", "2026-10-01", "--to", "2026-10-31", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    archive = db.session.scalars(select(ReportArchive).order_by(ReportArchive.id.desc())).first()
    assert archive.fmt == "pdf" and out.read_bytes() == reports.file_bytes(archive)
    assert "2026年10月01日至2026年10月31日留言办理情况" in [
        line for page in _pdf_lines(out.read_bytes()) for line in page
    ]


def test_hot_events_section_lists_the_periods_events_in_scope(fx):
    from sentinel.models import Event, EventItem, Item

    day = Period("day", date(2026, 10, 9), date(2026, 10, 9))
    doc = reports.build_report("daily", day, None)
    [section] = [s for s in doc.sections if s.title == "热点事件"]
    assert section.paragraphs == ["本期没有形成热点事件。"] and section.tables[0].rows == []
    # One event with an item of the period, one whose only item is outside the period.
    items = list(db.session.scalars(select(Item).order_by(Item.id)))
    at = datetime(2026, 10, 9, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
    hot = Event(title="学校食堂问题", first_at=at, last_at=at, heat_peak=72.5, escalated_level=1)
    cold = Event(title="别的事", first_at=at, last_at=at, heat_peak=90.0)
    db.session.add_all([hot, cold])
    db.session.flush()
    db.session.add_all(
        [
            EventItem(event_id=hot.id, item_id=items[0].id, case_id=items[0].case_id, item_at=at),
            EventItem(
                event_id=cold.id,
                item_id=items[1].id,
                case_id=items[1].case_id,
                item_at=at - timedelta(days=3),
            ),
        ]
    )
    db.session.flush()
    doc = reports.build_report("daily", day, None)
    [section] = [s for s in doc.sections if s.title == "热点事件"]
    assert section.tables[0].rows == [[hot.id, "学校食堂问题", 1, 1, 72.5, "一般", ""]]
    assert "共 1 个，其中达到升级热度的 1 个" in section.paragraphs[0]


def test_archive_download_is_byte_identical_and_checked(fx, client, auth):
    archive = _archive("sla", "docx")
    path = os.path.join(reports.archive_dir(), archive.file_path)
    with open(path, "rb") as fh:
        stored = fh.read()
    assert hashlib.sha256(stored).hexdigest() == archive.sha256
    auth.login("admin")
    first = client.get(f"/reports/{archive.id}/download")
    second = client.get(f"/reports/{archive.id}/download")
    assert first.status_code == 200 and first.data == stored == second.data
    assert archive.params == {
        "kind": "sla",
        "fmt": "docx",
        "period": "month",
        "start": "2026-10-01",
        "end": "2026-10-31",
        "unit_id": None,
    }
    with open(path, "ab") as fh:  # a file changed on disk is refused, never served
        fh.write(b"x")
    assert client.get(f"/reports/{archive.id}/download").status_code == 404


def test_cli_writes_the_same_report(fx, runner, tmp_path):
    from openpyxl import load_workbook

    out = tmp_path / "sla.xlsx"
    result = runner.invoke(
        args=[
            "report",
            "sla",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--unit",
            "县教育局",
            "--output",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    ws = load_workbook(out)["各单位办理情况"]
    header = [c.value for c in ws[1]]
    row = dict(zip(header, next(ws.iter_rows(min_row=2, values_only=True)), strict=True))
    assert row["单位"] == "县教育局" and row["交办量"] == 4 and row["签收量"] == 5
    archive = db.session.scalars(select(ReportArchive).order_by(ReportArchive.id.desc())).first()
    assert archive.generated_by_label == "cli" and archive.unit_id == fx.edu.id
    assert out.read_bytes() == reports.file_bytes(archive)


def test_scheduled_reports_are_requested_once_per_kind_and_period(fx):
    from sentinel.jobs import reports as report_jobs

    created = report_jobs.schedule_reports(now=datetime(2026, 10, 1, 1, 0, tzinfo=UTC))
    archives = db.session.scalars(select(ReportArchive).where(ReportArchive.id.in_(created))).all()
    assert len(archives) == 10
    assert {(a.kind, a.period_start.isoformat()) for a in archives} == {
        ("daily", "2026-09-30"),
        ("weekly", "2026-09-21"),
        ("monthly", "2026-09-01"),
        ("quarterly", "2026-07-01"),
        ("annual", "2025-01-01"),
    }
    db.session.expire_all()
    assert all(a.status == "ready" and a.scheduled for a in archives)  # sync jobs in tests
    assert report_jobs.schedule_reports(now=datetime(2026, 10, 1, 2, 0, tzinfo=UTC)) == []
