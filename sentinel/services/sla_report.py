"""The message-handling report (留言办理情况): per unit and period, every SLA figure.

Every figure is one SQL aggregation (``count(DISTINCT key)`` grouped by unit) over a row
set that a metric defines once in :data:`METRICS`; the same definition gives the list of
cases behind a number (:func:`drilldown_case_ids`), so each figure can be traced.

Attribution — "a case counts in the unit that owed it at the time":

- dispatch, 签收 and first response count in the unit of the lead (主办) ``Assignment``,
  so a case that was returned (退单) and re-dispatched counts once in each unit it went to;
- answers and the resolution clock count in the lead unit at the answer (the case's unit);
- 延期/暂停 count in the lead unit when the request was approved (assignment history);
- 退单 count in the unit that returned it (``CaseReturn.unit_id``);
- 协办 tasks count in the assisting unit.

Merged cases (``status == 'merged'``) are left out everywhere: their items live on in the
case they were merged into, which counts once.

Working time (first response in working hours, resolution in working days) uses the
holiday calendar with 调休 (``services/workcalendar``) and each unit's office hours; the
per-row arithmetic runs on a cumulative index of the calendar (:class:`WorkingClock`),
equal to ``workcalendar.working_seconds_between`` but O(1) per row.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Float, Select, and_, case, distinct, func, or_, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from sentinel.extensions import db
from sentinel.models import (
    Assignment,
    Case,
    CaseReturn,
    DeadlineChange,
    OfficeHours,
    Unit,
    utcnow,
)
from sentinel.models.unit import tree_order
from sentinel.services import workcalendar
from sentinel.timefmt import SHANGHAI

PERIOD_KINDS = {
    "day": "日",
    "week": "周",
    "month": "月",
    "quarter": "季",
    "year": "年",
    "custom": "自定义",
}


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """A reporting period: local (Asia/Shanghai) dates, ``end`` inclusive."""

    kind: str
    start: date
    end: date

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=SHANGHAI).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        """The exclusive upper bound: local midnight after ``end``."""
        after = self.end + timedelta(days=1)
        return datetime.combine(after, time.min, tzinfo=SHANGHAI).astimezone(UTC)

    @property
    def label(self) -> str:
        if self.kind == "day":
            return f"{self.start:%Y年%m月%d日}"
        if self.kind == "month":
            return f"{self.start.year}年{self.start.month}月"
        if self.kind == "quarter":
            return f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        if self.kind == "year":
            return f"{self.start.year}年"
        return f"{self.start:%Y年%m月%d日}至{self.end:%Y年%m月%d日}"

    def previous(self) -> Period:
        """The period before: the previous day/week/month/quarter/year, or for a custom
        range the same number of days immediately before it."""
        if self.kind in ("day", "week", "month", "quarter", "year"):
            return period_of(self.kind, self.start - timedelta(days=1))
        length = (self.end - self.start).days + 1
        return Period("custom", self.start - timedelta(days=length), self.start - timedelta(1))


def period_of(kind: str, day: date) -> Period:
    """The day/week (Mon–Sun)/month/quarter/year containing ``day``."""
    if kind == "day":
        return Period(kind, day, day)
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=6))
    if kind == "month":
        start = day.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return Period(kind, start, nxt - timedelta(days=1))
    if kind == "quarter":
        first_month = (day.month - 1) // 3 * 3 + 1
        start = date(day.year, first_month, 1)
        nxt = date(day.year + 1, 1, 1) if first_month == 10 else date(day.year, first_month + 3, 1)
        return Period(kind, start, nxt - timedelta(days=1))
    if kind == "year":
        return Period(kind, date(day.year, 1, 1), date(day.year, 12, 31))
    raise ValueError(f"unknown period kind {kind}")


def custom_period(start: date, end: date) -> Period:
    if end < start:
        raise ValueError("period ends before it starts")
    return Period("custom", start, end)


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Window:
    """The UTC bounds a metric reads: [start, end), and the overdue cut-off."""

    start: datetime
    end: datetime
    cutoff: datetime


def _not_merged() -> Any:
    return Case.status != "merged"


def _case_not_merged(case_id: Any) -> Any:
    """For rows that need nothing else from the case: merged cases are few (an anti-join
    on the status index), cheaper than joining every case."""
    return case_id.not_in(select(Case.id).where(Case.status == "merged"))


class Epoch(FunctionElement[float]):
    """Seconds since 1970 of a UTC timestamp column, as a float, on either database."""

    type = Float(asdecimal=False)
    inherit_cache = True


@compiles(Epoch, "postgresql")
def _epoch_pg(element: Epoch, compiler: Any, **kw: Any) -> str:
    # date_part is float8 already (EXTRACT is numeric, and numeric arithmetic made it the
    # costliest part of reading a quarter's timings); the driver hands back floats.
    return f"date_part('epoch', {compiler.process(element.clauses, **kw)})"


@compiles(Epoch, "sqlite")
def _epoch_sqlite(element: Epoch, compiler: Any, **kw: Any) -> str:
    # SQLite stores naive UTC text (models/base.UTCDateTime).
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@dataclass(frozen=True)
class Family:
    """Rows that put figures in a period: one range scan on one time column.

    ``unit`` is the unit a row counts in, ``case`` its case, ``rid`` the row's own id;
    ``rows(w, columns)`` selects ``columns`` from the family's rows in window ``w``.
    Every figure of a family is one aggregate over the same scan.
    """

    unit: Any
    case: Any
    rid: Any
    rows: Callable[[Window, list[Any]], Select[Any]]


def _assigned_rows(w: Window, columns: list[Any]) -> Select[Any]:
    return (
        select(*columns)
        .select_from(Assignment)
        .where(
            Assignment.role == "lead",
            Assignment.assigned_at >= w.start,
            Assignment.assigned_at < w.end,
            _case_not_merged(Assignment.case_id),
        )
    )


def _acknowledged_rows(w: Window, columns: list[Any]) -> Select[Any]:
    return (
        select(*columns)
        .select_from(Assignment)
        .where(
            Assignment.role == "lead",
            Assignment.acknowledged_at >= w.start,
            Assignment.acknowledged_at < w.end,
            _case_not_merged(Assignment.case_id),
        )
    )


def _ack_timing_rows(w: Window, columns: list[Any]) -> Select[Any]:
    # The case's response deadline belongs to its current lead assignment only (a return
    # or a re-dispatch clears both it and Case.acknowledged_at), so on time / late is
    # judged on the case row: its 签收 by the unit it is still with.
    return (
        select(*columns)
        .select_from(Case)
        .where(
            Case.acknowledged_at >= w.start,
            Case.acknowledged_at < w.end,
            Case.response_due_at.is_not(None),
            Case.unit_id.is_not(None),
            _not_merged(),
        )
    )


def _owner_at(moment: Any, case_id: Any) -> Any:
    """The lead unit of a case at ``moment`` (the latest lead assignment made by then)."""
    return (
        select(Assignment.unit_id)
        .where(
            Assignment.case_id == case_id,
            Assignment.role == "lead",
            Assignment.assigned_at <= moment,
        )
        .order_by(Assignment.assigned_at.desc(), Assignment.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _returned_twice(case_id: Any) -> Any:
    """The case has been returned (退单) twice or more (``Case.return_count >= 2``): a
    lookup in the small partial index ``ix_cases_report_ping_pong`` (joining a period's
    returns to every case read the whole table)."""
    return case_id.in_(select(Case.id).where(Case.return_count >= 2))


def _overdue_rows(w: Window, columns: list[Any]) -> Any:
    """Past due at the cut-off and neither answered nor closed by then.

    Written as three disjoint parts — still open now (answered_at and closed_at NULL: the
    partial index ``ix_cases_open_due`` answers it without the heap), answered after the
    cut-off, and closed unanswered after it (a past period: few rows, by the answered_at
    and closed_at indexes) — which together are exactly
    ``(answered_at IS NULL OR answered_at >= cutoff) AND (closed_at IS NULL OR
    closed_at >= cutoff)``; one OR over the whole table read every open case's row.
    """
    base = (
        select(*columns)
        .select_from(Case)
        .where(Case.unit_id.is_not(None), Case.due_at < w.cutoff, _not_merged())
    )
    still_open = base.where(Case.answered_at.is_(None), Case.closed_at.is_(None))
    # due_at < cutoff <= answered_at implies answered_at > due_at: said explicitly, it lets
    # the partial index of late answers (``ix_cases_report_answered_late``) serve the part.
    answered_later = base.where(
        Case.answered_at >= w.cutoff,
        Case.answered_at > Case.due_at,
        or_(Case.closed_at.is_(None), Case.closed_at >= w.cutoff),
    )
    closed_later = base.where(Case.answered_at.is_(None), Case.closed_at >= w.cutoff)
    return union_all(still_open, answered_later, closed_later)


FAMILIES: dict[str, Family] = {
    "received": Family(
        Case.owner_unit_id,
        Case.id,
        Case.id,
        lambda w, cols: (
            select(*cols)
            .select_from(Case)
            .where(Case.first_item_at >= w.start, Case.first_item_at < w.end, _not_merged())
        ),
    ),
    "assigned": Family(Assignment.unit_id, Assignment.case_id, Assignment.id, _assigned_rows),
    "acknowledged": Family(
        Assignment.unit_id,
        Assignment.case_id,
        Assignment.id,
        _acknowledged_rows,
    ),
    "ack_timing": Family(Case.unit_id, Case.id, Case.id, _ack_timing_rows),
    "answered": Family(
        Case.unit_id,
        Case.id,
        Case.id,
        lambda w, cols: (
            select(*cols)
            .select_from(Case)
            .where(Case.answered_at >= w.start, Case.answered_at < w.end, _not_merged())
        ),
    ),
    "overdue": Family(Case.unit_id, Case.id, Case.id, lambda w, cols: _overdue_rows(w, cols)),
    "changes": Family(
        _owner_at(DeadlineChange.decided_at, DeadlineChange.case_id),
        DeadlineChange.case_id,
        DeadlineChange.id,
        lambda w, cols: (
            select(*cols)
            .select_from(DeadlineChange)
            .where(
                DeadlineChange.status == "approved",
                DeadlineChange.decided_at >= w.start,
                DeadlineChange.decided_at < w.end,
                _case_not_merged(DeadlineChange.case_id),
            )
        ),
    ),
    "returns": Family(
        CaseReturn.unit_id,
        CaseReturn.case_id,
        CaseReturn.id,
        lambda w, cols: (
            select(*cols)
            .select_from(CaseReturn)
            .where(
                CaseReturn.returned_at >= w.start,
                CaseReturn.returned_at < w.end,
                _case_not_merged(CaseReturn.case_id),
            )
        ),
    ),
    "assists": Family(
        Assignment.unit_id,
        Assignment.case_id,
        Assignment.id,
        lambda w, cols: (
            select(*cols)
            .select_from(Assignment)
            .where(
                Assignment.role == "assist",
                Assignment.status != "withdrawn",
                Assignment.assigned_at >= w.start,
                Assignment.assigned_at < w.end,
                _case_not_merged(Assignment.case_id),
            )
        ),
    ),
}


@dataclass(frozen=True)
class Metric:
    """One counted figure: the rows of ``family`` meeting ``condition``, counted as
    distinct cases (``by_case``) or distinct rows."""

    key: str
    label: str
    definition: str
    family: str
    condition: Callable[[], Any] | None = None
    by_case: bool = False

    @property
    def distinct(self) -> bool:
        """Counting cases over rows that may repeat a case (two dispatches, two returns)
        needs DISTINCT; every other count is of unique rows, which lets the database
        aggregate by hashing instead of sorting."""
        fam = FAMILIES[self.family]
        return self.by_case and fam.case is not fam.rid

    def hit(self) -> Any:
        """The expression counted: the key when the row meets the condition, else NULL."""
        fam = FAMILIES[self.family]
        key = fam.case if self.by_case else fam.rid
        return key if self.condition is None else case((self.condition(), key), else_=None)


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric(
            "received",
            "收件量",
            "本期内首条留言进入本单位账号的工单数（按收件单位计，不含被合并的工单）。",
            "received",
        ),
        Metric(
            "dispatched",
            "交办量",
            "本期内分派（含改派、仲裁指派）给本单位主办的工单数；同一工单本期内多次分派给"
            "同一单位只计一次。",
            "assigned",
            by_case=True,
        ),
        Metric(
            "acknowledged",
            "签收量",
            "本期内本单位签收的主办任务数（含之后被退单的）。",
            "acknowledged",
        ),
        Metric(
            "ack_on_time",
            "按时签收",
            "签收量中，工单仍由本单位主办且签收时间不晚于首次响应时限的数量。已退单的任务首次"
            "响应时限已随退单清除，不计入按时/超时。",
            "ack_timing",
            lambda: Case.acknowledged_at <= Case.response_due_at,
        ),
        Metric(
            "ack_late",
            "超时签收",
            "签收量中，工单仍由本单位主办且签收晚于首次响应时限的数量。",
            "ack_timing",
            lambda: Case.acknowledged_at > Case.response_due_at,
        ),
        Metric("answered", "答复量", "本期内答复的工单数，计入答复时的主办单位。", "answered"),
        Metric(
            "answered_on_time",
            "按期答复",
            "答复量中，答复时间不晚于办理时限（含已批准的延期、暂停）的数量。",
            "answered",
            lambda: Case.deadline_state == "met",
        ),
        Metric(
            "closed_late",
            "超期办结",
            "答复量中，答复时已超过办理时限的数量。",
            "answered",
            lambda: Case.deadline_state == "late",
        ),
        Metric(
            "overdue_open",
            "超期未办结",
            "截至期末（期末晚于生成时间的，截至生成时）已过办理时限仍未答复、未关闭的工单数，"
            "不限分派时间，计入当前主办单位。",
            "overdue",
        ),
        Metric(
            "extended",
            "延期",
            "本期内批准的延期申请数，计入批准时的主办单位。",
            "changes",
            lambda: DeadlineChange.kind == "extension",
        ),
        Metric(
            "paused",
            "暂停",
            "本期内批准的暂停申请数，计入批准时的主办单位。",
            "changes",
            lambda: DeadlineChange.kind == "pause",
        ),
        Metric("returned", "退单", "本期内本单位退回（退单）的次数。", "returns"),
        Metric(
            "redispatched",
            "退单后改派",
            "本期退单中，已由分派方改派或仲裁指派给其他单位的次数。",
            "returns",
            lambda: CaseReturn.outcome.in_(("redispatched", "arbitrated")),
        ),
        Metric(
            "ping_pong",
            "多次退单工单",
            "本期内本单位退回、且累计被退单两次及以上的工单数（“踢皮球”）。",
            "returns",
            lambda: _returned_twice(CaseReturn.case_id),
            by_case=True,
        ),
        Metric(
            "assist_tasks",
            "协办任务",
            "本期内交给本单位的协办任务数（不含已撤回的）。",
            "assists",
        ),
        Metric(
            "assist_on_time",
            "协办按时完成",
            "协办任务中，在协办时限内标记完成的数量。",
            "assists",
            lambda: and_(
                Assignment.finished_at.is_not(None),
                or_(Assignment.due_at.is_(None), Assignment.finished_at <= Assignment.due_at),
            ),
        ),
    )
}

# Figures computed from the counts, and the time figures; their definitions go on the
# report next to the counted ones.
DERIVED = {
    "on_time_rate": ("按期办结率", "按期答复 ÷ 答复量。"),
    "assist_rate": ("协办按时率", "协办按时完成 ÷ 协办任务。"),
    "avg_response_h": (
        "平均首次响应（工作小时）",
        "本期签收的主办任务，自分派至签收经过的工作小时（按节假日与调休安排及本单位办公时间"
        "计算）的平均值。",
    ),
    "median_response_h": ("首次响应中位数（工作小时）", "同上，取中位数。"),
    "avg_resolution_d": (
        "平均办理用时（工作日）",
        "本期答复的工单，自办理时限起算（签收）至答复经过的工作时间，折合工作日（一个工作日"
        "= 本单位一天的办公时长）的平均值。",
    ),
    "median_resolution_d": ("办理用时中位数（工作日）", "同上，取中位数。"),
    "satisfaction": (
        "满意度",
        "系统尚未记录留言人的满意度评价，本栏显示“—”。",
    ),
}

# The columns of the per-unit table, in order.
COLUMNS: tuple[str, ...] = (
    "received",
    "dispatched",
    "acknowledged",
    "ack_on_time",
    "ack_late",
    "answered",
    "answered_on_time",
    "on_time_rate",
    "overdue_open",
    "closed_late",
    "extended",
    "paused",
    "returned",
    "redispatched",
    "ping_pong",
    "assist_tasks",
    "assist_on_time",
    "assist_rate",
    "avg_response_h",
    "median_response_h",
    "avg_resolution_d",
    "median_resolution_d",
    "satisfaction",
)
RATES = {"on_time_rate", "assist_rate"}
TIMES = {"avg_response_h", "median_response_h", "avg_resolution_d", "median_resolution_d"}


def column_label(key: str) -> str:
    return METRICS[key].label if key in METRICS else DERIVED[key][0]


def definitions() -> list[tuple[str, str]]:
    """(column, definition) for every column, as written on the report."""
    return [
        (column_label(k), METRICS[k].definition if k in METRICS else DERIVED[k][1]) for k in COLUMNS
    ]


# --------------------------------------------------------------------------- working time


class WorkingClock:
    """Working seconds since a fixed origin, for any moment, on the holiday calendar and
    one set of office periods: ``between(a, b) == working_seconds_between(a, b)``."""

    def __init__(
        self,
        first: date,
        last: date,
        periods: list[workcalendar.Period],
        snap: workcalendar.Snapshot,
    ) -> None:
        self.first = first
        self.periods = periods
        self.day_seconds = sum(
            (datetime.combine(first, b) - datetime.combine(first, a)).total_seconds()
            for a, b in periods
        )
        self.cum: list[float] = []
        self.working: list[bool] = []
        total = 0.0
        day = first
        while day <= last + timedelta(days=1):
            self.cum.append(total)
            working = snap.is_working_day(day)
            self.working.append(working)
            total += self.day_seconds if working else 0
            day += timedelta(days=1)
        # Offsets (seconds since local midnight) of the periods, for bisecting.
        self._bounds = [
            (a.hour * 3600 + a.minute * 60 + a.second, b.hour * 3600 + b.minute * 60 + b.second)
            for a, b in periods
        ]
        self._starts = [a for a, _ in self._bounds]
        # Local time as plain arithmetic on the epoch (hundreds of thousands of rows per
        # report): Asia/Shanghai has kept one offset, +08:00, since 1991.
        origin = datetime.combine(first, time.min, tzinfo=SHANGHAI)
        self._origin = origin.timestamp()
        self._offset = origin.utcoffset() or timedelta(hours=8)
        self._cum: Any = None  # numpy copies of cum / working, made on first use
        self._working: Any = None

    def at(self, moment: datetime) -> float:
        """Working seconds from the origin (local midnight of ``first``) to ``moment``."""
        return self.at_epoch(moment.timestamp())

    def at_epoch(self, timestamp: float) -> float:
        """:meth:`at` for a moment given as seconds since 1970 (UTC)."""
        since = timestamp - self._origin
        index = int(since // 86400)
        if not 0 <= index < len(self.cum):
            raise ValueError("moment outside the clock's range")
        base = self.cum[index]
        if not self.working[index]:
            return base
        offset = since - index * 86400
        within = 0.0
        for a, b in self._bounds[: bisect.bisect_right(self._starts, offset)]:
            within += min(offset, b) - a
        return base + within

    def between(self, start: datetime, end: datetime) -> float:
        return self.at(end) - self.at(start)

    def spans(self, pairs: list[tuple[float, float]]) -> list[float]:
        """Working seconds of each (start, end) pair of epoch seconds."""
        if not pairs:
            return []
        moments = np.asarray(pairs, dtype=np.float64)
        return self.span_arrays(moments[:, 0], moments[:, 1]).tolist()

    def span_arrays(self, starts: Any, ends: Any) -> Any:
        """:meth:`spans` on numpy arrays of epoch seconds (a report measures hundreds of
        thousands of spans): the same float operations in the same order as the per-row
        arithmetic of :meth:`at_epoch`, on whole arrays."""
        return self._at_array(ends) - self._at_array(starts)

    def _at_array(self, timestamps: Any) -> Any:
        if self._cum is None:
            self._cum = np.asarray(self.cum, dtype=np.float64)
            self._working = np.asarray(self.working, dtype=bool)
        since = timestamps - self._origin
        index = np.floor_divide(since, 86400.0)
        if index.size and (index.min() < 0 or index.max() >= len(self.cum)):
            raise ValueError("moment outside the clock's range")
        index = index.astype(np.int64)
        offset = since - index * 86400.0
        total = self._cum[index]
        for a, b in self._bounds:
            # Periods are sorted: one that starts at or after ``offset`` adds nothing
            # (x + 0.0 == x, so skipping and adding zero agree bit for bit).
            total = total + np.where(offset > a, np.minimum(offset, float(b)) - a, 0.0)
        return np.where(self._working[index], total, self._cum[index])


class ClockBook:
    """One :class:`WorkingClock` per distinct set of office hours, by unit."""

    def __init__(self, first: date, last: date) -> None:
        self.first, self.last = first, last
        self.snap = workcalendar.snapshot()
        self._by_periods: dict[tuple[Any, ...], WorkingClock] = {}
        self._by_unit: dict[int | None, WorkingClock] = {}
        # workcalendar.office_periods' rule (own hours, else the nearest ancestor's, else
        # the setting) for every unit from two queries, not a walk per unit.
        self._own = dict(
            db.session.execute(select(OfficeHours.unit_id, OfficeHours.periods)).tuples().all()
        )
        self._parent = dict(db.session.execute(select(Unit.id, Unit.parent_id)).tuples().all())

    def _periods(self, unit_id: int | None) -> list[workcalendar.Period]:
        seen: set[int] = set()
        while unit_id is not None and unit_id not in seen:
            seen.add(unit_id)
            if self._own.get(unit_id):
                return workcalendar.parse_periods(self._own[unit_id])
            unit_id = self._parent.get(unit_id)
        return workcalendar.office_periods(None)

    def for_unit(self, unit_id: int | None) -> WorkingClock:
        clock = self._by_unit.get(unit_id)
        if clock is None:
            periods = self._periods(unit_id)
            key = tuple(periods)
            clock = self._by_periods.get(key)
            if clock is None:
                clock = WorkingClock(self.first, self.last, periods, self.snap)
                self._by_periods[key] = clock
            self._by_unit[unit_id] = clock
        return clock


def _durations(stmt: Select[Any], book: ClockBook, per_day: bool) -> dict[int | None, list[float]]:
    """Working time per unit from ``stmt``'s (unit, start, end) rows, times as epoch
    seconds; rows missing a time or ending before they start are skipped.

    On PostgreSQL the rows come back as one pair of arrays per unit (``array_agg``): a
    hundred rows instead of hundreds of thousands of row objects.
    """
    sub = stmt.subquery()
    unit, start, end = sub.c
    by_unit: dict[int | None, tuple[Any, Any]] = {}
    connection = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        grouped = select(unit, func.array_agg(start), func.array_agg(end)).group_by(unit)
        # Parameters rendered in (IN lists expanded); they are ints and aware datetimes,
        # which psycopg takes as they are (UTCDateTime only checks the zone on PostgreSQL).
        compiled = grouped.compile(
            dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True}
        )
        # Binary results (the driver's cursor, same connection and transaction): float8
        # arrays arrive as IEEE doubles, not as decimal text to parse back (300,000 spans).
        dbapi: Any = connection.connection.dbapi_connection  # a psycopg Connection
        with dbapi.cursor(binary=True) as cursor:
            cursor.execute(str(compiled), compiled.params)
            for unit_id, starts, ends in cursor.fetchall():
                by_unit[unit_id] = (_floats(starts), _floats(ends))
    else:
        lists: dict[int | None, tuple[list[Any], list[Any]]] = {}
        for unit_id, a, b in connection.execute(select(unit, start, end)):
            pair = lists.setdefault(unit_id, ([], []))
            pair[0].append(a)
            pair[1].append(b)
        by_unit = {u: (_floats(a), _floats(b)) for u, (a, b) in lists.items()}
    out: dict[int | None, list[float]] = {}
    for unit_id, (starts, ends) in by_unit.items():
        clock = book.for_unit(unit_id)
        scale = clock.day_seconds if per_day else 3600.0
        # A missing time is NaN here, and NaN >= x is false: such rows drop out.
        keep = ends >= starts
        if keep.any():
            out[unit_id] = (clock.span_arrays(starts[keep], ends[keep]) / scale).tolist()
    return out


def _floats(values: list[Any]) -> Any:
    """A float array of epoch seconds, NaN for NULL."""
    return np.array(values, dtype=np.float64)


# --------------------------------------------------------------------------- the report


@dataclass
class UnitRow:
    unit_id: int | None
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    rank: int | None = None


@dataclass
class SlaTable:
    period: Period
    rows: list[UnitRow]
    total: UnitRow
    generated_at: datetime
    cutoff: datetime


def _subtree(root: Unit | None) -> list[Unit]:
    stmt = select(Unit)
    if root is not None:
        stmt = stmt.where(Unit.path.startswith(root.path))
    return tree_order(db.session.scalars(stmt))


def family_counts(family: str, w: Window, unit_ids: list[int] | None) -> Select[Any]:
    """The aggregate of one family: per unit, ``count(DISTINCT hit)`` of each metric."""
    metrics = [m for m in METRICS.values() if m.family == family]
    fam = FAMILIES[family]
    columns = [fam.unit.label("unit_id"), *(m.hit().label(m.key) for m in metrics)]
    sub = fam.rows(w, columns).subquery()
    stmt = select(
        sub.c.unit_id,
        *(
            func.count(distinct(sub.c[m.key])) if m.distinct else func.count(sub.c[m.key])
            for m in metrics
        ),
    )
    stmt = stmt.group_by(sub.c.unit_id)
    if unit_ids is not None:
        stmt = stmt.where(sub.c.unit_id.in_(unit_ids))
    return stmt


def _counts(family: str, w: Window, unit_ids: list[int] | None) -> dict[str, dict[int | None, int]]:
    metrics = [m for m in METRICS.values() if m.family == family]
    out: dict[str, dict[int | None, int]] = {m.key: {} for m in metrics}
    for unit_id, *values in db.session.execute(family_counts(family, w, unit_ids)):
        for metric, n in zip(metrics, values, strict=True):
            out[metric.key][unit_id] = int(n)
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _median(values: list[float]) -> float | None:
    # numpy's median equals statistics.median (the middle value, or the two middle values
    # added and halved) and selects instead of sorting a quarter's 150,000 spans.
    return round(float(np.median(np.asarray(values, dtype=np.float64))), 2) if values else None


def _fill(row: UnitRow, counts: dict[str, int], resp: list[float], resol: list[float]) -> None:
    row.values.update(counts)
    row.values["on_time_rate"] = _rate(counts["answered_on_time"], counts["answered"])
    row.values["assist_rate"] = _rate(counts["assist_on_time"], counts["assist_tasks"])
    row.values["avg_response_h"] = _mean(resp)
    row.values["median_response_h"] = _median(resp)
    row.values["avg_resolution_d"] = _mean(resol)
    row.values["median_resolution_d"] = _median(resol)
    row.values["satisfaction"] = None


def window_for(period: Period, now: datetime | None = None) -> Window:
    now = now or utcnow()
    return Window(period.start_utc, period.end_utc, min(period.end_utc, now))


def sla_table(
    period: Period,
    root: Unit | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> SlaTable:
    """Compute the per-unit table for ``period`` over ``root``'s subtree (None: all units).

    Units are ranked by 按期办结率 (then answers, then fewest overdue); units without any
    answer in the period are not ranked. ``progress`` is told a percentage as it goes.
    """
    now = now or utcnow()
    w = window_for(period, now)
    units = _subtree(root)
    ids = None if root is None else [u.id for u in units]
    steps = len(FAMILIES) + 2
    counts: dict[str, dict[int | None, int]] = {}
    for i, family in enumerate(FAMILIES):
        counts.update(_counts(family, w, ids))
        if progress:
            progress(int(100 * (i + 1) / steps))
    # The clock index spans every moment a duration can start: lead assignments
    # acknowledged in the period may have been made long before.
    book = ClockBook(period.start - timedelta(days=400), max(period.end, now.date()))
    # Times come back as epoch seconds: no datetime objects for hundreds of thousands of rows.
    ack = select(
        Assignment.unit_id, Epoch(Assignment.assigned_at), Epoch(Assignment.acknowledged_at)
    ).where(
        Assignment.role == "lead",
        Assignment.acknowledged_at >= w.start,
        Assignment.acknowledged_at < w.end,
        Assignment.assigned_at >= datetime.combine(book.first, time.min, tzinfo=SHANGHAI),
        _case_not_merged(Assignment.case_id),
    )
    resol = select(Case.unit_id, Epoch(Case.clock_started_at), Epoch(Case.answered_at)).where(
        Case.answered_at >= w.start,
        Case.answered_at < w.end,
        Case.clock_started_at >= datetime.combine(book.first, time.min, tzinfo=SHANGHAI),
        _not_merged(),
    )
    if ids is not None:
        ack = ack.where(Assignment.unit_id.in_(ids))
        resol = resol.where(Case.unit_id.in_(ids))
    # Core, not the ORM session: plain tuples of floats, no per-row ORM bookkeeping.
    response_times = _durations(ack, book, per_day=False)
    if progress:
        progress(int(100 * (steps - 1) / steps))
    # A fresh connection: ``progress`` may have committed (and released the last one).
    resolution_times = _durations(resol, book, per_day=True)
    rows: list[UnitRow] = []
    for unit in units:
        row = UnitRow(unit.id, unit.name)
        _fill(
            row,
            {k: counts[k].get(unit.id, 0) for k in METRICS},
            response_times.get(unit.id, []),
            resolution_times.get(unit.id, []),
        )
        rows.append(row)
    total = UnitRow(None, "合计")
    _fill(
        total,
        {k: sum(r.values[k] for r in rows) for k in METRICS},
        [v for r in rows for v in response_times.get(r.unit_id, [])],
        [v for r in rows for v in resolution_times.get(r.unit_id, [])],
    )
    rank(rows)
    if progress:
        progress(100)
    return SlaTable(period, rows, total, now, w.cutoff)


def rank(rows: list[UnitRow]) -> None:
    """Order rows by rank: 按期办结率 desc, answers desc, overdue asc; unranked last."""
    ranked = [r for r in rows if r.values["on_time_rate"] is not None]
    ranked.sort(
        key=lambda r: (-r.values["on_time_rate"], -r.values["answered"], r.values["overdue_open"])
    )
    previous: tuple[Any, ...] | None = None
    for position, row in enumerate(ranked, start=1):
        key = (row.values["on_time_rate"], row.values["answered"], row.values["overdue_open"])
        row.rank = ranked[position - 2].rank if key == previous else position
        previous = key
    unranked = [r for r in rows if r.values["on_time_rate"] is None]
    rows[:] = ranked + unranked


def drilldown_case_ids(
    metric: str, unit_id: int, period: Period, now: datetime | None = None
) -> Select[Any]:
    """The ids of the cases behind one figure (unit, period, metric), distinct, newest
    first: the same row set the figure counts."""
    m = METRICS[metric]
    fam = FAMILIES[m.family]
    columns = [fam.unit.label("unit_id"), fam.case.label("case_id"), m.hit().label("hit")]
    sub = fam.rows(window_for(period, now), columns).subquery()
    return (
        select(sub.c.case_id)
        .where(sub.c.unit_id == unit_id, sub.c.hit.is_not(None))
        .group_by(sub.c.case_id)
        .order_by(sub.c.case_id.desc())
    )


def overdue_cases(period: Period, unit_ids: list[int] | None, limit: int = 500) -> list[Case]:
    """The named list of overdue-and-open cases at the period's cut-off (季通报)."""
    sub = FAMILIES["overdue"].rows(window_for(period), [Case.id.label("case_id")]).subquery()
    stmt = select(Case).where(Case.id.in_(select(sub.c.case_id)))
    if unit_ids is not None:
        stmt = stmt.where(Case.unit_id.in_(unit_ids))
    return list(db.session.scalars(stmt.order_by(Case.due_at, Case.id).limit(limit)))


def returned_cases(
    period: Period, unit_ids: list[int] | None, limit: int = 500
) -> list[CaseReturn]:
    """The named list of returns (退单) in the period (季通报)."""
    w = window_for(period)
    stmt = (
        select(CaseReturn)
        .join(Case, Case.id == CaseReturn.case_id)
        .where(CaseReturn.returned_at >= w.start, CaseReturn.returned_at < w.end, _not_merged())
    )
    if unit_ids is not None:
        stmt = stmt.where(CaseReturn.unit_id.in_(unit_ids))
    return list(
        db.session.scalars(stmt.order_by(CaseReturn.returned_at, CaseReturn.id).limit(limit))
    )
