"""Template filters and globals: Asia/Shanghai times, Chinese labels, permissions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from flask_login import current_user

from sentinel.auth.permissions import can
from sentinel.models import utcnow
from sentinel.models.case import CASE_STATUSES, NOISE_REASONS
from sentinel.models.item import ITEM_KINDS
from sentinel.models.source import PLATFORMS
from sentinel.models.user import ROLES
from sentinel.timefmt import format_local
from sentinel.web.links import external_url

SENTIMENT_LABELS = {"positive": "正面", "neutral": "中性", "negative": "负面"}
TIER_LABELS = {"A": "A 普通", "B": "B 重要", "C": "C 敏感"}
PRIORITY_LABELS = {0: "普通", 1: "重要", 2: "紧急"}


def relative_time(value: datetime | None) -> str:
    """“3 分钟前” style, falling back to the date after a week."""
    if value is None:
        return ""
    seconds = int((utcnow() - value).total_seconds())
    if seconds < -300:
        # Dated ahead of now (a channel's clock is wrong): the date, never "刚刚".
        return format_local(value, "%Y-%m-%d %H:%M") + "（未来时间）"
    if seconds < 60:
        return "刚刚"
    if seconds < 3600:
        return f"{seconds // 60} 分钟前"
    if seconds < 86400:
        return f"{seconds // 3600} 小时前"
    if seconds < 7 * 86400:
        return f"{seconds // 86400} 天前"
    return format_local(value, "%Y-%m-%d")


def _waiting() -> Any:
    """What waits for the current user (the navigation's counts; base.html asks once)."""
    from sentinel.extensions import db
    from sentinel.services.waiting import waiting_for

    try:
        return waiting_for(current_user)
    except Exception:  # the error page after a failed query must still render: no counts
        db.session.rollback()
        return None


def _assist_task(case: Any) -> Any:
    """The current user's 协办 task on ``case`` when they see it only as an assisting unit
    (so lists show that task's state, not the lead unit's); otherwise None."""
    from sentinel.auth.permissions import is_lead_unit, own_assists

    if getattr(current_user, "role", None) != "handler" or is_lead_unit(current_user, case):
        return None
    tasks = own_assists(current_user, case)
    return tasks[0] if tasks else None


def init_app(app: Flask) -> None:
    app.jinja_env.filters["local"] = format_local
    app.jinja_env.filters["ago"] = relative_time
    # Item links come from channels and imports: only http(s) becomes an href.
    app.jinja_env.filters["external_url"] = external_url

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {
            "waiting": _waiting,
            "assist_task": _assist_task,
            "can": lambda capability: can(current_user, capability),
            "CASE_STATUSES": CASE_STATUSES,
            "NOISE_REASONS": NOISE_REASONS,
            "ITEM_KINDS": ITEM_KINDS,
            "PLATFORMS": PLATFORMS,
            "ROLES": ROLES,
            "SENTIMENT_LABELS": SENTIMENT_LABELS,
            "TIER_LABELS": TIER_LABELS,
            "PRIORITY_LABELS": PRIORITY_LABELS,
        }
