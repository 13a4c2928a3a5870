"""会商 consultation on an escalated event: every step is a function here, with audit.

open (on escalation, or raised by an officer) → assess the level, set the responsible unit,
invite units (each confirms), record minutes, agree the line (统一口径), mark clocks met
→ decide → review (复盘), which closes it. Services flush; the caller commits.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from sentinel.auth.permissions import Actor, can, scope_unit_ids, unit_in_scope
from sentinel.errors import Forbidden, InvalidTransition, ValidationFailed
from sentinel.extensions import db
from sentinel.models import (
    Assignment,
    Case,
    Consultation,
    ConsultationClock,
    ConsultationInvite,
    Event,
    EventEscalation,
    EventItem,
    Item,
    Unit,
    User,
    utcnow,
)
from sentinel.models.consultation import CLOCK_KINDS, CONSULT_LEVELS
from sentinel.services import alerts, audit, consult_clocks

log = logging.getLogger(__name__)

MAX_TEXT = 20_000
# Escalation level (services/events.py, 1 一般 / 2 较大 / 3 重大) → assessment level.
LEVEL_FOR_ESCALATION = {1: "general", 2: "large", 3: "major"}
LEVEL_RANK = {"general": 1, "large": 2, "major": 3}
AREA_KINDS = ("province", "city", "county")


# --------------------------------------------------------------------------- scope


def event_unit_ids(event_id: int) -> set[int]:
    """Units an event touches: the handling, receiving and assisting (协办) units of its
    cases."""
    # The items' current cases (an item moved to another case counts there).
    case_ids = (
        select(Item.case_id)
        .join(EventItem, EventItem.item_id == Item.id)
        .where(EventItem.event_id == event_id)
    )
    rows = db.session.execute(
        select(Case.unit_id, Case.owner_unit_id).where(Case.id.in_(case_ids)).distinct()
    )
    ids: set[int] = set()
    for unit_id, owner_id in rows:
        ids.update(i for i in (unit_id, owner_id) if i is not None)
    ids.update(
        db.session.scalars(
            select(Assignment.unit_id).where(
                Assignment.case_id.in_(case_ids),
                Assignment.role == "assist",
                Assignment.status != "withdrawn",
            )
        )
    )
    return ids


def consultation_unit_ids(consultation: Consultation) -> set[int]:
    """The event's units and the consultation's owners (responsible and invited)."""
    return event_unit_ids(consultation.event_id) | set(consultation.owner_unit_ids())


def in_scope(user: User, consultation: Consultation) -> bool:
    """True when the user may see the consultation's event (``event_queries``: a case of
    it is in their scope) or one of their units owns it (responsible or invited)."""
    from sentinel.services import event_queries

    ids = scope_unit_ids(user)
    if ids is None or ids & set(consultation.owner_unit_ids()):
        return True
    event = db.session.get(Event, consultation.event_id)
    return event is not None and event_queries.event_in_scope(user, event)


def _check_unit(actor: Actor, unit: Unit) -> None:
    if not unit.is_active:
        raise ValidationFailed(f"单位“{unit.name}”已停用")
    if actor.user is not None and not unit_in_scope(actor.user, unit.id):
        raise Forbidden(f"单位“{unit.name}”不在您的管辖范围内")


def _check_open(consultation: Consultation) -> None:
    if not consultation.is_open:
        raise InvalidTransition("会商已复盘关闭，不能再修改")


def _text(value: str, label: str, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(f"请填写{label}")
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"{label}过长（最多 {MAX_TEXT} 字）")
    return value


# --------------------------------------------------------------------------- suggestion


@dataclass(frozen=True)
class Suggestion:
    unit: Unit
    reason: str  # 属地管理 / 谁主管谁负责 / 已分派
    detail: str


def suggest_units(event: Event) -> list[Suggestion]:
    """Responsible-unit candidates, best first.

    属地管理: an area unit (province/city/county) whose name contains one of the event's
    places, or whose area name the place starts with. 谁主管谁负责: the unit owning the
    event's topic — ``CONSULT_TOPIC_UNITS`` if it names one, else the unit that cases of
    that topic were most often dispatched to (the office's own routing, 180 days). A
    topic owner inside the place's area comes first: the local department leads.
    """
    units = list(db.session.scalars(select(Unit).where(Unit.is_active)))
    by_name = {u.name: u for u in units}
    suggestions: list[Suggestion] = []

    places = [p for p in (event.places or []) if isinstance(p, str) and len(p) >= 2]
    area_units: list[tuple[Unit, str]] = []
    for unit in units:
        if unit.kind not in AREA_KINDS:
            continue
        stem = _area_stem(unit.name)
        for place in places:
            if place in unit.name or (stem and place.startswith(stem)):
                area_units.append((unit, place))
                break
    # The deepest area first (a county inside a city matches both).
    area_units.sort(key=lambda pair: -pair[0].path.count("/"))

    topics = _event_topics(event.id)
    topic_units: list[tuple[Unit, str, str]] = []
    mapping = current_app.config.get("CONSULT_TOPIC_UNITS") or {}
    for topic in topics:
        named = by_name.get(mapping.get(topic, ""))
        if named is not None:
            topic_units.append((named, topic, "按设置"))
            continue
        since = utcnow() - timedelta(days=180)
        row = db.session.execute(
            select(Case.unit_id, func.count())
            .where(Case.topic == topic, Case.unit_id.is_not(None), Case.dispatched_at >= since)
            .group_by(Case.unit_id)
            .order_by(func.count().desc(), Case.unit_id)
            .limit(1)
        ).first()
        if row is not None:
            unit = db.session.get(Unit, row[0])
            if unit is not None and unit.is_active:
                topic_units.append((unit, topic, f"近半年分派 {row[1]} 件"))

    for area, place in area_units:
        for unit, topic, _how in topic_units:
            if unit.path.startswith(area.path) and unit.id != area.id:
                suggestions.append(
                    Suggestion(unit, "属地管理 + 谁主管谁负责", f"{place} 的“{topic}”主管部门")
                )
    for unit, topic, how in topic_units:
        suggestions.append(Suggestion(unit, "谁主管谁负责", f"主题“{topic}”（{how}）"))
    for area, place in area_units:
        suggestions.append(Suggestion(area, "属地管理", f"地点“{place}”"))
    handled = Counter(
        unit_id
        for unit_id in db.session.scalars(
            select(Case.unit_id)
            .join(EventItem, EventItem.case_id == Case.id)
            .where(EventItem.event_id == event.id, Case.unit_id.is_not(None))
        )
    )
    for unit_id, count in handled.most_common(3):
        unit = db.session.get(Unit, unit_id)
        if unit is not None and unit.is_active:
            suggestions.append(Suggestion(unit, "已分派", f"本事件 {count} 条留言已分派该单位"))
    unique: list[Suggestion] = []
    seen: set[int] = set()
    for s in suggestions:
        if s.unit.id not in seen:
            unique.append(s)
            seen.add(s.unit.id)
    return unique


def _area_stem(name: str) -> str:
    """ "A市A3区人民政府办公室" → "A市A3区": the area part of an area unit's name."""
    for marker in ("人民政府", "政府", "委员会", "办公室"):
        if marker in name:
            return name.split(marker, 1)[0]
    return ""


def _event_topics(event_id: int) -> list[str]:
    rows = db.session.execute(
        select(Case.topic, func.count())
        .join(EventItem, EventItem.case_id == Case.id)
        .where(EventItem.event_id == event_id, Case.topic.is_not(None))
        .group_by(Case.topic)
        .order_by(func.count().desc(), Case.topic)
        .limit(2)
    )
    return [topic for topic, _ in rows]


# --------------------------------------------------------------------------- transitions


def for_event(event_id: int) -> Consultation | None:
    return db.session.scalar(select(Consultation).where(Consultation.event_id == event_id))


def open_consultation(
    actor: Actor, event: Event, level: str | None = None, now: datetime | None = None
) -> Consultation:
    """Open the event's consultation (one per event; an existing one is returned). The
    responsible unit starts as the first suggestion; the clocks start now."""
    existing = for_event(event.id)
    if existing is not None:
        return existing
    if level is not None and level not in CONSULT_LEVELS:
        raise ValidationFailed("研判等级无效")
    now = now or utcnow()
    suggestions = suggest_units(event)
    consultation = Consultation(
        event_id=event.id,
        status="open",
        level=level,
        responsible_unit_id=suggestions[0].unit.id if suggestions else None,
        opened_at=now,
        opened_by_id=actor.user_id,
    )
    db.session.add(consultation)
    db.session.flush()
    consult_clocks.sync(consultation, now)
    audit.record(
        actor,
        "consultation.open",
        "consultation",
        consultation.id,
        event_id=event.id,
        level=level,
        responsible_unit_id=consultation.responsible_unit_id,
        suggested=bool(suggestions),
    )
    db.session.flush()
    return consultation


def assess(
    actor: Actor, consultation: Consultation, level: str, now: datetime | None = None
) -> None:
    """研判: set the level; 重大 starts its two extra clocks, lowering it stops them."""
    _check_open(consultation)
    if level not in CONSULT_LEVELS:
        raise ValidationFailed("研判等级无效")
    before = consultation.level
    if before == level:
        raise InvalidTransition(f"研判等级已是“{CONSULT_LEVELS[level]}”")
    consultation.level = level
    consult_clocks.sync(consultation, now or utcnow())
    audit.record(
        actor, "consultation.assess", "consultation", consultation.id, before=before, after=level
    )
    db.session.flush()


def set_responsible(actor: Actor, consultation: Consultation, unit: Unit) -> None:
    """Name the responsible (牵头) unit."""
    _check_open(consultation)
    _check_unit(actor, unit)
    if consultation.responsible_unit_id == unit.id:
        raise InvalidTransition(f"牵头单位已是“{unit.name}”")
    before = consultation.responsible_unit_id
    consultation.responsible_unit_id = unit.id
    audit.record(
        actor,
        "consultation.responsible",
        "consultation",
        consultation.id,
        before=before,
        after=unit.id,
    )
    db.session.flush()


def invite(actor: Actor, consultation: Consultation, unit: Unit) -> ConsultationInvite:
    """Invite a unit to the consultation (it confirms separately)."""
    _check_open(consultation)
    _check_unit(actor, unit)
    if any(i.unit_id == unit.id for i in consultation.invites):
        raise InvalidTransition(f"已邀请“{unit.name}”")
    row = ConsultationInvite(unit_id=unit.id, invited_by_id=actor.user_id, invited_at=utcnow())
    consultation.invites.append(row)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "consultation.invite", "consultation", consultation.id, unit_id=unit.id)
    db.session.flush()
    return row


