"""Units: the office tree."""

from __future__ import annotations

from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.errors import Conflict, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Unit
from sentinel.models.unit import UNIT_KINDS
from sentinel.services import audit


def create_unit(
    actor: Actor, name: str, kind: str = "department", parent: Unit | None = None
) -> Unit:
    """Create a unit under ``parent`` and give it its materialised path."""
    name = name.strip()
    if not name:
        raise ValidationFailed("单位名称不能为空")
    if kind not in UNIT_KINDS:
        raise ValidationFailed(f"未知的单位类型：{kind}")
    if db.session.scalar(select(Unit.id).where(Unit.name == name)):
        raise Conflict(f"单位“{name}”已存在")
    unit = Unit(name=name, kind=kind, parent=parent)
    db.session.add(unit)
    db.session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    audit.record(actor, "unit.create", "unit", unit.id, kind=kind, parent_id=unit.parent_id)
    db.session.flush()
    return unit


def get_unit_by_name(name: str) -> Unit:
    unit = db.session.scalar(select(Unit).where(Unit.name == name))
    if unit is None:
        raise NotFound(f"单位“{name}”不存在")
    return unit
