"""Officers' label corrections: one click on the case page, audited, kept for training."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from classifiers.data import REQUEST_TYPES
from sentinel.auth.permissions import Actor, can, case_in_scope
from sentinel.errors import Forbidden, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Case, Item, LabelCorrection
from sentinel.models.correction import CORRECTABLE_FIELDS
from sentinel.services import audit, sla

SENTIMENTS = ("positive", "neutral", "negative")


def original_item(case: Case) -> Item | None:
    """The case's first, non-duplicate item: the text its labels describe."""
    return next(
        (i for i in case.items if not i.is_duplicate), case.items[0] if case.items else None
    )


def correct(actor: Actor, case: Case, field: str, value: str) -> LabelCorrection | None:
    """Set ``field`` of the case to ``value`` and record the correction (None if unchanged).

    A corrected request type also moves the resolution deadline (the type decides the
    rule: ``sla.on_request_type_change``, audited) and settles an unsure type.
    """
    if actor.user is not None:
        if not can(actor.user, "case.correct"):
            raise Forbidden("当前角色不能更正分类")
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
    if field not in CORRECTABLE_FIELDS:
        raise ValidationFailed("只能更正主题分类、情感倾向或诉求类型")
    value = value.strip()
    if field == "sentiment" and value not in SENTIMENTS:
        raise ValidationFailed("情感倾向只能是正面、中性或负面")
    if field == "request_type" and value not in REQUEST_TYPES:
        raise ValidationFailed("诉求类型只能是：" + "、".join(REQUEST_TYPES))
    if field == "topic" and not (0 < len(value) <= 60):
        raise ValidationFailed("请选择主题分类")
    old = getattr(case, field)
    if old == value:
        return None
    item = original_item(case)
    if item is None:
        raise ValidationFailed("工单没有留言，无法更正")
    correction = LabelCorrection(
        case_id=case.id,
        item_id=item.id,
        field=field,
        old_value=old,
        new_value=value,
        model_version=item.model_version,
        corrected_by_id=actor.user_id,
    )
    db.session.add(correction)
    setattr(case, field, value)
    if field == "topic":
        case.needs_person = False
    elif field == "request_type":
        # A person has now decided the type; the case still needs one if the topic is unsure.
        case.needs_person = bool(case.needs_person and _topic_unsure(case, item))
    db.session.flush()
    audit.record(
        actor,
        "case.correct",
        "case",
        case.id,
        field=field,
        old=old,
        new=value,
        correction_id=correction.id,
    )
    if field == "request_type":
        sla.on_request_type_change(actor, case, f"诉求类型更正：{old or '—'}→{value}")
    return correction


def _topic_unsure(case: Case, item: Item) -> bool:
    if not (item.explanation or {}).get("topic_needs_person"):
        return False
    corrected = db.session.scalar(
        select(LabelCorrection.id).where(
            LabelCorrection.case_id == case.id, LabelCorrection.field == "topic"
        )
    )
    return corrected is None


def training_rows() -> Iterator[dict[str, Any]]:
    """The latest correction per (item, field) as ``{"text", "field", "label"}`` rows."""
    latest: dict[tuple[int, str], LabelCorrection] = {}
    for c in db.session.scalars(select(LabelCorrection).order_by(LabelCorrection.id)):
        latest[(c.item_id, c.field)] = c
    texts = (
        dict(
            db.session.execute(
                select(Item.id, Item.text_normalised).where(Item.id.in_({k[0] for k in latest}))
            ).all()
        )
        if latest
        else {}
    )
    for (item_id, field), c in latest.items():
        if item_id in texts:
            yield {"text": texts[item_id], "field": field, "label": c.new_value}