def confirm(
    actor: Actor, consultation: Consultation, invite_row: ConsultationInvite, note: str = ""
) -> None:
    """确认参会: a user of the invited unit confirms (an office user may record it)."""
    _check_open(consultation)
    if invite_row.consultation_id != consultation.id:
        raise ValidationFailed("邀请不属于该会商")
    if invite_row.confirmed_at is not None:
        raise InvalidTransition("该单位已确认")
    user = actor.user
    if user is not None and not (
        can(user, "consult.manage") or any(u.id == invite_row.unit_id for u in user.units)
    ):
        raise Forbidden("只有受邀单位或值班室可以确认")
    invite_row.confirmed_at = utcnow()
    invite_row.confirmed_by_id = actor.user_id
    invite_row.note = _text(note, "备注", required=False)[:500] or None
    audit.record(
        actor, "consultation.confirm", "consultation", consultation.id, unit_id=invite_row.unit_id
    )
    db.session.flush()


def record_minutes(actor: Actor, consultation: Consultation, minutes: str) -> None:
    """会商纪要 (editable until closed; each version's length is audited)."""
    _check_open(consultation)
    consultation.minutes = _text(minutes, "会商纪要")
    consultation.minutes_at = utcnow()
    audit.record(
        actor,
        "consultation.minutes",
        "consultation",
        consultation.id,
        length=len(consultation.minutes),
    )
    db.session.flush()


