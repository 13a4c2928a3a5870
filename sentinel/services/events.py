"""Events (热点/舆情事件): escalation and the duty officers' corrections.

Clustering (``services.event_clustering``) builds events; this module holds what changes an
event by decision: ``escalate`` (automatic from heat, or an officer raising it), and the
officers' merge / move-out / rename / mark-noise. Every change is audited; the caller commits.

Extension point for alerts and the 会商 consultation: ``on_escalated`` is a list of
callables ``hook(event, escalation, actor)`` run inside ``escalate`` after the escalation row
is flushed, in the same transaction. A hook must only add rows / enqueue jobs through
``sentinel.jobqueue.enqueue`` (which sends after commit); it must not commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, select, update

from sentinel.auth.permissions import Actor
from sentinel.errors import InvalidTransition, ValidationFailed
from sentinel.extensions import db
from sentinel.models import (
    Event,
    EventDetached,
    EventEscalation,
    EventItem,
    EventTerm,
    Item,
    utcnow,
)
from sentinel.models.event import ESCALATION_LEVELS
from sentinel.services import audit

log = logging.getLogger(__name__)

EscalationHook = Callable[[Event, EventEscalation, Actor], None]
# Run, in order, for every new escalation (see the module docstring).
on_escalated: list[EscalationHook] = []


@contextmanager
def hooks_suspended() -> Iterator[None]:
    """Run without the ``on_escalated`` hooks (the event replay: nothing may alert)."""
    saved = list(on_escalated)
    on_escalated.clear()
    try:
        yield
    finally:
        on_escalated[:] = saved


def escalate(
    event: Event, *, level: int, actor: Actor, reason: str | None = None
) -> EventEscalation | None:
    """Raise ``event`` to ``level`` (1 一般, 2 较大, 3 重大). Once per level: returns None
    and changes nothing when the event already reached ``level`` (so heat that keeps
    crossing a threshold never alerts twice); otherwise records the escalation (and any
    level skipped on the way is implied, not recorded), audits it, and runs the
    ``on_escalated`` hooks. ``actor`` is the system for heat, or the officer raising it."""
    if level not in ESCALATION_LEVELS:
        raise ValidationFailed("升级等级无效")
    if event.status not in ("open",):
        raise InvalidTransition("该事件已不在进行中，不能升级")
    if event.escalated_level >= level:
        return None
    now = utcnow()
    escalation = EventEscalation(
        event_id=event.id,
        level=level,
        at=now,
        actor_id=actor.user_id,
        heat=round(float(event.heat or 0.0), 2),
        reason=(reason or None),
    )
    db.session.add(escalation)
    previous = event.escalated_level
    event.escalated_level = level
    event.escalated_at = now
    event.escalated_by_id = actor.user_id
    audit.record(
        actor,
        "event.escalate",
        "event",
        event.id,
        level=level,
        previous=previous,
        heat=escalation.heat,
        automatic=actor.user_id is None,
    )
    db.session.flush()
    log.info(
        "event_escalated event_id=%s level=%s automatic=%s",
        event.id,
        level,
        actor.user_id is None,
    )
    for hook in list(on_escalated):
        hook(event, escalation, actor)
    return escalation


def level_for_heat(heat: float, thresholds: Any) -> int:
    """The escalation level ``heat`` reaches under ``thresholds`` (ascending, one per level:
    EVENT_ESCALATION_THRESHOLDS); 0 below the first."""
    level = 0
    for i, threshold in enumerate(thresholds, start=1):
        if heat >= float(threshold):
            level = i
    return min(level, max(ESCALATION_LEVELS))


# --- officers' corrections ---------------------------------------------------------------


def _require_open(event: Event) -> None:
    if event.status in ("merged",):
        raise InvalidTransition("该事件已合并到其他事件")


def rename(actor: Actor, event: Event, title: str) -> None:
    """Give ``event`` an officer's title; the generated title never replaces it again."""
    title = (title or "").strip()
    if not title:
        raise ValidationFailed("请填写事件标题")
    if len(title) > 200:
        raise ValidationFailed("事件标题不能超过 200 字")
    _require_open(event)
    old_manual = event.title_manual
    event.title = title
    event.title_manual = True
    audit.record(actor, "event.rename", "event", event.id, was_manual=old_manual)
    db.session.flush()


