"""Dashboards (领导驾驶舱 / 单位看板): volume over time, topic and sentiment mix, on-time
rate by unit, open and overdue counts, hot events — and the cases behind every number.

Every figure is a count over a *metric*: a row set with ``unit_id`` (who it counts for),
``case_id`` and ``k`` (what is counted). The SLA figures reuse ``sla_report.METRICS``
(one definition of 答复 / 按期答复 / 超期未办结, shared with the 留言办理情况 report);
two figures only the dashboards show are defined here, the same way:

- ``volume`` (留言工单量): cases whose first item arrived in the period, counted in the unit
  handling them now (the receiving unit while undispatched), so a department's dashboard
  shows what reached it through dispatch, not only what arrived on its own accounts;
- ``open`` (当前未办结): cases open now, in the same unit.

:func:`drill_ids` turns a :class:`DrillFilter` (metric, period, unit or subtree, topic,
sentiment, event) into the ids of exactly the cases a number counted: a figure's link
carries that filter in its URL, and the list and its CSV/XLSX exports read it back.
Aggregates run in SQL (grouped counts; days bucketed in Asia/Shanghai by the database);
only the week folding of at most a year of day counts happens in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.sql.elements import ColumnElement

from sentinel.extensions import db
from sentinel.models import Case, Reply, Unit, utcnow
from sentinel.models.case import CASE_STATUSES, OPEN_STATUSES
from sentinel.services import sla_report
from sentinel.services.sla_report import Family, Period, Window
from sentinel.timefmt import SHANGHAI, format_local

SENTIMENT_LABELS = {"negative": "负面", "neutral": "中性", "positive": "正面"}
# URL value standing for "no label" (an unclassified case's topic or sentiment).
NONE_LABEL = "-"
BUCKETS = {"day": "按日", "week": "按周"}
MAX_DAYS = 366


# --------------------------------------------------------------------------- metrics


def _attributed_unit() -> Any:
    return func.coalesce(Case.unit_id, Case.owner_unit_id)


def _local_day() -> Any:
    """The Asia/Shanghai calendar day of ``first_item_at``, computed by the database.

    China has kept UTC+8 without daylight saving since 1991. On PostgreSQL the day is
    the number of days since 1970-01-01 from plain float arithmetic on the epoch (a time
    zone conversion per row cost a quarter of the chart's scan); SQLite stores naive UTC
    text and gives the date itself. :func:`_as_date` reads either.
    """
    if db.engine.dialect.name == "postgresql":
        return func.floor((func.date_part("epoch", Case.first_item_at) + 8 * 3600) / 86400)
    return func.date(Case.first_item_at, "+8 hours")


def _volume_rows(w: Window, columns: list[Any]) -> Select[Any]:
    return (
        select(*columns)
        .select_from(Case)
        .where(Case.first_item_at >= w.start, Case.first_item_at < w.end, Case.status != "merged")
    )


def _open_rows(w: Window, columns: list[Any]) -> Select[Any]:
    # "Now", whatever the period: the number a leader acts on today.
    return select(*columns).select_from(Case).where(Case.status.in_(OPEN_STATUSES))


@dataclass(frozen=True)
class DashMetric:
    """A figure only the dashboards show, defined like ``sla_report.METRICS``: the rows of
    a family, counted as distinct cases."""

    key: str
    label: str
    definition: str
    family: Family

    def hit(self) -> Any:
        return self.family.rid


DASHBOARD_METRICS: dict[str, DashMetric] = {
    m.key: m
    for m in (
        DashMetric(
            "volume",
            "留言工单量",
            "本期内首条留言到达的工单数（不含被合并的工单），计入当前主办单位；尚未分派的计入"
            "收件单位。按日统计以北京时间为准。",
            Family(_attributed_unit(), Case.id, Case.id, _volume_rows),
        ),
        DashMetric(
            "open",
            "当前未办结",
            "现在仍未答复、未关闭的工单数（待处理、已认领、待签收、办理中），计入当前主办单位；"
            "尚未分派的计入收件单位。与所选时间段无关。",
            Family(_attributed_unit(), Case.id, Case.id, _open_rows),
        ),
    )
}


def metric(key: str) -> DashMetric | sla_report.Metric | None:
    """A dashboard metric or an SLA-report metric by key (None if unknown)."""
    return DASHBOARD_METRICS.get(key) or sla_report.METRICS.get(key)


def metric_rows(key: str, w: Window, extra: Iterable[Any] = ()) -> Any:
    """The rows a figure counts, as a subquery of ``unit_id``, ``case_id``, ``k`` (the
    counted key, never NULL) and any ``extra`` columns: one definition for the figure,
    its drill-down list and its export."""
    m = metric(key)
    if m is None:
        raise KeyError(key)
    family = m.family if isinstance(m, DashMetric) else sla_report.FAMILIES[m.family]
    columns = [
        family.unit.label("unit_id"),
        family.case.label("case_id"),
        m.hit().label("k"),
        *extra,
    ]
    return family.rows(w, columns).subquery()


# --------------------------------------------------------------------------- scope


def subtree_ids(unit: Unit) -> list[int]:
    """The unit and every unit below it."""
    return list(db.session.scalars(select(Unit.id).where(Unit.path.startswith(unit.path))))


def _restrict(sub: Any, unit_ids: Iterable[int] | None) -> list[ColumnElement[bool]]:
    return [] if unit_ids is None else [sub.c.unit_id.in_(sorted(unit_ids))]


# --------------------------------------------------------------------------- drill-down


@dataclass(frozen=True)
class DrillFilter:
    """What a number counted: the filter of its case list, round-tripped through a URL."""

    metric: str
    start: date
    end: date
    unit_id: int | None = None  # None: the whole scope of the viewer
    subtree: bool = False  # the unit and everything below it
    topic: str | None = None  # NONE_LABEL: no topic
    sentiment: str | None = None  # NONE_LABEL: no sentiment
    event_id: int | None = None

    @property
    def period(self) -> Period:
        return sla_report.custom_period(self.start, self.end)

    def args(self) -> dict[str, str]:
        """The query string of this filter (``DrillFilter.from_args`` reads it back)."""
        out = {"metric": self.metric, "start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.unit_id is not None:
            out["unit_id"] = str(self.unit_id)
        if self.subtree:
            out["subtree"] = "1"
        if self.topic is not None:
            out["topic"] = self.topic
        if self.sentiment is not None:
            out["sentiment"] = self.sentiment
        if self.event_id is not None:
            out["event_id"] = str(self.event_id)
        return out

    @classmethod
    def from_args(cls, args: Any) -> DrillFilter:
        """Parse a query string; raises ValueError on anything malformed."""
        key = args.get("metric", "")
        if metric(key) is None:
            raise ValueError("unknown metric")
        start = date.fromisoformat(args.get("start", ""))
        end = date.fromisoformat(args.get("end", ""))
        if end < start or (end - start).days >= MAX_DAYS:
            raise ValueError("bad period")
        raw_unit = args.get("unit_id") or None
        raw_event = args.get("event_id") or None
        return cls(
            metric=key,
            start=start,
            end=end,
            unit_id=int(raw_unit) if raw_unit is not None else None,
            subtree=args.get("subtree") == "1",
            topic=args.get("topic") if args.get("topic") not in (None, "") else None,
            sentiment=args.get("sentiment") if args.get("sentiment") not in (None, "") else None,
            event_id=int(raw_event) if raw_event is not None else None,
        )

    def describe(self, unit: Unit | None) -> str:
        """The filter in words, for the list's heading."""
        parts = [unit.name + ("及下属单位" if self.subtree else "") if unit else "全部单位"]
        if self.topic is not None:
            parts.append("话题：" + ("未分类" if self.topic == NONE_LABEL else self.topic))
        if self.sentiment is not None:
            label = SENTIMENT_LABELS.get(self.sentiment, self.sentiment)
            parts.append("情感：" + ("未识别" if self.sentiment == NONE_LABEL else label))
        if self.event_id is not None:
            parts.append(f"事件 #{self.event_id}")
        return " · ".join(parts)


def _label_condition(column: Any, value: str | None) -> list[ColumnElement[bool]]:
    if value is None:
        return []
    return [column.is_(None)] if value == NONE_LABEL else [column == value]


def drill_ids(f: DrillFilter, unit_ids: Iterable[int] | None, now: datetime | None = None) -> Any:
    """The ids of the cases behind a number, distinct, newest first.

    ``unit_ids`` is the set of units the rows may count for (the filter's unit or subtree,
    already intersected with the viewer's scope by the caller); None means every unit.
    """
    sub = metric_rows(f.metric, sla_report.window_for(f.period, now))
    stmt = select(sub.c.case_id).where(sub.c.k.is_not(None), *_restrict(sub, unit_ids))
    if f.topic is not None or f.sentiment is not None:
        stmt = stmt.join(Case, Case.id == sub.c.case_id).where(
            *_label_condition(Case.topic, f.topic), *_label_condition(Case.sentiment, f.sentiment)
        )
    if f.event_id is not None:
        event_item = _event_item_model()
        if event_item is None:
            raise ValueError("events are not installed")
        stmt = stmt.where(
            sub.c.case_id.in_(select(event_item.case_id).where(event_item.event_id == f.event_id))
        )
    return stmt.group_by(sub.c.case_id).order_by(sub.c.case_id.desc())


# --------------------------------------------------------------------------- the figures


@dataclass
class Figure:
    """One number, and the URL of the cases behind it."""

    label: str
    value: int | float | None
    url: str | None = None
    note: str | None = None


@dataclass
class Dashboard:
    title: str
    period: Period
    bucket: str
    unit: Unit | None
    unit_ids: list[int] | None
    cutoff: datetime
    cards: list[Figure]
    volume: list[dict[str, Any]]
    topics: list[dict[str, Any]]
    sentiments: list[dict[str, Any]]
    units: list[dict[str, Any]]
    events: list[dict[str, Any]] | None
    definitions: list[tuple[str, str]]


Linker = Callable[[DrillFilter], str]


def _count(key: str, w: Window, unit_ids: list[int] | None) -> int:
    """A dashboard figure's total. Its families are single rows of ``cases`` (one row per
    case), so ``count(*)`` equals ``count(DISTINCT case)`` without the sort."""
    assert key in DASHBOARD_METRICS
    sub = metric_rows(key, w)
    stmt = select(func.count()).select_from(sub).where(*_restrict(sub, unit_ids))
    return int(db.session.scalar(stmt) or 0)


def _family(family: str, w: Window, unit_ids: list[int] | None) -> dict[str, dict[int, int]]:
    """Per unit, every figure of one ``sla_report`` family in one scan (the report's own
    aggregate, so the dashboard and the report cannot disagree)."""
    metrics = [m for m in sla_report.METRICS.values() if m.family == family]
    out: dict[str, dict[int, int]] = {m.key: {} for m in metrics}
    for unit_id, *values in db.session.execute(sla_report.family_counts(family, w, unit_ids)):
        if unit_id is None:
            continue
        for m, n in zip(metrics, values, strict=True):
            if n:
                out[m.key][unit_id] = int(n)
    return out


EPOCH_DAY = date(1970, 1, 1)


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, int | float):  # days since 1970-01-01 (PostgreSQL, above)
        return EPOCH_DAY + timedelta(days=int(value))
    return date.fromisoformat(str(value)[:10])


