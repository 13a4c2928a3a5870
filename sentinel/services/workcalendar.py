"""The official working-day calendar (工作日 with 调休) and working-time arithmetic.

Days come from the ``work_calendar`` table (seeded from the ``chinesecalendar`` package
for 2004–2026, then one year at a time from the State Council's yearly notice). For a
year that is not loaded the fallback counts weekends and the fixed-date statutory
holidays (元旦, 劳动节 5/1–5/2, 国庆节 10/1–10/3, 国务院令第644号 as amended 2024) and
every result that used it is flagged *provisional*.

Hour-based clocks use a unit's office hours (default 08:30–12:00, 13:30–17:30,
Asia/Shanghai) on working days only.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app, g
from sqlalchemy import delete, func, select

from classifiers import tabular
from sentinel.auth.permissions import Actor
from sentinel.errors import ValidationFailed
from sentinel.extensions import db
from sentinel.models import OfficeHours, Unit, WorkCalendar, utcnow
from sentinel.models.calendar import DAY_KINDS, WORKING_KINDS
from sentinel.services import audit
from sentinel.timefmt import SHANGHAI

DEFAULT_OFFICE_HOURS = "08:30-12:00,13:30-17:30"
PACKAGE_YEARS = range(2004, 2027)
# Statutory holidays on fixed solar dates (the lunar ones move and cannot be guessed).
FIXED_HOLIDAYS: dict[tuple[int, int], str] = {
    (1, 1): "元旦",
    (5, 1): "劳动节",
    (5, 2): "劳动节",
    (10, 1): "国庆节",
    (10, 2): "国庆节",
    (10, 3): "国庆节",
}
HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}
# Accepted spellings of the CSV ``kind`` column.
IMPORT_KINDS = {
    "holiday": "holiday",
    "休": "holiday",
    "假": "holiday",
    "workday": "workday",
    "makeup_workday": "workday",
    "班": "workday",
}

Period = tuple[time, time]


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Snapshot:
    """The calendar as loaded from the database, for fast repeated lookups."""

    full_years: frozenset[int]
    # Loaded days that differ from the plain weekday rule, and every named day.
    exceptions: dict[date, bool] = field(default_factory=dict)
    names: dict[date, str] = field(default_factory=dict)
    partial_days: frozenset[date] = frozenset()

    def is_loaded(self, year: int) -> bool:
        return year in self.full_years

    def is_working_day(self, day: date) -> bool:
        if day in self.exceptions:
            return self.exceptions[day]
        if day.year in self.full_years or day in self.partial_days:
            return day.weekday() < 5
        return fallback_is_working_day(day)

    def day_name(self, day: date) -> str | None:
        if day.year in self.full_years or day in self.partial_days:
            return self.names.get(day)
        return FIXED_HOLIDAYS.get((day.month, day.day))


def fallback_is_working_day(day: date) -> bool:
    """Weekends and fixed-date statutory holidays only (for years not loaded)."""
    return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS


_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[object, ...], Snapshot]] = {}


def _version() -> tuple[object, ...]:
    count, latest = db.session.execute(
        select(func.count(), func.max(WorkCalendar.updated_at))
    ).one()
    return (count, latest)


def snapshot() -> Snapshot:
    """The current calendar, cached per database and reloaded when its rows change.

    Within one request (or job) the first answer is reused, so a list page asks the
    database for the calendar's version once, not once per row.
    """
    cached_here = g.get("_workcalendar_snapshot")
    if cached_here is not None:
        return cached_here  # type: ignore[no-any-return]
    key = current_app.config["SQLALCHEMY_DATABASE_URI"]
    version = _version()
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == version:
            g._workcalendar_snapshot = cached[1]
            return cached[1]
    snap = _load()
    with _cache_lock:
        _cache[key] = (version, snap)
    g._workcalendar_snapshot = snap
    return snap


def invalidate() -> None:
    """Forget the cached calendar of this process (after a change)."""
    g.pop("_workcalendar_snapshot", None)
    with _cache_lock:
        _cache.pop(current_app.config["SQLALCHEMY_DATABASE_URI"], None)


def _load() -> Snapshot:
    per_year: dict[int, int] = {}
    exceptions: dict[date, bool] = {}
    names: dict[date, str] = {}
    days: list[date] = []
    for day, kind, name in db.session.execute(
        select(WorkCalendar.day, WorkCalendar.kind, WorkCalendar.name)
    ):
        per_year[day.year] = per_year.get(day.year, 0) + 1
        working = kind in WORKING_KINDS
        if working != (day.weekday() < 5):
            exceptions[day] = working
        if name:
            names[day] = name
        days.append(day)
    full = frozenset(y for y, n in per_year.items() if n >= _days_in_year(y))
    partial = frozenset(d for d in days if d.year not in full)
    return Snapshot(full, exceptions, names, partial)


def _days_in_year(year: int) -> int:
    return (date(year + 1, 1, 1) - date(year, 1, 1)).days


# --------------------------------------------------------------------------- day arithmetic


def is_working_day(day: date, snap: Snapshot | None = None) -> bool:
    """True when ``day`` is a working day (weekday not a holiday, or a 调休 make-up day)."""
    return (snap or snapshot()).is_working_day(day)


def add_working_days(start: date, n: int, snap: Snapshot | None = None) -> tuple[date, bool]:
    """The date ``n`` working days after ``start`` (``start`` itself not counted).

    A negative ``n`` counts back. Returns ``(date, provisional)``; provisional is True
    when a day in a year that is not loaded was crossed (the fallback was used).
    """
    snap = snap or snapshot()
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    day = start
    provisional = not snap.is_loaded(start.year) if n == 0 else False
    while remaining:
        day += timedelta(days=step)
        if not snap.is_loaded(day.year):
            provisional = True
        if snap.is_working_day(day):
            remaining -= 1
    return day, provisional


def parse_periods(text: str) -> list[Period]:
    """Parse ``08:30-12:00,13:30-17:30`` into ordered, non-overlapping periods."""
    periods: list[Period] = []
    for chunk in text.replace("，", ",").split(","):
        chunk = chunk.strip()
        if not chunk:
            continue
        try:
            left, right = (part.strip() for part in chunk.replace("–", "-").split("-"))
            start, end = time.fromisoformat(left), time.fromisoformat(right)
        except ValueError as exc:
            raise ValidationFailed(f"办公时间格式应为 08:30-12:00,13:30-17:30：{chunk}") from exc
        if end <= start or (periods and start < periods[-1][1]):
            raise ValidationFailed(f"办公时间段无效或重叠：{chunk}")
        periods.append((start, end))
    if not periods:
        raise ValidationFailed("请至少填写一个办公时间段")
    return periods


def office_periods(unit_id: int | None) -> list[Period]:
    """The office hours of a unit: its own, else its nearest ancestor's, else the setting."""
    seen: set[int] = set()
    while unit_id is not None and unit_id not in seen:
        seen.add(unit_id)
        periods = db.session.scalar(
            select(OfficeHours.periods).where(OfficeHours.unit_id == unit_id)
        )
        if periods:
            return parse_periods(periods)
        unit_id = db.session.scalar(select(Unit.parent_id).where(Unit.id == unit_id))
    return parse_periods(current_app.config.get("OFFICE_HOURS") or DEFAULT_OFFICE_HOURS)