def set_agreed_line(actor: Actor, consultation: Consultation, line: str) -> None:
    """统一口径: the agreed official line replies to the event's cases start from."""
    _check_open(consultation)
    line = _text(line, "统一口径")
    if line == (consultation.agreed_line or ""):
        raise InvalidTransition("统一口径没有变化")
    consultation.agreed_line = line
    consultation.agreed_line_at = utcnow()
    audit.record(
        actor, "consultation.agreed_line", "consultation", consultation.id, length=len(line)
    )
    db.session.flush()


def meet_clock(
    actor: Actor, consultation: Consultation, kind: str, now: datetime | None = None
) -> ConsultationClock:
    """Record that a clock's duty was done (回应/权威信息/发布会), on time or late."""
    _check_open(consultation)
    if kind not in CLOCK_KINDS:
        raise ValidationFailed("时限类型无效")
    clock = next((c for c in consultation.clocks if c.kind == kind), None)
    if clock is None or clock.cancelled_at is not None:
        raise InvalidTransition(f"该会商没有进行中的“{CLOCK_KINDS[kind]}”时限")
    if clock.met_at is not None:
        raise InvalidTransition(f"“{CLOCK_KINDS[kind]}”已标记完成")
    now = now or utcnow()
    clock.met_at = now
    clock.met_by_id = actor.user_id
    audit.record(
        actor,
        "consultation.clock_met",
        "consultation",
        consultation.id,
        clock=kind,
        late=now > clock.due_at,
    )
    db.session.flush()
    return clock