def _volume_figures(
    w: Window, unit_ids: list[int] | None
) -> tuple[dict[date, int], list[Any], list[Any]]:
    extra = [
        _local_day().label("day"),
        Case.topic.label("topic"),
        Case.sentiment.label("sentiment"),
    ]
    sub = metric_rows("volume", w, extra)
    # One scan, grouped by (day, topic, sentiment) — at most a few thousand groups — and
    # folded three ways here, instead of three scans of the period's cases.
    rows = db.session.execute(
        select(sub.c.day, sub.c.topic, sub.c.sentiment, func.count())
        .where(*_restrict(sub, unit_ids))
        .group_by(sub.c.day, sub.c.topic, sub.c.sentiment)
    ).all()
    days: dict[date, int] = {}
    topics: dict[str | None, int] = {}
    sentiments: dict[str | None, int] = {}
    for day, topic, sentiment, n in rows:
        d = _as_date(day)
        days[d] = days.get(d, 0) + int(n)
        topics[topic] = topics.get(topic, 0) + int(n)
        sentiments[sentiment] = sentiments.get(sentiment, 0) + int(n)
    topic_rows = sorted(topics.items(), key=lambda r: (-r[1], r[0] or ""))
    return days, topic_rows, list(sentiments.items())


def buckets(period: Period, bucket: str) -> Iterator[tuple[date, date]]:
    """The day or week (Monday–Sunday, clipped to the period) buckets of ``period``."""
    day = period.start
    while day <= period.end:
        week_end = min(day + timedelta(days=6 - day.weekday()), period.end)
        last = week_end if bucket == "week" else day
        yield day, last
        day = last + timedelta(days=1)


