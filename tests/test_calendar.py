"""The working-day calendar: pinned against chinesecalendar, 调休, fallback, CLI, admin page."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar as cc
import pytest
from sqlalchemy import func, select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import AuditEvent, WorkCalendar
from sentinel.services import workcalendar

ACTOR = Actor(label="test")


@pytest.fixture
def calendar(app):
    """The calendar as `sentinel db upgrade` leaves it: 2004–2026 from chinesecalendar."""
    workcalendar.seed_from_package(ACTOR)
    db.session.commit()
    return workcalendar.snapshot()


def test_every_day_2004_to_2026_matches_chinesecalendar(calendar):
    """One bulk comparison of all 8,401 days, as the table stores them."""
    stored = dict(db.session.execute(select(WorkCalendar.day, WorkCalendar.kind)).all())
    assert len(stored) == (date(2027, 1, 1) - date(2004, 1, 1)).days
    mismatches = []
    day = date(2004, 1, 1)
    while day.year <= 2026:
        expected = cc.is_workday(day)
        if calendar.is_working_day(day) != expected or (stored[day] != "holiday") != expected:
            mismatches.append(day)
        day += timedelta(days=1)
    assert mismatches == []
    assert workcalendar.status(date(2026, 6, 1)).loaded_years == list(range(2004, 2027))


def test_makeup_saturdays_are_marked(calendar):
    assert db.session.get(WorkCalendar, date(2026, 10, 10)).kind == "makeup_workday"
    assert db.session.get(WorkCalendar, date(2026, 10, 1)).name == "国庆节"
    assert db.session.get(WorkCalendar, date(2026, 2, 17)).name == "春节"


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # Spring Festival 2026: 2/15–2/23 off, Saturday 2/14 and 2/28 are 调休 workdays.
        (date(2026, 2, 13), 1, date(2026, 2, 14)),
        (date(2026, 2, 13), 2, date(2026, 2, 24)),
        (date(2026, 2, 12), 5, date(2026, 2, 26)),
        (date(2026, 2, 24), -1, date(2026, 2, 14)),
        # National Day 2026: 10/1–10/7 off; Sunday 9/20 and Saturday 10/10 are workdays.
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
        (date(2026, 9, 30), 4, date(2026, 10, 12)),
        (date(2026, 9, 18), 1, date(2026, 9, 20)),
        (date(2026, 10, 12), -4, date(2026, 9, 30)),
        # National Day 2025 with Mid-autumn: 10/1–10/8 off; 9/28 (Sun) and 10/11 (Sat) work.
        (date(2025, 9, 26), 1, date(2025, 9, 28)),
        (date(2025, 9, 30), 1, date(2025, 10, 9)),
        (date(2025, 9, 30), 3, date(2025, 10, 11)),
        # Year boundary inside loaded years: 2024-12-31 → New Year's Day off.
        (date(2024, 12, 31), 1, date(2025, 1, 2)),
        (date(2025, 1, 2), -1, date(2024, 12, 31)),
        # 13 working days (投诉) across National Day 2026.
        (date(2026, 9, 28), 13, date(2026, 10, 21)),
        (date(2026, 3, 4), 0, date(2026, 3, 4)),
    ],
)
def test_add_working_days_across_holidays(calendar, start, n, expected):
    assert workcalendar.add_working_days(start, n) == (expected, False)


def test_missing_2027_falls_back_and_is_provisional(calendar):
    # 12/31 Thu → 1/1 fixed New Year's Day (fallback) → weekend → Mon 1/4.
    assert workcalendar.add_working_days(date(2026, 12, 30), 2) == (date(2027, 1, 4), True)
    assert workcalendar.add_working_days(date(2026, 12, 30), 1) == (date(2026, 12, 31), False)
    # Fallback keeps 5/1–5/2 and 10/1–10/3 only.
    assert workcalendar.add_working_days(date(2027, 4, 30), 1) == (date(2027, 5, 3), True)
    assert workcalendar.add_working_days(date(2027, 9, 30), 1) == (date(2027, 10, 4), True)
    # Counting back from 2027 into 2026 is provisional as well.
    assert workcalendar.add_working_days(date(2027, 1, 4), -2) == (date(2026, 12, 30), True)
    st = workcalendar.status(date(2026, 11, 1))
    assert not st.next_year_loaded and st.warn
    assert not workcalendar.status(date(2026, 10, 31)).warn


def test_import_a_year_from_csv_then_deadlines_are_final(calendar):
    text = (
        "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-06,holiday,春节\n"
        "2027-02-07,holiday,春节\n2027-02-08,holiday,春节\n2027-02-09,holiday,春节\n"
        "2027-02-10,holiday,春节\n2027-02-11,holiday,春节\n2027-02-12,holiday,春节\n"
        "2027-02-13,holiday,春节\n2027-02-14,workday,春节\n"
    )
    result = workcalendar.import_schedule(ACTOR, text)
    db.session.commit()
    assert result.years == [2027] and result.holidays == 9 and result.workdays == 1
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(WorkCalendar)
            .where(WorkCalendar.day >= date(2027, 1, 1))
        )
        == 365
    )
    assert workcalendar.add_working_days(date(2027, 2, 5), 1) == (date(2027, 2, 14), False)
    assert workcalendar.add_working_days(date(2027, 2, 14), 1) == (date(2027, 2, 15), False)
    assert workcalendar.status(date(2026, 11, 20)).next_year_loaded
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "calendar.import"))


def test_import_rejects_bad_rows(calendar):
    from sentinel.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="第 2 行"):
        workcalendar.import_schedule(ACTOR, "2027-01-01,holiday,元旦\n2027-13-01,holiday,x\n")
    with pytest.raises(ValidationFailed, match="holiday 或 workday"):
        workcalendar.import_schedule(ACTOR, "2027-01-01,vacation,元旦\n")


def test_set_day_corrects_and_is_audited(calendar):
    workcalendar.set_day(ACTOR, date(2026, 12, 31), "holiday", "临时放假")
    db.session.commit()
    assert workcalendar.add_working_days(date(2026, 12, 30), 1) == (date(2027, 1, 4), True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "calendar.set_day"))
    assert event is not None and event.data["day"] == "2026-12-31"


def test_empty_calendar_is_all_fallback(app):
    assert workcalendar.add_working_days(date(2026, 9, 30), 1) == (date(2026, 10, 5), True)


def test_working_hours_skip_lunch_nights_and_holidays(calendar):
    from datetime import datetime

    from sentinel.timefmt import SHANGHAI

    periods = workcalendar.parse_periods("08:30-12:00,13:30-17:30")
    start = datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    due, provisional = workcalendar.add_working_hours(start, 4, periods)
    # 1.5 h on 9/30, then National Day: 2.5 h more on 10/8 → 11:00.
    assert due.astimezone(SHANGHAI) == datetime(2026, 10, 8, 11, 0, tzinfo=SHANGHAI)
    assert not provisional
    assert workcalendar.working_seconds_between(start, due, periods) == 4 * 3600
    lunch = datetime(2026, 3, 4, 12, 30, tzinfo=SHANGHAI)
    due, _ = workcalendar.add_working_hours(lunch, 1, periods)
    assert due.astimezone(SHANGHAI) == datetime(2026, 3, 4, 14, 30, tzinfo=SHANGHAI)


def test_office_hours_inherit_from_parent(office):
    from sentinel.errors import ValidationFailed

    workcalendar.set_office_hours(ACTOR, office.root, "09:00-12:00,14:00-18:00")
    db.session.commit()
    periods = workcalendar.office_periods(office.edu.id)
    assert [f"{a:%H:%M}-{b:%H:%M}" for a, b in periods] == ["09:00-12:00", "14:00-18:00"]
    with pytest.raises(ValidationFailed):
        workcalendar.parse_periods("12:00-09:00")


# ---------------------------------------------------------------- CLI contract


@pytest.mark.parametrize(
    ("args", "last_line"),
    [
        (["2026-09-30", "1"], "2026-10-08"),
        (["2026-10-12", "-4"], "2026-09-30"),
        (["2026-12-30", "2"], "2027-01-04 provisional"),
        (["2026-02-13", "2"], "2026-02-24"),
    ],
)
def test_cli_add_days(runner, calendar, args, last_line):
    result = runner.invoke(args=["calendar", "add-days", *args])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == last_line


def test_cli_import_and_status(runner, calendar, tmp_path):
    result = runner.invoke(args=["calendar", "status"])
    assert "2004–2026" in result.output
    assert "2027" in result.output and "警告" in result.output
    path = tmp_path / "2027.csv"
    path.write_text(
        "date,kind,name\n2027-01-01,holiday,元旦\n2027-10-09,workday,国庆节\n", encoding="utf-8"
    )
    result = runner.invoke(args=["calendar", "import", str(path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["calendar", "add-days", "2027-10-08", "1"])
    assert result.stdout.strip().splitlines()[-1] == "2027-10-09"
    result = runner.invoke(args=["calendar", "status"])
    assert "2004–2027" in result.output


# ---------------------------------------------------------------- admin page


def test_admin_page_imports_a_pasted_year_and_sets_a_day(client, auth, office, calendar):
    auth.login("admin")
    page = client.get("/admin/calendar/?year=2026")
    assert page.status_code == 200
    assert "国庆节" in page.get_data(as_text=True)
    response = client.post(
        "/admin/calendar/import", data={"text": "2027-01-01,holiday,元旦\n"}, follow_redirects=True
    )
    assert "已导入 2027 年" in response.get_data(as_text=True)
    response = client.post(
        "/admin/calendar/day",
        data={"day": "2027-01-04", "kind": "holiday", "name": "测试"},
        follow_redirects=True,
    )
    assert "2027-01-04 已更新" in response.get_data(as_text=True)
    assert db.session.get(WorkCalendar, date(2027, 1, 4)).kind == "holiday"


@pytest.mark.parametrize("user", ["duty", "edu_handler", "leader"])
def test_admin_page_is_for_admins_only(client, auth, office, user):
    auth.login(user)
    assert client.get("/admin/calendar/").status_code == 403
    assert (
        client.post("/admin/calendar/import", data={"text": "2027-01-01,holiday,x"}).status_code
        == 403
    )


def test_banner_shows_to_admins_from_november_when_next_year_missing(
    client, auth, office, calendar
):
    # Today (the test clock) is in late November 2026 or later; 2027 is not loaded.
    from sentinel.models import utcnow

    auth.login("admin")
    body = client.get("/admin/calendar/").get_data(as_text=True)
    today = utcnow().date()
    if today.month >= 11 and today.year == 2026:
        assert "2027 年法定节假日安排尚未导入" in body
    auth.logout()
    auth.login("duty")
    assert "法定节假日安排尚未导入" not in client.get("/triage/").get_data(as_text=True)