def decide(actor: Actor, consultation: Consultation, decision: str) -> None:
    """会商决策: needs an assessed level and a responsible unit; moves to 已决策."""
    if consultation.status != "open":
        raise InvalidTransition("只有会商中的事项可以形成决策")
    if consultation.level is None:
        raise ValidationFailed("请先研判等级")
    if consultation.responsible_unit_id is None:
        raise ValidationFailed("请先确定牵头单位")
    consultation.decision = _text(decision, "会商决策")
    consultation.decided_at = utcnow()
    consultation.status = "decided"
    audit.record(actor, "consultation.decide", "consultation", consultation.id)
    db.session.flush()


def close_with_review(actor: Actor, consultation: Consultation, review: str) -> None:
    """复盘: the review closes the consultation; running clocks stop where they are."""
    if consultation.status != "decided":
        raise InvalidTransition("形成决策后才能复盘关闭")
    consultation.review = _text(review, "复盘总结")
    consultation.closed_at = utcnow()
    consultation.status = "closed"
    unmet = [c.kind for c in consultation.clocks if c.is_running]
    audit.record(actor, "consultation.close", "consultation", consultation.id, unmet_clocks=unmet)
    db.session.flush()


# --------------------------------------------------------------------------- escalation hook


def raise_event(actor: Actor, event: Event, level: str, reason: str = "") -> Consultation:
    """An officer raises an event to ``level`` (发起会商): ``services.events.escalate`` records
    the escalation (its hook opens the consultation and alerts, once per level); an event
    already at that level gets its consultation opened if it has none."""
    from sentinel.services import events

    if level not in LEVEL_RANK:
        raise ValidationFailed("研判等级无效")
    if event.escalated_level < LEVEL_RANK[level]:
        events.escalate(event, level=LEVEL_RANK[level], actor=actor, reason=reason.strip() or None)
    consultation = for_event(event.id)
    if consultation is None:
        consultation = open_consultation(actor, event, level)
    return consultation