def build(
    period: Period,
    unit: Unit | None,
    unit_ids: list[int] | None,
    link: Linker,
    bucket: str = "day",
    now: datetime | None = None,
) -> Dashboard:
    """Compute a dashboard over ``unit_ids`` (None: every unit).

    ``unit`` is the unit a unit dashboard is about (``unit_ids`` is then its subtree within
    the viewer's scope), None for the leaders' dashboard over the viewer's whole scope.
    ``link`` makes the URL of a drill-down filter.
    """
    w = sla_report.window_for(period, now)
    base = DrillFilter(
        "volume", period.start, period.end, unit.id if unit else None, subtree=unit is not None
    )

    def at(**changes: Any) -> str:
        return link(replace(base, **changes))

    days, topic_rows, sentiment_rows = _volume_figures(w, unit_ids)
    volume = []
    for first, last in buckets(period, bucket):
        n = sum(v for d, v in days.items() if first <= d <= last)
        label = f"{first:%m-%d}" if first == last else f"{first:%m-%d}至{last:%m-%d}"
        volume.append(
            {"label": label, "value": n, "url": at(start=first, end=last), "start": str(first)}
        )
    topics = [
        {
            "name": t or "未分类",
            "value": int(n),
            "url": at(topic=t if t is not None else NONE_LABEL),
        }
        # Unclassified last, whatever its count: it is not a topic.
        for t, n in sorted(topic_rows, key=lambda r: r[0] is None)
    ]
    sentiments = [
        {
            "name": SENTIMENT_LABELS.get(s, s) if s else "未识别",
            "key": s or NONE_LABEL,
            "value": int(n),
            "url": at(sentiment=s if s is not None else NONE_LABEL),
        }
        for s, n in sorted(sentiment_rows, key=lambda r: _SENTIMENT_ORDER.get(r[0], 9))
    ]
    total = sum(days.values())

    answers = _family("answered", w, unit_ids)
    answered, on_time = answers["answered"], answers["answered_on_time"]
    overdue = _family("overdue", w, unit_ids)["overdue_open"]
    shown = set(answered) | set(overdue)
    names = dict(db.session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(shown))).all())
    unit_rows = []
    for unit_id in shown:

        def one(key: str, uid: int = unit_id) -> str:
            return at(metric=key, unit_id=uid, subtree=False)

        a, t = answered.get(unit_id, 0), on_time.get(unit_id, 0)
        unit_rows.append(
            {
                "unit_id": unit_id,
                "name": names.get(unit_id, str(unit_id)),
                "answered": a,
                "answered_url": one("answered"),
                "on_time": t,
                "on_time_url": one("answered_on_time"),
                "rate": round(t / a, 4) if a else None,
                "overdue": overdue.get(unit_id, 0),
                "overdue_url": one("overdue_open"),
            }
        )
    unit_rows.sort(key=lambda r: (r["rate"] is None, -(r["rate"] or 0), -r["answered"], r["name"]))

    total_answered = sum(answered.values())
    total_on_time = sum(on_time.values())
    cards = [
        Figure("留言工单量", total, at()),
        Figure("答复量", total_answered, at(metric="answered")),
        Figure("按期答复", total_on_time, at(metric="answered_on_time")),
        Figure(
            "按期办结率",
            round(total_on_time / total_answered, 4) if total_answered else None,
            at(metric="answered_on_time"),
            note=f"{total_on_time} / {total_answered}",
        ),
        Figure("当前未办结", _count("open", w, unit_ids), at(metric="open")),
        Figure(
            "超期未办结",
            sum(overdue.values()),
            at(metric="overdue_open"),
            note="截至 " + format_local(w.cutoff),
        ),
    ]
    return Dashboard(
        title=(unit.name + "看板") if unit else "领导驾驶舱",
        period=period,
        bucket=bucket,
        unit=unit,
        unit_ids=unit_ids,
        cutoff=w.cutoff,
        cards=cards,
        volume=volume,
        topics=topics,
        sentiments=sentiments,
        units=unit_rows,
        events=events_panel(w, unit_ids, lambda event_id: at(event_id=event_id)),
        definitions=definitions(),
    )


