"""Rumour clarification (辟谣, issue 13).

A case is marked as a suspected rumour (the classifier's rumour score suggests it; a
person decides). The responsible unit records its verification — who, when, and the
authoritative source (a document, a link or an uploaded attachment) — and only then can
the clarification (a ``Reply`` of kind ``clarification``) be drafted. It is reviewed at
``RUMOUR_REVIEW_TIER`` (C 敏感 by default) at the least, then published: the delivery to
every account that carried the rumour and to every asker of its cases is recorded; a
later correction goes to exactly the same people. Items received after publication that
repeat the rumour (MinHash near-duplicates, ``services/neardup_store.py``) are flagged as
re-spread and counted. Referrals to the police or the internet regulator are recorded.

Case-level for now: a hot event can later own a rumour through a nullable ``event_id``.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import func, select

from sentinel.auth.permissions import Actor, can, case_in_scope, is_lead_unit
from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import (
    Case,
    Item,
    Reply,
    Rumour,
    RumourCase,
    RumourDelivery,
    RumourReferral,
    RumourSpread,
    User,
    utcnow,
)
from sentinel.models.review import REFERRAL_AGENCIES, SOURCE_KINDS
from sentinel.services import audit

MAX_TITLE = 200
MAX_NOTE = 1000
MAX_FINDING = 2000
MAX_SIGNATURES = 50

log = logging.getLogger(__name__)


def cases_of(rumour: Rumour) -> list[Case]:
    return list(
        db.session.scalars(
            select(Case)
            .join(RumourCase, RumourCase.case_id == Case.id)
            .where(RumourCase.rumour_id == rumour.id)
            .order_by(Case.id)
        )
    )


def primary_case(rumour: Rumour) -> Case:
    """The first case of the rumour: the clarification is drafted on it."""
    cases = cases_of(rumour)
    if not cases:
        raise NotFound("该谣言没有关联工单")
    return cases[0]


def rumour_of_case(case: Case) -> Rumour | None:
    return db.session.scalar(
        select(Rumour)
        .join(RumourCase, RumourCase.rumour_id == Rumour.id)
        .where(RumourCase.case_id == case.id)
        .order_by(Rumour.id.desc())
        .limit(1)
    )


def may_see(user: User, rumour: Rumour) -> bool:
    return any(case_in_scope(user, c) for c in cases_of(rumour))


def is_responsible(user: User, rumour: Rumour) -> bool:
    """The responsible unit's handlers (the lead unit of the rumour's first case), and
    admins."""
    return can(user, "rumour.verify") and is_lead_unit(user, primary_case(rumour))


def visible_to(user: User) -> list[Rumour]:
    """Rumours with at least one case in the user's scope, newest first."""
    rumours = db.session.scalars(select(Rumour).order_by(Rumour.marked_at.desc())).all()
    return [r for r in rumours if may_see(user, r)]


def mark(actor: Actor, case: Case, title: str, note: str = "") -> Rumour:
    """Mark ``case`` as a suspected rumour (疑似谣言), or add it to ``rumour_id``'s."""
    if actor.user is not None:
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
        if not can(actor.user, "rumour.mark"):
            raise Forbidden("当前角色不能标记谣言")
    if rumour_of_case(case) is not None:
        raise InvalidTransition("该工单已标记为疑似谣言")
    title = title.strip()
    if not title:
        raise ValidationFailed("请概述谣言内容")
    rumour = Rumour(
        title=title[:MAX_TITLE],
        status="suspected",
        unit_id=case.unit_id or case.owner_unit_id,
        score=case.rumour_score,
        note=note.strip()[:MAX_NOTE] or None,
        marked_by_id=actor.user_id,
        marked_at=utcnow(),
    )
    db.session.add(rumour)
    db.session.flush()
    db.session.add(RumourCase(rumour_id=rumour.id, case_id=case.id))
    db.session.flush()
    audit.record(actor, "rumour.marked", "rumour", rumour.id, case_id=case.id, score=rumour.score)
    audit.record(actor, "case.rumour_marked", "case", case.id, rumour_id=rumour.id)
    return rumour