def set_office_hours(actor: Actor, unit: Unit, periods: str) -> None:
    """Set (or, with an empty string, clear) a unit's office hours; audited."""
    row = db.session.scalar(select(OfficeHours).where(OfficeHours.unit_id == unit.id))
    before = row.periods if row else None
    if not periods.strip():
        if row is not None:
            db.session.delete(row)
        after = None
    else:
        parsed = parse_periods(periods)
        after = ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in parsed)
        if row is None:
            db.session.add(OfficeHours(unit_id=unit.id, periods=after))
        else:
            row.periods = after
    audit.record(actor, "calendar.office_hours", "unit", unit.id, before=before, after=after)
    db.session.flush()


def _local(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(SHANGHAI)


def _at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=SHANGHAI)


def end_of_working_day(day: date, periods: list[Period]) -> datetime:
    """The close of office on ``day`` (UTC)."""
    return _at(day, periods[-1][1]).astimezone(UTC)


def add_working_hours(
    start: datetime, hours: float, periods: list[Period], snap: Snapshot | None = None
) -> tuple[datetime, bool]:
    """The moment ``hours`` working hours after ``start`` (UTC), and whether provisional.

    Only office hours on working days count; a start outside office hours begins at
    the next opening.
    """
    snap = snap or snapshot()
    remaining = timedelta(hours=hours)
    local = _local(start)
    day = local.date()
    provisional = False
    for _ in range(3660):  # ten years of days: a safety bound, never reached in practice
        if not snap.is_loaded(day.year):
            provisional = True
        if snap.is_working_day(day):
            for open_at, close_at in periods:
                window_start = max(local, _at(day, open_at))
                window_end = _at(day, close_at)
                if window_start >= window_end:
                    continue
                available = window_end - window_start
                if remaining <= available:
                    return (window_start + remaining).astimezone(UTC), provisional
                remaining -= available
        day += timedelta(days=1)
        local = _at(day, time(0))
    raise ValidationFailed("工作时间超出可计算范围")