_SENTIMENT_ORDER = {"negative": 0, "neutral": 1, "positive": 2}


def definitions() -> list[tuple[str, str]]:
    """(label, definition) of every figure the dashboards show."""
    out = [(m.label, m.definition) for m in DASHBOARD_METRICS.values()]
    for key in ("answered", "answered_on_time", "overdue_open"):
        out.append((sla_report.METRICS[key].label, sla_report.METRICS[key].definition))
    out.append(sla_report.DERIVED["on_time_rate"])
    out.append(
        (
            "话题、情感分布",
            "留言工单量按工单的话题、情感标签分组（工单标签取自首条留言的分类，可由值班员更正）。",
        )
    )
    return out


# --------------------------------------------------------------------------- events


def _event_models() -> tuple[Any, Any] | None:
    """``(Event, EventItem)`` when the events module (branch events12) is installed."""
    import sentinel.models as models

    event = getattr(models, "Event", None)
    event_item = getattr(models, "EventItem", None)
    return (event, event_item) if event is not None and event_item is not None else None


def _event_item_model() -> Any:
    found = _event_models()
    return found[1] if found else None


def events_panel(
    w: Window, unit_ids: list[int] | None, link: Callable[[int], str], limit: int = 10
) -> list[dict[str, Any]] | None:
    """The hot events behind the period's cases in scope, hottest first; None when the
    ``Event`` model is not installed (the dashboards then show no events panel).

    An event counts the cases (in the ``volume`` row set: arrived in the period, in
    scope) that have an item in it; its link lists exactly those cases.
    """
    found = _event_models()
    if found is None:
        return None
    event, event_item = found
    sub = metric_rows("volume", w)
    cases = func.count(distinct(sub.c.case_id))
    rows = db.session.execute(
        select(event.id, event.title, event.status, event.heat, cases)
        .join(event_item, event_item.event_id == event.id)
        .join(sub, sub.c.case_id == event_item.case_id)
        .where(event.status != "merged", *_restrict(sub, unit_ids))
        .group_by(event.id, event.title, event.status, event.heat)
        .order_by(event.heat.desc(), event.id.desc())
        .limit(limit)
    ).all()
    import sys

    # The status names live next to the model (EVENT_STATUSES in branch events12).
    labels: dict[str, str] = getattr(sys.modules.get(event.__module__), "EVENT_STATUSES", {})
    return [
        {
            "id": eid,
            "title": title,
            "status": labels.get(status, status),
            "heat": round(float(heat or 0), 1),
            "cases": int(n),
            "url": link(eid),
        }
        for eid, title, status, heat, n in rows
    ]