def add_case(actor: Actor, rumour: Rumour, case: Case) -> None:
    """Another case carries the same rumour: its askers get the clarification too."""
    if actor.user is not None:
        if not case_in_scope(actor.user, case) or not may_see(actor.user, rumour):
            raise NotFound("工单不存在或不在您的管辖范围内")
        if not can(actor.user, "rumour.mark"):
            raise Forbidden("当前角色不能标记谣言")
    if rumour_of_case(case) is not None:
        raise InvalidTransition(f"工单 #{case.id} 已关联谣言")
    db.session.add(RumourCase(rumour_id=rumour.id, case_id=case.id))
    db.session.flush()
    audit.record(actor, "rumour.case_added", "rumour", rumour.id, case_id=case.id)


def mark_event(actor: Actor, event: Any, title: str, note: str = "") -> Rumour:
    """A hot event carries a suspected rumour: one rumour gathers every case of the event
    in the actor's scope that carries no rumour yet, so their askers and the accounts that
    carried it all get the clarification."""
    from sentinel.models import EventItem

    case_ids = sorted(
        set(db.session.scalars(select(EventItem.case_id).where(EventItem.event_id == event.id)))
    )
    cases = [
        c
        for c in db.session.scalars(select(Case).where(Case.id.in_(case_ids)).order_by(Case.id))
        if (actor.user is None or case_in_scope(actor.user, c)) and rumour_of_case(c) is None
    ]
    if not cases:
        raise InvalidTransition("该事件没有可标记的工单（均已关联谣言或不在管辖范围内）")
    rumour = mark(actor, cases[0], title, note)
    for case in cases[1:]:
        add_case(actor, rumour, case)
    audit.record(
        actor, "event.rumour_marked", "event", event.id, rumour_id=rumour.id, cases=len(cases)
    )
    return rumour


def _safe_name(name: str) -> str:
    base = os.path.basename(name or "").strip()
    base = re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", base)[:150]
    return base or "attachment"


def verify(
    actor: Actor,
    rumour: Rumour,
    *,
    finding: str,
    source_kind: str,
    source_title: str = "",
    source_url: str = "",
    attachment: tuple[str, bytes] | None = None,
) -> None:
    """The responsible unit records its verification and the authoritative source."""
    if actor.user is not None:
        if not may_see(actor.user, rumour):
            raise NotFound("谣言记录不存在或不在您的管辖范围内")
        if not is_responsible(actor.user, rumour):
            raise Forbidden("核实须由责任单位（主办单位）记录")
    if rumour.status not in ("suspected", "verified"):
        raise InvalidTransition(f"谣言当前为“{rumour.status_label}”，不能再修改核实记录")
    finding = finding.strip()
    if not finding:
        raise ValidationFailed("请填写核实结论")
    if source_kind not in SOURCE_KINDS:
        raise ValidationFailed("请选择权威信息来源：文件、链接或附件")
    source_title, source_url = source_title.strip(), source_url.strip()
    if source_kind == "document" and not source_title:
        raise ValidationFailed("请填写文件名称和文号")
    if source_kind == "link" and not source_url.startswith(("http://", "https://")):
        raise ValidationFailed("请填写以 http:// 或 https:// 开头的链接")
    if source_kind == "attachment":
        if attachment is None or not attachment[1]:
            raise ValidationFailed("请上传权威信息附件")
        limit = int(current_app.config["RUMOUR_ATTACHMENT_MAX_BYTES"])
        if len(attachment[1]) > limit:
            raise ValidationFailed(f"附件不能超过 {limit // (1024 * 1024)} MB")
        folder = os.path.join(current_app.config["UPLOAD_DIR"], "rumours")
        os.makedirs(folder, exist_ok=True)
        name = _safe_name(attachment[0])
        stored = f"{rumour.id}-{utcnow().strftime('%Y%m%d%H%M%S')}-{name}"
        with open(os.path.join(folder, stored), "wb") as fh:
            fh.write(attachment[1])
        rumour.attachment_name = name
        rumour.attachment_path = stored
    rumour.finding = finding[:MAX_FINDING]
    rumour.source_kind = source_kind
    rumour.source_title = source_title[:300] or None
    rumour.source_url = source_url[:500] or None
    rumour.verified_by_id = actor.user_id
    rumour.verified_at = utcnow()
    rumour.status = "verified"
    db.session.flush()
    audit.record(actor, "rumour.verified", "rumour", rumour.id, source_kind=source_kind)


def attachment_file(rumour: Rumour) -> str | None:
    if not rumour.attachment_path:
        return None
    return os.path.join(current_app.config["UPLOAD_DIR"], "rumours", rumour.attachment_path)