def working_seconds_between(
    start: datetime, end: datetime, periods: list[Period], snap: Snapshot | None = None
) -> int:
    """Working seconds from ``start`` to ``end``; negative when ``end`` is earlier."""
    if end < start:
        return -working_seconds_between(end, start, periods, snap)
    snap = snap or snapshot()
    a, b = _local(start), _local(end)
    total = 0.0
    day = a.date()
    while day <= b.date():
        if snap.is_working_day(day):
            for open_at, close_at in periods:
                lo = max(a, _at(day, open_at))
                hi = min(b, _at(day, close_at))
                if hi > lo:
                    total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return int(total)


def working_days_deadline(
    start: datetime, days: int, periods: list[Period], snap: Snapshot | None = None
) -> tuple[datetime, bool]:
    """Close of office ``days`` working days after the day of ``start`` (local date).

    ``days == 0`` (urgent: same day) is today's close when ``start`` is on a working day
    before closing time, else the close of the next working day.
    """
    snap = snap or snapshot()
    local = _local(start)
    if days == 0:
        today = local.date()
        if snap.is_working_day(today) and local < _at(today, periods[-1][1]):
            return end_of_working_day(today, periods), not snap.is_loaded(today.year)
        day, provisional = add_working_days(today, 1, snap)
        return end_of_working_day(day, periods), provisional
    day, provisional = add_working_days(local.date(), days, snap)
    return end_of_working_day(day, periods), provisional


# --------------------------------------------------------------------------- loading years


def package_rows(years: Iterable[int] = PACKAGE_YEARS) -> list[dict[str, object]]:
    """Every day of ``years`` as work_calendar rows, from the ``chinesecalendar`` package."""
    return [dict(row) for row in _package_rows(tuple(years))]


@functools.lru_cache(maxsize=4)
def _package_rows(years: tuple[int, ...]) -> list[dict[str, object]]:
    import chinese_calendar as cc

    rows: list[dict[str, object]] = []
    for year in years:
        day = date(year, 1, 1)
        while day.year == year:
            on_holiday, holiday = cc.get_holiday_detail(day)
            if on_holiday:
                kind = "holiday"
            elif day.weekday() >= 5:
                kind = "makeup_workday"
            else:
                kind = "workday"
            name = HOLIDAY_NAMES.get(holiday, holiday) if holiday else None
            rows.append({"day": day, "kind": kind, "name": name})
            day += timedelta(days=1)
    return rows


