"""Read-side queries for case lists (triage queue, unit inbox), scoped to the user."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import g
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from classifiers.text import normalise
from sentinel.auth.permissions import case_scope
from sentinel.extensions import db
from sentinel.models import Case, User
from sentinel.models.case import CASE_STATUSES, OPEN_STATUSES
from sentinel.services.text_search import text_match
from sentinel.timefmt import SHANGHAI

STATUS_GROUPS = {
    "todo": ("new", "claimed"),
    "open": OPEN_STATUSES,
    "dispatched": ("dispatched", "acknowledged"),
    "answered": ("answered",),
    "done": ("closed", "noise", "merged"),
    "all": tuple(CASE_STATUSES),
}
STATUS_GROUP_LABELS = {
    "todo": "待处理",
    "open": "全部未办结",
    "dispatched": "已分派",
    "answered": "已答复",
    "done": "已关闭",
    "all": "全部",
}
SORTS = {
    "urgent": "紧急优先",
    "newest": "最新优先",
    "asked": "问的人最多",
    "rumour": "谣言嫌疑最高",
}


@dataclass
class CaseFilters:
    status: str = "todo"
    source_id: int | None = None
    unit_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    topic: str = ""
    sentiment: str = ""
    request_type: str = ""
    risk_tier: str = ""
    needs_person: bool = False
    sort: str = "urgent"

    @classmethod
    def from_args(cls, args: Any) -> CaseFilters:
        """Parse query-string arguments; anything malformed is ignored, not an error."""

        def as_int(name: str) -> int | None:
            try:
                return int(args.get(name, ""))
            except ValueError:
                return None

        def as_date(name: str) -> date | None:
            try:
                return date.fromisoformat(args.get(name, ""))
            except ValueError:
                return None

        status = args.get("status", "todo")
        sort = args.get("sort", "urgent")
        return cls(
            status=status if status in STATUS_GROUPS else "todo",
            source_id=as_int("source_id"),
            unit_id=as_int("unit_id"),
            date_from=as_date("date_from"),
            date_to=as_date("date_to"),
            q=args.get("q", "").strip()[:100],
            topic=args.get("topic", "").strip()[:60],
            sentiment=args.get("sentiment", "").strip()[:10],
            request_type=args.get("request_type", "").strip()[:10],
            risk_tier=args.get("risk_tier", "").strip()[:1],
            needs_person=args.get("needs_person") == "1",
            sort=sort if sort in SORTS else "urgent",
        )

    def to_args(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in (None, "", False):
                continue
            out[f.name] = "1" if value is True else str(value)
        return out


def _local_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


def case_query(user: User, filters: CaseFilters) -> Select[tuple[Case]]:
    """Cases the user may see, filtered (no ordering, no paging)."""
    stmt = select(Case).where(case_scope(user))
    stmt = stmt.where(Case.status.in_(STATUS_GROUPS[filters.status]))
    if filters.source_id:
        stmt = stmt.where(Case.source_id == filters.source_id)
    if filters.unit_id:
        stmt = stmt.where(Case.unit_id == filters.unit_id)
    if filters.date_from:
        stmt = stmt.where(Case.last_item_at >= _local_day_start(filters.date_from))
    if filters.date_to:
        stmt = stmt.where(Case.last_item_at < _local_day_start(filters.date_to + timedelta(days=1)))
    if filters.topic:
        stmt = stmt.where(Case.topic == filters.topic)
    if filters.sentiment:
        stmt = stmt.where(Case.sentiment == filters.sentiment)
    if filters.request_type:
        stmt = stmt.where(Case.request_type == filters.request_type)
    if filters.risk_tier:
        stmt = stmt.where(Case.risk_tier == filters.risk_tier)
    if filters.needs_person:
        stmt = stmt.where(Case.needs_person.is_(True))
    if filters.q:
        if filters.q.lstrip("#").isdigit():
            stmt = stmt.where(Case.id == int(filters.q.lstrip("#")))
        else:
            # The normalised text is searched, with the query normalised the same way, so
            # full-width/half-width and line breaks do not decide whether a message is found.
            stmt = stmt.where(text_match(normalise(filters.q)))
    return stmt


def ordered(stmt: Select[tuple[Case]], sort: str) -> Select[tuple[Case]]:
    if sort == "newest":
        return stmt.order_by(Case.last_item_at.desc(), Case.id.desc())
    if sort == "asked":
        return stmt.order_by(Case.ask_count.desc(), Case.last_item_at.desc())
    if sort == "rumour":
        return stmt.order_by(Case.rumour_score.desc().nulls_last(), Case.last_item_at.desc())
    return stmt.order_by(Case.priority.desc(), Case.last_item_at.desc(), Case.id.desc())


#: Filtered views count at most this many cases ("1000+ 件"): counting every match of a
#: frequent word or a wide filter costs more than the page itself, and no one pages that far.
COUNT_CAP = 1000


@dataclass
class Page:
    cases: list[Case]
    total: int
    page: int
    per_page: int
    capped: bool = False  # more than ``total`` cases match (the count stopped at COUNT_CAP)

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)


def capped_count(stmt: Select[tuple[Case]]) -> tuple[int, bool]:
    """How many cases ``stmt`` selects, counting no further than ``COUNT_CAP``."""
    counted = db.session.scalar(
        select(func.count()).select_from(
            stmt.with_only_columns(Case.id).order_by(None).limit(COUNT_CAP + 1).subquery()
        )
    )
    counted = counted or 0
    return min(counted, COUNT_CAP), counted > COUNT_CAP


def case_page(user: User, filters: CaseFilters, page: int, per_page: int) -> Page:
    stmt = case_query(user, filters)
    capped = False
    if filters == CaseFilters(status=filters.status, sort=filters.sort):
        # Only a status group: one grouped count over the queue's partial/status index.
        total = sum(status_counts(user, STATUS_GROUPS[filters.status]).values())
    else:
        total, capped = capped_count(stmt)
    page = max(1, min(page, max(1, (total + per_page - 1) // per_page)))
    # The page's ids first (sorting narrow rows), then only those rows with their joins.
    ids = list(
        db.session.scalars(
            ordered(stmt.with_only_columns(Case.id), filters.sort)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    rows = {
        case.id: case
        for case in db.session.scalars(
            select(Case)
            .where(Case.id.in_(ids))
            .options(joinedload(Case.unit), joinedload(Case.claimed_by))
        )
    }
    return Page([rows[i] for i in ids if i in rows], total, page, per_page, capped)


def cases_after(user: User, filters: CaseFilters, after_id: int, limit: int = 50) -> list[Case]:
    """Cases newer than ``after_id`` matching the filters: the live feed of the queue."""
    stmt = case_query(user, filters).where(Case.id > after_id)
    return list(
        db.session.scalars(
            stmt.options(joinedload(Case.unit), joinedload(Case.claimed_by))
            .order_by(Case.id.desc())
            .limit(limit)
        )
    )


def status_counts(user: User, statuses: tuple[str, ...]) -> dict[str, int]:
    """Cases in the user's scope for each of ``statuses``.

    Only the statuses a page shows are counted: closed cases pile up for years, and
    counting them on every queue refresh would make the page slower every month.
    """
    memo = g.setdefault("_status_counts", {})
    key = (user.id, tuple(sorted(statuses)))
    if key not in memo:  # the page and its tabs ask the same question once per request
        rows = db.session.execute(
            select(Case.status, func.count())
            .where(case_scope(user), Case.status.in_(statuses))
            .group_by(Case.status)
        )
        memo[key] = {status: count for status, count in rows}
    return dict(memo[key])


def unit_inbox_page(
    user: User, statuses: tuple[str, ...], filters: CaseFilters, page: int, per_page: int
) -> Page:
    """A unit's cases in the given statuses, newest dispatch first (handler's inbox)."""
    stmt = case_query(user, filters).where(Case.status.in_(statuses))
    total, capped = capped_count(stmt)
    page = max(1, min(page, max(1, (total + per_page - 1) // per_page)))
    rows = db.session.scalars(
        stmt.options(joinedload(Case.unit))
        .order_by(Case.dispatched_at.desc().nulls_last(), Case.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(rows), total, page, per_page, capped)
