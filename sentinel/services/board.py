"""The leaders' board and the scoped queries behind the 会商 pages (read-only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true

from sentinel.auth.permissions import scope_unit_ids
from sentinel.extensions import db
from sentinel.models import (
    Case,
    Consultation,
    ConsultationClock,
    ConsultationInvite,
    Event,
    EventItem,
    HeatSample,
    Unit,
    User,
    utcnow,
)
from sentinel.models.consultation import OPEN_CONSULT_STATUSES
from sentinel.services import consult_clocks, consultations, event_queries
from sentinel.timefmt import format_local

RISING_LIMIT = 10
CURVE_EVENTS = 5
CURVE_HOURS = 48


def event_in_scope(user: User, event: Event) -> bool:
    """True when the user may see the event (``event_queries``) or one of their units
    owns its consultation."""
    ids = scope_unit_ids(user)
    if ids is None or event_queries.event_in_scope(user, event):
        return True
    found = consultations.for_event(event.id)
    return found is not None and bool(ids & set(found.owner_unit_ids()))


def _consultation_scope(user: User) -> ColumnElement[bool]:
    """SQL: consultations whose event the user sees, or that one of their units owns."""
    ids = scope_unit_ids(user)
    if ids is None:
        return true()
    invited = select(ConsultationInvite.consultation_id).where(ConsultationInvite.unit_id.in_(ids))
    return or_(
        event_queries.event_scope(user),
        Consultation.responsible_unit_id.in_(ids),
        Consultation.id.in_(invited),
    )


@dataclass
class ConsultRow:
    consultation: Consultation
    event: Event
    nearest: ConsultationClock | None
    remaining: str
    state: str  # running / approaching / breached / none
    case_count: int


def consultations_for(user: User, open_only: bool = True) -> list[ConsultRow]:
    """Consultations in the user's scope, the nearest running clock first."""
    stmt = (
        select(Consultation, Event)
        .join(Event, Event.id == Consultation.event_id)
        .where(_consultation_scope(user))
    )
    if open_only:
        stmt = stmt.where(Consultation.status.in_(OPEN_CONSULT_STATUSES))
    pairs = db.session.execute(stmt.order_by(Consultation.opened_at.desc()).limit(500)).all()
    now = utcnow()
    counts = dict(
        db.session.execute(
            select(EventItem.event_id, func.count(func.distinct(EventItem.case_id)))
            .where(EventItem.event_id.in_([e.id for _, e in pairs]))
            .group_by(EventItem.event_id)
        ).all()
    )
    rows: list[ConsultRow] = []
    for consultation, event in pairs:
        nearest = consult_clocks.nearest(consultation) if consultation.is_open else None
        rows.append(
            ConsultRow(
                consultation,
                event,
                nearest,
                consult_clocks.remaining_label(nearest, now) if nearest else "",
                nearest.state(now) if nearest else "none",
                int(counts.get(event.id, 0)),
            )
        )
    far = datetime.max.replace(tzinfo=now.tzinfo)
    rows.sort(key=lambda r: (r.nearest.due_at if r.nearest else far, -r.consultation.id))
    return rows


def event_cases(event_id: int) -> list[tuple[Case, int]]:
    """The event's cases with how many of the event's items each holds."""
    counts = dict(
        db.session.execute(
            select(EventItem.case_id, func.count())
            .where(EventItem.event_id == event_id)
            .group_by(EventItem.case_id)
        ).all()
    )
    cases = db.session.scalars(select(Case).where(Case.id.in_(counts)).order_by(Case.id))
    return [(case, int(counts[case.id])) for case in cases]


def agreed_lines_for_case(case_id: int) -> list[Consultation]:
    """Consultations with an agreed line (统一口径) on events this case's items are in."""
    event_ids = select(EventItem.event_id).where(EventItem.case_id == case_id).distinct()
    return list(
        db.session.scalars(
            select(Consultation)
            .where(Consultation.event_id.in_(event_ids), Consultation.agreed_line.is_not(None))
            .order_by(Consultation.id)
        )
    )


@dataclass
class Owe:
    unit: str
    what: str
    consultation_id: int
    due: str
    state: str