def mark_noise(actor: Actor, event: Event, reason: str | None = None) -> None:
    """Mark ``event`` as noise (无效): it leaves the lists and never escalates; new items
    like its own still join it rather than start a new event."""
    if event.status != "open":
        raise InvalidTransition("只有进行中的事件可以标记为无效")
    event.status = "noise"
    audit.record(actor, "event.noise", "event", event.id, reason=(reason or None))
    db.session.flush()


def reopen(actor: Actor, event: Event) -> None:
    """Undo a noise marking."""
    if event.status != "noise":
        raise InvalidTransition("只有无效事件可以恢复")
    event.status = "open"
    audit.record(actor, "event.reopen", "event", event.id)
    db.session.flush()


def merge(actor: Actor, source: Event, target: Event) -> None:
    """Merge ``source`` into ``target``: its items move (keeping how they were placed), its
    escalation level carries over if higher, and it stays as a pointer (merged, into)."""
    from sentinel.services import event_clustering, event_heat

    if source.id == target.id:
        raise ValidationFailed("不能与自身合并")
    if source.status == "merged" or target.status == "merged":
        raise InvalidTransition("已合并的事件不能再合并")
    if target.status != "open":
        raise InvalidTransition("只能合并到进行中的事件")
    moved = db.session.execute(
        update(EventItem).where(EventItem.event_id == source.id).values(event_id=target.id)
    ).rowcount
    source.status = "merged"
    source.merged_into_id = target.id
    source.item_count = 0
    source.heat = 0.0
    db.session.execute(delete(EventTerm).where(EventTerm.event_id == source.id))
    db.session.flush()
    db.session.expire(target, ["items"])
    event_clustering.rebuild_profile(target)
    event_clustering.refresh_derived([target], reread=True)
    event_clustering.reindex([target])
    audit.record(actor, "event.merge", "event", target.id, merged_event_id=source.id, items=moved)
    event_heat.update([target], utcnow())
    db.session.flush()


def move_items_out(
    actor: Actor, event: Event, item_ids: list[int], *, to: Event | None = None
) -> int:
    """Move items out of ``event``: into the officer's chosen event ``to`` (placed by an
    officer: clustering never moves them), or out of all events (recorded, so clustering
    never places them again). Returns how many moved."""
    from sentinel.services import event_clustering, event_heat

    if to is not None and (to.id == event.id or to.status != "open"):
        raise InvalidTransition("目标事件无效")
    links = list(
        db.session.scalars(
            select(EventItem).where(EventItem.event_id == event.id, EventItem.item_id.in_(item_ids))
        )
    )
    if not links:
        raise ValidationFailed("所选留言不在该事件中")
    now = utcnow()
    for link in links:
        if to is not None:
            link.event_id = to.id
            link.placed_by = "officer"
            link.similarity = None
            link.added_at = now
        else:
            db.session.add(
                EventDetached(
                    item_id=link.item_id,
                    event_id=event.id,
                    detached_at=now,
                    detached_by_id=actor.user_id,
                )
            )
            db.session.delete(link)
    db.session.flush()
    touched = [event] + ([to] if to is not None else [])
    for e in touched:
        db.session.expire(e, ["items"])
        event_clustering.rebuild_profile(e)
    event_clustering.refresh_derived(touched, reread=True)
    event_clustering.reindex(touched)
    audit.record(
        actor,
        "event.move_out",
        "event",
        event.id,
        items=[link.item_id for link in links],
        to_event_id=to.id if to is not None else None,
    )
    event_heat.update([e for e in touched if e.status == "open"], now)
    db.session.flush()
    return len(links)


def move_case_out(actor: Actor, event: Event, case_id: int, *, to: Event | None = None) -> int:
    """Move every item of one case out of ``event`` (see ``move_items_out``)."""
    item_ids = list(
        db.session.scalars(
            select(EventItem.item_id)
            .join(Item, Item.id == EventItem.item_id)
            .where(EventItem.event_id == event.id, Item.case_id == case_id)
        )
    )
    if not item_ids:
        raise ValidationFailed("该工单的留言不在该事件中")
    return move_items_out(actor, event, item_ids, to=to)


def raise_level(actor: Actor, event: Event, level: int, reason: str) -> EventEscalation:
    """A duty officer escalates ``event`` by hand (with a reason)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写升级理由")
    escalation = escalate(event, level=level, actor=actor, reason=reason)
    if escalation is None:
        raise InvalidTransition("该事件已达到或高于此等级")
    return escalation
