"""Reading events for pages and JSON: unit scope, the rising list, one event's details.

An event is in a user's scope when one of its items belongs to a case the user may see
(``permissions.case_scope``): a unit user sees the events touching their units. On an
event page they see all the event's counts but only the items of cases in their scope.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, func, select, true

from sentinel.auth.permissions import case_scope, scope_unit_ids
from sentinel.extensions import db
from sentinel.models import Case, Event, EventItem, Item, Source, Unit, User
from sentinel.services import event_heat


def event_scope(user: User) -> ColumnElement[bool]:
    """SQL condition: events touching a case the user may see."""
    if scope_unit_ids(user) is None:
        return true()
    return exists(
        select(EventItem.id)
        .join(Item, Item.id == EventItem.item_id)
        .join(Case, Case.id == Item.case_id)
        .where(EventItem.event_id == Event.id, case_scope(user))
    )


def event_in_scope(user: User, event: Event) -> bool:
    """True when ``event`` touches a case the user may see."""
    if scope_unit_ids(user) is None:
        return True
    return bool(db.session.scalar(select(Event.id).where(Event.id == event.id, event_scope(user))))


def rising(user: User, *, status: str = "open", limit: int = 100) -> list[Event]:
    """The user's events, hottest first (escalated ones first among equals)."""
    stmt = select(Event).where(event_scope(user))
    if status != "all":
        stmt = stmt.where(Event.status == status)
    stmt = stmt.order_by(
        Event.heat.desc(), Event.escalated_level.desc(), Event.last_at.desc(), Event.id.desc()
    )
    return list(db.session.scalars(stmt.limit(limit)))


def visible_items(user: User, event: Event, limit: int = 200) -> list[Any]:
    """The event's items whose case the user may see, newest first (with their case)."""
    return list(
        db.session.execute(
            select(Item, Case, EventItem)
            .join(EventItem, EventItem.item_id == Item.id)
            .join(Case, Case.id == Item.case_id)
            .where(EventItem.event_id == event.id, case_scope(user))
            .order_by(EventItem.item_at.desc(), Item.id.desc())
            .limit(limit)
        ).all()
    )


def cases_of(user: User, event: Event) -> list[tuple[Case, int]]:
    """The event's cases the user may see, with how many of the event's items each holds."""
    counts = dict(
        db.session.execute(
            select(Item.case_id, func.count(EventItem.id))
            .join(EventItem, EventItem.item_id == Item.id)
            .where(EventItem.event_id == event.id)
            .group_by(Item.case_id)
        ).all()
    )
    if not counts:
        return []
    cases = db.session.scalars(select(Case).where(Case.id.in_(list(counts)), case_scope(user)))
    return sorted(((c, int(counts[c.id])) for c in cases), key=lambda cn: (-cn[1], cn[0].id))


def units_involved(event: Event) -> list[str]:
    """Names of the units the event's cases are dispatched to or arrived at."""
    ids = set(
        db.session.scalars(
            select(func.coalesce(Case.unit_id, Case.owner_unit_id))
            .join(Item, Item.case_id == Case.id)
            .join(EventItem, EventItem.item_id == Item.id)
            .where(EventItem.event_id == event.id)
            .distinct()
        )
    )
    ids.discard(None)
    if not ids:
        return []
    return list(db.session.scalars(select(Unit.name).where(Unit.id.in_(ids)).order_by(Unit.id)))


def platforms(event: Event) -> dict[str, int]:
    """Items per platform."""
    return event_heat.platforms([event.id]).get(event.id, {})


def as_json(event: Event) -> dict[str, Any]:
    """An event as the JSON endpoints give it."""
    return {
        "id": event.id,
        "title": event.title,
        "status": event.status,
        "keywords": event.keywords,
        "places": event.places,
        "item_count": event.item_count,
        "asker_count": event.asker_count,
        "first_at": event.first_at.isoformat(),
        "last_at": event.last_at.isoformat(),
        "heat": event.heat,
        "heat_peak": event.heat_peak,
        "heat_at": event.heat_at.isoformat() if event.heat_at else None,
        "escalated_level": event.escalated_level,
        "escalated_at": event.escalated_at.isoformat() if event.escalated_at else None,
        "merged_into_id": event.merged_into_id,
    }


def sources_of(event: Event) -> list[str]:
    """Names of the channels the event's items came from."""
    return list(
        db.session.scalars(
            select(Source.name)
            .join(Item, Item.source_id == Source.id)
            .join(EventItem, EventItem.item_id == Item.id)
            .where(EventItem.event_id == event.id)
            .distinct()
        )
    )