def _replace_years(rows: list[dict[str, object]]) -> None:
    years = sorted({row["day"].year for row in rows})  # type: ignore[attr-defined]
    for year in years:
        db.session.execute(
            delete(WorkCalendar).where(
                WorkCalendar.day >= date(year, 1, 1), WorkCalendar.day < date(year + 1, 1, 1)
            )
        )
    now = utcnow()
    db.session.execute(
        WorkCalendar.__table__.insert(), [{**row, "updated_at": now} for row in rows]
    )
    invalidate()


def seed_from_package(
    actor: Actor, years: Iterable[int] = PACKAGE_YEARS, *, only_missing: bool = True
) -> list[int]:
    """Load ``years`` from the ``chinesecalendar`` package; returns the years written.

    With ``only_missing`` (the default) years already fully loaded are left alone, so
    administrators' corrections survive a re-seed.
    """
    snap = snapshot()
    todo = [y for y in years if not (only_missing and snap.is_loaded(y))]
    if todo:
        _replace_years(package_rows(todo))
        audit.record(actor, "calendar.seed", "calendar", None, years=todo)
        db.session.flush()
    return todo


@dataclass
class ImportResult:
    years: list[int]
    holidays: int
    workdays: int


def read_schedule_file(data: bytes, filename: str) -> list[tuple[int, list[Any]]]:
    """The rows of an uploaded schedule (CSV in any supported encoding, or XLSX), read by
    the one reader every upload uses; an unreadable file raises ValidationFailed."""
    try:
        records = tabular.read_records(data, filename)
    except tabular.TableError as exc:
        raise ValidationFailed(exc.message) from None
    return list(zip(records.numbers, records.records, strict=True))


def parse_schedule(
    source: str | list[tuple[int, list[Any]]],
) -> dict[date, tuple[str, str | None]]:
    """Parse ``date,kind,name`` rows (header optional; kind holiday/workday, 休/班): pasted
    CSV text, or ``(row number, cells)`` from :func:`read_schedule_file`."""
    if isinstance(source, str):
        try:
            records, numbers = tabular.parse_csv(source, delimiter=",")
        except tabular.TableError as exc:
            raise ValidationFailed(exc.message) from None
        rows = list(zip(numbers, records, strict=True))
    else:
        rows = source
    entries: dict[date, tuple[str, str | None]] = {}
    for number, row in rows:
        cells = ["" if c is None else c for c in row]
        first = cells[0] if cells else ""
        if isinstance(first, datetime):
            first = first.date()
        cells = [c if isinstance(c, date) else str(c).strip() for c in [first, *cells[1:]]]
        if not cells or not any(cells) or str(cells[0]).startswith("#"):
            continue
        if number == 1 and str(cells[0]).lower() in {"date", "日期"}:
            continue
        if len(cells) < 2:
            raise ValidationFailed(f"第 {number} 行应为“日期,类型,名称”")
        if isinstance(cells[0], date):
            day = cells[0]
        else:
            try:
                day = date.fromisoformat(cells[0].replace("/", "-"))
            except ValueError as exc:
                raise ValidationFailed(f"第 {number} 行日期无效：{cells[0]}") from exc
        kind = IMPORT_KINDS.get(str(cells[1]).lower())
        if kind is None:
            raise ValidationFailed(f"第 {number} 行类型应为 holiday 或 workday：{cells[1]}")
        name = (str(cells[2]) if len(cells) > 2 else "")[:60] or None
        entries[day] = (kind, name)
    if not entries:
        raise ValidationFailed("没有读到任何日期")
    return entries


