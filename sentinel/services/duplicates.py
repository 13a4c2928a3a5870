"""No silent merges (issue 10): when a new item may join an existing case automatically,
the possible-duplicate link for a person, and 拆分 (unmerge).

The rule, in one pure function (``may_auto_attach``), is used by ingest (identical text)
and by the near-duplicate pass (``services/classification.py``). A new item attaches to
an existing case automatically only when **all** of these hold:

* the case is open (待处理/已认领/待签收/办理中). An answered or closed case never takes
  an automatic attach: the asker would never get an answer of their own.
* the case has the **same owning unit** as the new item. The owning unit is the unit of
  the account (``Source.unit_id``) that received the item; for a case it is
  ``Case.owner_unit_id``, the unit whose account received the case's first item. It is
  the unit whose duty officers see the case in their queue, so it is the unit that sees
  the "自动合并" badge and can split the item out again. The handling unit a case was
  dispatched to (``Case.unit_id``) is deliberately *not* used: it changes with every
  dispatch, return or arbitration, and a message written to one office's account must
  not disappear into a case another office triages just because a third unit handles
  both. Sources without a unit form one pool (``None`` equals ``None``).
* the new item's time (``posted_at``, else when it was received) is within
  ``AUTO_ATTACH_WINDOW_DAYS`` (default 7) of the case's first item.
* no person has decided where the item belongs (拆分 or a manual merge).

Otherwise a new case is opened and linked to the best match as a possible duplicate
(``Case.duplicate_of_id``) with the reason; a duty officer merges it in one click.

Every automatic attach is recorded on the item (``attach_kind``, ``attached_at``,
``attach_similarity``), counted on the case (``Case.auto_attached``) and audited; a duty
officer can split it out (``unmerge``), which marks the item as decided by a person so no
automatic pass moves it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import func, select, update

from sentinel.auth.permissions import Actor, can, case_in_scope
from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Case, Item, utcnow
from sentinel.models.case import OPEN_STATUSES
from sentinel.services import audit

# Why an item was not attached automatically (Case.duplicate_reason), as people read it.
REFUSALS: dict[str, str] = {
    "not_open": "原工单已答复或已关闭",
    "other_unit": "原工单属于其他单位",
    "outside_window": "超出自动合并时间范围",
    "person": "已由人工决定归属",
    "similarity": "相似度未达到自动合并标准",
}
# How an item came into its case (Item.attach_kind).
ATTACH_KINDS: dict[str, str] = {
    "exact": "内容相同",
    "neardup": "内容相似",
    "manual": "人工合并",
}
AUTOMATIC_KINDS = ("exact", "neardup")
AUDIT_ITEM_IDS = 50  # item ids listed in one audit event (the count is always complete)


class Candidate(Protocol):
    """What the rule needs to know about a case (an ORM ``Case`` or a planned one)."""

    @property
    def status(self) -> str: ...

    @property
    def owner_unit_id(self) -> int | None: ...

    @property
    def first_item_at(self) -> datetime: ...


@dataclass(frozen=True)
class AttachDecision:
    """``allowed`` or not, with the refusal code (a key of ``REFUSALS``)."""

    allowed: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = AttachDecision(True)


def may_auto_attach(
    candidate: Candidate,
    *,
    unit_id: int | None,
    at: datetime,
    window: timedelta,
    decided_by_person: bool = False,
) -> AttachDecision:
    """May a new item of ``unit_id`` (the receiving account's unit), written at ``at``,
    join ``candidate`` without a person? Pure: no database, no clock (see module doc)."""
    if decided_by_person:
        return AttachDecision(False, "person")
    if candidate.status not in OPEN_STATUSES:
        return AttachDecision(False, "not_open")
    if candidate.owner_unit_id != unit_id:
        return AttachDecision(False, "other_unit")
    if abs(at - candidate.first_item_at) > window:
        return AttachDecision(False, "outside_window")
    return ALLOWED


def attach_window() -> timedelta:
    """The configured time window for automatic attaches (``AUTO_ATTACH_WINDOW_DAYS``)."""
    return timedelta(days=float(current_app.config["AUTO_ATTACH_WINDOW_DAYS"]))


def item_time(item: Item) -> datetime:
    """When the asker wrote the item (``posted_at``), else when it was received."""
    return item.posted_at or item.received_at


def item_decision(candidate: Case, item: Item) -> AttachDecision:
    """``may_auto_attach`` for a stored item (the near-duplicate pass)."""
    return may_auto_attach(
        candidate,
        unit_id=item.source.unit_id,
        at=item_time(item),
        window=attach_window(),
        decided_by_person=item.attach_decided_at is not None,
    )


def link_possible_duplicate(
    actor: Actor, case: Case, target: Case, similarity: float, reason: str
) -> None:
    """Mark ``case`` as a possible duplicate of ``target`` for a person to decide."""
    if (case.duplicate_of_id, case.duplicate_reason) == (target.id, reason):
        return  # the same link again (reclassify): nothing new to record
    case.duplicate_of_id = target.id
    case.duplicate_similarity = round(similarity, 3)
    case.duplicate_reason = reason
    audit.record(
        actor,
        "case.possible_duplicate",
        "case",
        case.id,
        of_case_id=target.id,
        similarity=round(similarity, 3),
        reason=reason,
    )


def record_auto_attach(
    actor: Actor, case_id: int, item_ids: list[int], kind: str, similarity: float
) -> None:
    """Audit items attached to ``case_id`` automatically (ids only, never text)."""
    action, object_type, object_id, data = auto_attach_event(case_id, item_ids, kind, similarity)
    audit.record(actor, action, object_type, object_id, **data)


def auto_attach_event(
    case_id: int, item_ids: list[int], kind: str, similarity: float
) -> tuple[str, str, int, dict[str, Any]]:
    """The audit event of :func:`record_auto_attach`, for ``audit.record_many``."""
    return (
        "case.auto_attach",
        "case",
        case_id,
        {
            "kind": kind,
            "similarity": similarity,
            "items": len(item_ids),
            "item_ids": item_ids[:AUDIT_ITEM_IDS],
        },
    )


def refresh_counts(case: Case) -> None:
    """Recompute ``case``'s ask count, item times and automatic-attach count from its
    items (after items moved in or out)."""
    db.session.flush()
    row = db.session.execute(
        select(
            func.count(Item.id),
            func.min(func.coalesce(Item.posted_at, Item.received_at)),
            func.max(func.coalesce(Item.posted_at, Item.received_at)),
        ).where(Item.case_id == case.id)
    ).one()
    auto = db.session.scalar(
        select(func.count(Item.id)).where(
            Item.case_id == case.id, Item.attach_kind.in_(AUTOMATIC_KINDS)
        )
    )
    count, first, last = row
    if count:
        case.ask_count = count
        case.first_item_at = _aware(first)
        case.last_item_at = _aware(last)
    case.auto_attached = auto or 0


def _aware(value: datetime) -> datetime:
    # min()/max() over a COALESCE lose the column type on SQLite: give the zone back.
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def attached_items(case: Case) -> list[Item]:
    """Items that joined ``case`` after its first one (automatically or by a person)."""
    return [i for i in case.items if i.is_duplicate]


def unmerge(actor: Actor, case: Case, item: Item) -> Case:
    """拆分: move ``item`` out of ``case`` into a new case of its own, with the labels it
    had; the old case's counts are restored. The item is marked as decided by a person,
    so neither re-delivery, nor ``reclassify --all``, nor the near-duplicate pass attaches
    it again. Returns the new case."""
    if actor.user is not None:
        if not can(actor.user, "case.merge"):
            raise Forbidden("当前角色不能拆分工单")
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
    if item.case_id != case.id:
        raise NotFound("该留言不属于此工单")
    if case.status == "merged":
        raise InvalidTransition(f"工单 #{case.id} 已合并到其他工单，请在目标工单中拆分")
    if not item.is_duplicate:
        raise ValidationFailed("这是工单的首条留言，不能拆分；请拆分其他留言")
    from sentinel.services.classification import label_case_from_item
    from sentinel.services.ingest import make_title

    now = utcnow()
    at = item_time(item)
    kind, similarity = item.attach_kind, item.attach_similarity
    new = Case(
        title=make_title(item.text_normalised),
        status="new",
        priority=0,
        source_id=item.source_id,
        owner_unit_id=item.source.unit_id,
        text_hash=item.text_hash,
        ask_count=1,
        first_item_at=at,
        last_item_at=at,
        created_at=now,
        updated_at=now,
    )
    db.session.add(new)
    db.session.flush()
    item.case = new
    item.is_duplicate = False
    item.attach_kind = None
    item.attached_at = None
    item.attach_similarity = None
    item.suggested_case_id = None
    item.suggested_similarity = None
    item.attach_decided_at = now
    item.attach_decided_by_id = actor.user_id
    item.detached_from_case_id = case.id
    # The labels the item had, on its own case (and the priority they imply).
    label_case_from_item(new, item)
    case.updated_at = now
    db.session.expire(case, ["items"])
    refresh_counts(case)
    audit.record(
        actor,
        "case.unmerge",
        "case",
        case.id,
        item_id=item.id,
        new_case_id=new.id,
        attach_kind=kind,
        similarity=similarity,
    )
    audit.record(actor, "case.unmerged_from", "case", new.id, from_case_id=case.id, item_id=item.id)
    db.session.flush()
    return new


def mark_moved(
    actor: Actor, from_case_id: int, kind: str, similarity: float | None, now: datetime
) -> None:
    """Record how the items of a merged case came into their new case (``triage.merge``):
    automatically by the near-duplicate pass, or by a person (then they are decided)."""
    values: dict[str, object] = {"attach_kind": kind, "attached_at": now}
    values["attach_similarity"] = similarity
    if kind == "manual":
        values.update(
            attach_decided_at=now, attach_decided_by_id=actor.user_id, suggested_case_id=None
        )
    db.session.execute(update(Item).where(Item.case_id == from_case_id).values(**values))