@dataclass
class RisingEvent:
    event: Event
    growth_6h: float
    volume_1h: int
    volume_24h: int
    consultation_id: int | None


@dataclass
class Board:
    consultations: list[ConsultRow]
    rising: list[RisingEvent]
    owes: list[Owe]
    curves: dict[str, Any]
    generated_at: str
    counts: dict[str, int] = field(default_factory=dict)


def rising_events(user: User, now: datetime, limit: int = RISING_LIMIT) -> list[RisingEvent]:
    """The user's open events of the last 7 days, hottest first, with their growth."""
    since = now - timedelta(days=7)
    events = [e for e in event_queries.rising(user, limit=limit * 3) if e.last_at >= since]
    events = events[:limit]
    consult_ids = dict(
        db.session.execute(
            select(Consultation.event_id, Consultation.id).where(
                Consultation.event_id.in_([e.id for e in events])
            )
        ).all()
    )
    rising: list[RisingEvent] = []
    for event in events:
        latest = db.session.scalar(
            select(HeatSample)
            .where(HeatSample.event_id == event.id)
            .order_by(HeatSample.at.desc())
            .limit(1)
        )
        before = db.session.scalar(
            select(HeatSample.heat)
            .where(HeatSample.event_id == event.id, HeatSample.at <= now - timedelta(hours=6))
            .order_by(HeatSample.at.desc())
            .limit(1)
        )
        rising.append(
            RisingEvent(
                event,
                float(event.heat or 0) - float(before or 0),
                latest.volume_1h if latest else 0,
                latest.volume_24h if latest else 0,
                consult_ids.get(event.id),
            )
        )
    return rising


def curves(events: list[Event], now: datetime) -> dict[str, Any]:
    """Heat curves of the given events over the last CURVE_HOURS (ECharts series data)."""
    since = now - timedelta(hours=CURVE_HOURS)
    series = []
    for event in events:
        points = db.session.execute(
            select(HeatSample.at, HeatSample.heat)
            .where(HeatSample.event_id == event.id, HeatSample.at >= since)
            .order_by(HeatSample.at)
        ).all()
        series.append(
            {
                "event_id": event.id,
                "name": f"#{event.id} {event.title[:18]}",
                "points": [[format_local(at, "%Y-%m-%d %H:%M"), round(h, 2)] for at, h in points],
            }
        )
    return {"series": series}


def owes(rows: list[ConsultRow], now: datetime) -> list[Owe]:
    """Who owes what: running clocks and the agreed line of the responsible unit, and
    the confirmations invited units have not given."""
    found: list[Owe] = []
    for row in rows:
        c = row.consultation
        if not c.is_open:
            continue
        lead = c.responsible_unit.name if c.responsible_unit else "（未定牵头单位）"
        for clock in c.clocks:
            if clock.is_running:
                found.append(
                    Owe(
                        lead,
                        clock.kind_label,
                        c.id,
                        consult_clocks.remaining_label(clock, now),
                        clock.state(now),
                    )
                )
        if not c.agreed_line:
            found.append(Owe(lead, "统一口径", c.id, "", "running"))
        for invite in c.invites:
            if invite.confirmed_at is None:
                found.append(Owe(invite.unit.name, "确认参会", c.id, "", "running"))
    order = {"breached": 0, "approaching": 1, "running": 2}
    found.sort(key=lambda o: (order.get(o.state, 3), o.consultation_id))
    return found


def build(user: User, now: datetime | None = None) -> Board:
    """Everything the leaders' board shows, scoped to the user's units."""
    now = now or utcnow()
    rows = consultations_for(user, open_only=True)
    rising = rising_events(user, now)
    board = Board(
        consultations=rows,
        rising=rising,
        owes=owes(rows, now),
        curves=curves([r.event for r in rising[:CURVE_EVENTS]], now),
        generated_at=format_local(now, "%Y-%m-%d %H:%M:%S"),
    )
    board.counts = {
        "open": len(rows),
        "breached": sum(1 for r in rows if r.state == "breached"),
        "approaching": sum(1 for r in rows if r.state == "approaching"),
        "rising": len(rising),
    }
    return board


def unit_name(unit_id: int | None) -> str:
    unit = db.session.get(Unit, unit_id) if unit_id else None
    return unit.name if unit else ""