def clarification(rumour: Rumour) -> Reply | None:
    """The rumour's clarification being drafted or reviewed (not a published one)."""
    return db.session.scalar(
        select(Reply)
        .where(Reply.rumour_id == rumour.id, Reply.status != "final")
        .order_by(Reply.id.desc())
        .limit(1)
    )


def published_clarifications(rumour: Rumour) -> list[Reply]:
    return list(
        db.session.scalars(
            select(Reply)
            .where(Reply.rumour_id == rumour.id, Reply.status == "final")
            .order_by(Reply.published_at, Reply.id)
        )
    )


def draft_clarification(actor: Actor, rumour: Rumour, body: str) -> Reply:
    """Start the clarification; only after the verification is recorded. Reviewed at
    ``RUMOUR_REVIEW_TIER`` at the least."""
    from sentinel.services import review

    if actor.user is not None and not may_see(actor.user, rumour):
        raise NotFound("谣言记录不存在或不在您的管辖范围内")
    if rumour.status == "suspected" or rumour.verified_at is None:
        raise InvalidTransition("责任单位记录核实情况和权威信息来源之后，才能起草辟谣")
    if rumour.status != "verified":
        raise InvalidTransition("辟谣已发布；如需更正，请在已发布的辟谣上起草更正")
    if clarification(rumour) is not None:
        raise InvalidTransition("辟谣已在起草或审核中")
    case = primary_case(rumour)
    floor = str(current_app.config["RUMOUR_REVIEW_TIER"])
    tier = max(review.case_tier(case), floor if floor in review.TIERS else "C")
    return review.create_draft(actor, case, "clarification", body, rumour_id=rumour.id, tier=tier)


def _targets(rumour: Rumour) -> list[dict[str, Any]]:
    """Every account that carried the rumour and every asker of its cases, once each."""
    case_ids = [c.id for c in cases_of(rumour)]
    items = db.session.scalars(
        select(Item).where(Item.case_id.in_(case_ids)).order_by(Item.id)
    ).all()
    targets: list[dict[str, Any]] = []
    seen_sources: set[int] = set()
    seen_askers: set[tuple[int, str]] = set()
    for item in items:
        if item.source_id not in seen_sources:
            seen_sources.add(item.source_id)
            targets.append({"target_kind": "account", "source_id": item.source_id})
        key = (item.source_id, item.author or f"item:{item.id}")
        if key not in seen_askers:
            seen_askers.add(key)
            targets.append(
                {"target_kind": "asker", "source_id": item.source_id, "item_id": item.id}
            )
    return targets


def deliveries(rumour: Rumour) -> list[RumourDelivery]:
    return list(
        db.session.scalars(
            select(RumourDelivery)
            .where(RumourDelivery.rumour_id == rumour.id)
            .order_by(RumourDelivery.id)
        )
    )


def on_clarification_published(actor: Actor, reply: Reply) -> None:
    """Called by ``review.publish``: record the deliveries and start the re-spread watch.

    The first clarification goes to every account and asker of the rumour's cases; a
    correction (``reply.corrects_id``) goes to exactly the people the first one reached.
    """
    rumour = db.session.get(Rumour, reply.rumour_id)
    if rumour is None:
        return
    now = reply.published_at or utcnow()
    if reply.corrects_id is not None:
        first = db.session.scalars(
            select(RumourDelivery).where(
                RumourDelivery.rumour_id == rumour.id,
                RumourDelivery.reply_id == reply.corrects_id,
            )
        ).all()
        targets = [
            {"target_kind": d.target_kind, "source_id": d.source_id, "item_id": d.item_id}
            for d in first
        ]
    else:
        targets = _targets(rumour)
    for target in targets:
        db.session.add(
            RumourDelivery(
                rumour_id=rumour.id,
                reply_id=reply.id,
                method="manual",
                delivered_at=now,
                recorded_by_id=actor.user_id,
                **target,
            )
        )
    if rumour.status != "clarified":
        rumour.status = "clarified"
        rumour.clarified_at = now
        rumour.signatures = _signatures(rumour)
    db.session.flush()
    audit.record(
        actor,
        "rumour.clarified",
        "rumour",
        rumour.id,
        reply_id=reply.id,
        deliveries=len(targets),
        correction=reply.corrects_id is not None,
    )