def import_schedule(actor: Actor, text: str | list[tuple[int, list[Any]]]) -> ImportResult:
    """Load whole years from a holiday notice: listed holidays and 调休 workdays.

    Days not listed follow the weekday rule. Each year in the file replaces that year.
    """
    entries = parse_schedule(text)
    years = sorted({d.year for d in entries})
    rows: list[dict[str, object]] = []
    for year in years:
        day = date(year, 1, 1)
        while day.year == year:
            kind, name = entries.get(day, ("workday" if day.weekday() < 5 else "holiday", None))
            if kind == "workday" and day.weekday() >= 5:
                kind = "makeup_workday"
            rows.append({"day": day, "kind": kind, "name": name})
            day += timedelta(days=1)
    _replace_years(rows)
    holidays = sum(1 for k, _ in entries.values() if k == "holiday")
    workdays = len(entries) - holidays
    audit.record(
        actor,
        "calendar.import",
        "calendar",
        None,
        years=years,
        holidays=holidays,
        workdays=workdays,
    )
    db.session.flush()
    return ImportResult(years, holidays, workdays)


def set_day(actor: Actor, day: date, kind: str, name: str | None = None) -> WorkCalendar:
    """Add or correct one day (kind workday/holiday; a weekend workday is a 调休 day)."""
    if kind not in DAY_KINDS:
        raise ValidationFailed("类型应为工作日、休息日或调休上班")
    if kind in WORKING_KINDS:
        kind = "makeup_workday" if day.weekday() >= 5 else "workday"
    name = (name or "").strip()[:60] or None
    row = db.session.get(WorkCalendar, day)
    before = (row.kind, row.name) if row else None
    if row is None:
        row = WorkCalendar(day=day, kind=kind, name=name)
        db.session.add(row)
    else:
        row.kind, row.name = kind, name
        row.updated_at = utcnow()
    audit.record(
        actor,
        "calendar.set_day",
        "calendar",
        None,
        day=day.isoformat(),
        before=list(before) if before else None,
        kind=kind,
        name=name,
    )
    db.session.flush()
    invalidate()
    return row


# --------------------------------------------------------------------------- status


@dataclass
class CalendarStatus:
    loaded_years: list[int]
    partial_years: list[int]
    next_year: int
    next_year_loaded: bool
    warn: bool  # from 1 November while next year is missing

    @property
    def ranges(self) -> str:
        return format_years(self.loaded_years)


def format_years(years: list[int]) -> str:
    """``[2004, 2005, 2006, 2010]`` → ``2004–2006, 2010``."""
    parts: list[str] = []
    for year in sorted(years):
        if parts and parts[-1][1] == year - 1:
            parts[-1] = (parts[-1][0], year)
        else:
            parts.append((year, year))  # type: ignore[arg-type]
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in parts)  # type: ignore[misc]


def status(today: date | None = None) -> CalendarStatus:
    """Loaded years, and whether next year's schedule is missing (warn from 1 November)."""
    today = today or utcnow().astimezone(SHANGHAI).date()
    snap = snapshot()
    next_year = today.year + 1
    loaded = sorted(snap.full_years)
    partial = sorted({d.year for d in snap.partial_days})
    missing_next = next_year not in snap.full_years
    current_missing = today.year not in snap.full_years
    warn = current_missing or (missing_next and today.month >= 11)
    return CalendarStatus(loaded, partial, next_year, not missing_next, warn)


def month_days(year: int, month: int, snap: Snapshot | None = None) -> list[dict[str, object]]:
    """Days of a month for the admin page: date, working flag, name, loaded flag."""
    snap = snap or snapshot()
    day = date(year, month, 1)
    result: list[dict[str, object]] = []
    while day.month == month:
        result.append(
            {
                "day": day,
                "working": snap.is_working_day(day),
                "name": snap.day_name(day),
                "makeup": snap.is_working_day(day) and day.weekday() >= 5,
                "loaded": snap.is_loaded(day.year) or day in snap.partial_days,
            }
        )
        day += timedelta(days=1)
    return result
