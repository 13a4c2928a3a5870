"""Demo 会商: once the demo's messages have been clustered into events, the hottest one
is raised by the duty officer and worked on (invites, minutes, the agreed line)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import Consultation, Event, Unit, User, utcnow
from sentinel.services import consultations, events


def seed() -> Consultation | None:
    """Work one demo consultation on the hottest open event: open it (or take the one
    heat opened during the demo's processing), assess it 重大, invite units, record the
    minutes and the agreed line. None when there are no events yet, or a consultation with
    an agreed line exists already. The caller commits."""
    if db.session.scalar(
        select(Consultation.id).where(Consultation.agreed_line.is_not(None)).limit(1)
    ):
        return None
    event = db.session.scalar(
        select(Event)
        .where(Event.status == "open")
        .order_by(Event.heat.desc(), Event.item_count.desc(), Event.id)
        .limit(1)
    )
    duty = db.session.scalar(select(User).where(User.username == "duty"))
    if event is None or duty is None:
        return None
    actor = Actor.for_user(duty)
    consultation = consultations.for_event(event.id)
    if consultation is None:
        # Raised three and a half hours ago as 重大: the 5-hour clock for authoritative
        # information is running short on the board.
        consultation = consultations.open_consultation(
            actor, event, "major", now=utcnow() - timedelta(hours=3, minutes=30)
        )
    elif consultation.level != "major":
        consultations.assess(actor, consultation, "major")
    if event.escalated_level < 3:
        events.escalate(event, level=3, actor=actor, reason="演示：值班员研判为重大")
    invited = [
        u
        for u in db.session.scalars(
            select(Unit).where(Unit.is_active, Unit.kind == "department").order_by(Unit.id)
        )
        if u.id != consultation.responsible_unit_id
        and all(i.unit_id != u.id for i in consultation.invites)
    ][:2]
    for unit in invited:
        consultations.invite(actor, consultation, unit)
    if consultation.invites:
        consultations.confirm(actor, consultation, consultation.invites[0], "已派员参加")
    consultations.record_minutes(
        actor,
        consultation,
        "一、值班室通报事件经过与网民关注焦点；\n二、牵头单位说明现场核查安排；\n"
        "三、各单位统一对外口径，24 小时内发布权威信息。",
    )
    consultations.set_agreed_line(
        actor,
        consultation,
        "我们已关注到网民反映的情况，已责成相关部门第一时间赴现场核查，"
        "核查结果和处理进展将及时向社会公布，感谢广大网民的监督。",
    )
    return consultation