def _signatures(rumour: Rumour) -> list[list[int]]:
    from sentinel.services import neardup_store

    case_ids = [c.id for c in cases_of(rumour)]
    texts = list(
        dict.fromkeys(
            t
            for t in db.session.scalars(
                select(Item.text_normalised).where(Item.case_id.in_(case_ids)).order_by(Item.id)
            )
            if t
        )
    )[:MAX_SIGNATURES]
    if not texts:
        return []
    return [[int(v) for v in row] for row in neardup_store.signatures(texts)]


def flag_respread(item_ids: list[int]) -> int:
    """Flag items that repeat a clarified rumour after its publication (re-spread): a
    MinHash similarity of at least ``RUMOUR_RESPREAD_THRESHOLD`` to one of the rumour's
    texts, or an item that joined one of its cases. Returns how many were flagged."""
    rumours = db.session.scalars(
        select(Rumour).where(Rumour.status == "clarified", Rumour.clarified_at.is_not(None))
    ).all()
    if not rumours or not item_ids:
        return 0
    from sentinel.services import neardup_store

    rows = db.session.execute(
        select(Item.id, Item.case_id, Item.text_normalised, Item.received_at)
        .where(neardup_store.in_values(Item.id, list(item_ids)))
        .order_by(Item.id)
    ).all()
    if not rows:
        return 0
    threshold = float(current_app.config["RUMOUR_RESPREAD_THRESHOLD"])
    sigs = neardup_store.signatures([r.text_normalised or "" for r in rows]).astype(np.uint64)
    flagged = 0
    for rumour in rumours:
        assert rumour.clarified_at is not None
        case_ids = {c.id for c in cases_of(rumour)}
        known = np.array(rumour.signatures or [], dtype=np.uint64)
        already = set(
            db.session.scalars(
                select(RumourSpread.item_id).where(
                    RumourSpread.rumour_id == rumour.id,
                    RumourSpread.item_id.in_([r.id for r in rows]),
                )
            )
        )
        for row, sig in zip(rows, sigs, strict=True):
            if row.id in already or row.received_at < rumour.clarified_at:
                continue
            similarity = float((known == sig).mean(axis=1).max()) if len(known) else 0.0
            if similarity < threshold and row.case_id not in case_ids:
                continue
            db.session.add(RumourSpread(rumour_id=rumour.id, item_id=row.id, similarity=similarity))
            rumour.respread_count += 1
            flagged += 1
    if flagged:
        db.session.flush()
        log.info("rumour_respread flagged=%s", flagged)
    return flagged


def respread_items(rumour: Rumour) -> list[tuple[RumourSpread, Item]]:
    return [
        (spread, item)
        for spread, item in db.session.execute(
            select(RumourSpread, Item)
            .join(Item, Item.id == RumourSpread.item_id)
            .where(RumourSpread.rumour_id == rumour.id)
            .order_by(RumourSpread.id.desc())
        ).all()
    ]


def refer(actor: Actor, rumour: Rumour, agency: str, reference: str, note: str) -> None:
    """Record a referral (移送) to the police or the internet regulator."""
    if actor.user is not None:
        if not may_see(actor.user, rumour):
            raise NotFound("谣言记录不存在或不在您的管辖范围内")
        if not can(actor.user, "rumour.mark"):
            raise Forbidden("当前角色不能记录移送")
    if agency not in REFERRAL_AGENCIES:
        raise ValidationFailed("请选择移送机关")
    referral = RumourReferral(
        rumour_id=rumour.id,
        agency=agency,
        reference=reference.strip()[:200] or None,
        note=note.strip()[:MAX_NOTE] or None,
        referred_at=utcnow(),
        recorded_by_id=actor.user_id,
    )
    db.session.add(referral)
    db.session.flush()
    audit.record(actor, "rumour.referred", "rumour", rumour.id, agency=agency)


def referrals(rumour: Rumour) -> list[RumourReferral]:
    return list(
        db.session.scalars(
            select(RumourReferral)
            .where(RumourReferral.rumour_id == rumour.id)
            .order_by(RumourReferral.id)
        )
    )


def delivery_counts(rumour: Rumour) -> dict[str, int]:
    rows = db.session.execute(
        select(RumourDelivery.target_kind, func.count())
        .where(RumourDelivery.rumour_id == rumour.id)
        .group_by(RumourDelivery.target_kind)
    ).all()
    return {kind: n for kind, n in rows}