# --------------------------------------------------------------------------- export


EXPORT_COLUMNS = (
    "工单编号",
    "标题",
    "状态",
    "收件单位",
    "主办单位",
    "话题",
    "情感",
    "首条留言时间",
    "分派时间",
    "签收时间",
    "首次响应（工作小时）",
    "答复时间",
    "办理时限",
    "办理用时（工作日）",
    "是否超期",
    "已发布的答复",
    "发布链接",
)


def export_rows(case_ids: list[int]) -> Iterator[list[Any]]:
    """One row per case for the CSV/XLSX export, with first-response time in working hours
    (分派 → 签收) and resolution time in working days (办理时限起算 → 答复), on the holiday
    calendar and the lead unit's office hours (the report's definitions)."""
    if not case_ids:
        return
    units = dict(db.session.execute(select(Unit.id, Unit.name)).tuples().all())
    # One clock book spanning every moment involved (a few ids at a time keep it small).
    span = db.session.execute(
        select(
            func.min(func.coalesce(Case.dispatched_at, Case.first_item_at)),
            func.max(func.coalesce(Case.answered_at, Case.first_item_at)),
            func.min(Case.clock_started_at),
        ).where(Case.id.in_(case_ids))
    ).one()
    starts = [d for d in (span[0], span[2]) if d is not None]
    first = min(starts).astimezone(SHANGHAI).date() - timedelta(days=1)
    last = max(
        span[1].astimezone(SHANGHAI).date() if span[1] else first,
        utcnow().astimezone(SHANGHAI).date(),
    )
    book = sla_report.ClockBook(first, last + timedelta(days=1))
    for chunk_start in range(0, len(case_ids), 1000):
        chunk = case_ids[chunk_start : chunk_start + 1000]
        cases = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(chunk)))}
        # The answer as published (frozen text; a later correction replaces it here).
        published = {
            r.case_id: r
            for r in db.session.scalars(
                select(Reply)
                .where(
                    Reply.case_id.in_(chunk),
                    Reply.kind == "answer",
                    Reply.status == "final",
                    Reply.published_at.is_not(None),
                )
                .order_by(Reply.published_at, Reply.id)
            )
        }
        for case_id in chunk:
            c = cases[case_id]
            clock = book.for_unit(c.unit_id)
            response = None
            if c.dispatched_at and c.acknowledged_at and c.acknowledged_at >= c.dispatched_at:
                response = round(clock.between(c.dispatched_at, c.acknowledged_at) / 3600, 2)
            resolution = None
            if c.clock_started_at and c.answered_at and c.answered_at >= c.clock_started_at:
                seconds = clock.between(c.clock_started_at, c.answered_at)
                resolution = round(seconds / clock.day_seconds, 2)
            yield [
                c.id,
                c.title,
                CASE_STATUSES.get(c.status, c.status),
                units.get(c.owner_unit_id, "") if c.owner_unit_id else "",
                units.get(c.unit_id, "") if c.unit_id else "",
                c.topic or "",
                SENTIMENT_LABELS.get(c.sentiment or "", c.sentiment or ""),
                format_local(c.first_item_at),
                format_local(c.dispatched_at),
                format_local(c.acknowledged_at),
                response,
                format_local(c.answered_at),
                format_local(c.due_at),
                resolution,
                _overdue_label(c),
                published[case_id].body if case_id in published else "",
                (published[case_id].published_link or "") if case_id in published else "",
            ]


def _overdue_label(c: Case) -> str:
    if c.deadline_state == "late":
        return "超期办结"
    if c.deadline_state == "met":
        return "按期"
    if c.is_open and c.due_at is not None and c.due_at < utcnow():
        return "超期未办结"
    return ""