def on_event_escalated(event: Event, escalation: EventEscalation, actor: Actor) -> None:
    """``services.events.on_escalated`` hook: alert once for this level, and open (or
    raise the level of) the event's consultation."""
    level = LEVEL_FOR_ESCALATION.get(escalation.level)
    consultation = for_event(event.id)
    if consultation is None:
        consultation = open_consultation(actor, event, level)
    elif (
        consultation.is_open
        and level is not None
        and (consultation.level is None or LEVEL_RANK[level] > LEVEL_RANK[consultation.level])
    ):
        assess(actor, consultation, level)
    who = "值班员升级" if escalation.actor_id else "热度超过阈值"
    label = CONSULT_LEVELS.get(level or "", str(escalation.level))
    alerts.raise_alert(
        event_id=event.id,
        kind="escalation",
        level=str(escalation.level),
        title=f"事件升级为“{label}”：{event.title}",
        body=f"{who}，热度 {escalation.heat:.1f}，{event.item_count} 条留言。已进入会商。",
        unit_ids=sorted(consultation_unit_ids(consultation)),
        path=f"/consultations/{consultation.id}",
        consultation_id=consultation.id,
    )


def install_hooks() -> None:
    """Register the escalation hook with ``services.events`` (once per process)."""
    from sentinel.services import events

    if on_event_escalated not in events.on_escalated:
        events.on_escalated.append(on_event_escalated)


# --------------------------------------------------------------------------- clock sweep


@dataclass
class ClockSweep:
    warned: int = 0
    breached: int = 0


def sweep_clocks(now: datetime | None = None) -> ClockSweep:
    """Record approaching and breached clocks of open consultations and alert their
    owners (once per clock and state). Flushes; the job commits."""
    now = now or utcnow()
    result = ClockSweep()
    stmt = (
        select(ConsultationClock)
        .join(Consultation, Consultation.id == ConsultationClock.consultation_id)
        .where(
            Consultation.status.in_(("open", "decided")),
            ConsultationClock.met_at.is_(None),
            ConsultationClock.cancelled_at.is_(None),
            or_(
                (ConsultationClock.warned_at.is_(None)) & (ConsultationClock.warn_at <= now),
                (ConsultationClock.breached_at.is_(None)) & (ConsultationClock.due_at <= now),
            ),
        )
        .order_by(ConsultationClock.due_at)
    )
    for clock in db.session.scalars(stmt).all():
        consultation = clock.consultation
        event = db.session.get(Event, consultation.event_id)
        owners = consultation.owner_unit_ids()
        state = None
        if clock.breached_at is None and clock.due_at <= now:
            clock.breached_at = now
            if clock.warned_at is None:
                clock.warned_at = now
            state = "breached"
            result.breached += 1
        elif clock.warned_at is None and clock.warn_at <= now:
            clock.warned_at = now
            state = "approaching"
            result.warned += 1
        if state is None or event is None:
            continue
        words = "已超时" if state == "breached" else "即将到期"
        alerts.raise_alert(
            event_id=event.id,
            kind="clock",
            level=f"{clock.kind}:{state}",
            title=f"会商时限{words}：{clock.kind_label} · {event.title}",
            body=(
                f"{clock.kind_label}（{clock.hours:g} 小时，{clock.basis_label}）"
                f"{words}，{consult_clocks.remaining_label(clock, now)}。"
            ),
            unit_ids=owners or sorted(consultation_unit_ids(consultation)),
            path=f"/consultations/{consultation.id}",
            consultation_id=consultation.id,
            owners_only=bool(owners),
        )
        audit.record(
            Actor.system("consultation_clocks"),
            f"consultation.clock_{state}",
            "consultation",
            consultation.id,
            clock=clock.kind,
        )
    db.session.flush()
    return result
