"""Times as users see them: Asia/Shanghai."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def to_local(value: datetime | str | None) -> datetime | None:
    """``value`` in Asia/Shanghai; ISO 8601 strings (as model bundles record) are parsed."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if value else None
    return value.astimezone(SHANGHAI) if value is not None else None


def format_local(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``value`` as a Shanghai wall-clock string (``""`` for nothing)."""
    local = to_local(value)
    return local.strftime(fmt) if local else ""
