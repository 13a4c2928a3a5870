"""Hot events (热点/舆情事件): the rising list, the event page, officers' corrections.

Every page is unit-scoped (``services.event_queries.event_scope``): an event outside the
user's units is a 404, like a case. Corrections and manual escalation need
``event.manage`` (duty officers) and go through ``services.events``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from sentinel.auth.permissions import can, current_actor, require
from sentinel.extensions import db
from sentinel.models import AuditEvent, Event
from sentinel.models.event import ESCALATION_LEVELS, EVENT_STATUSES, PLACED_BY
from sentinel.services import consultations, event_heat, event_queries
from sentinel.services import events as event_service
from sentinel.web.forms import submit

bp = Blueprint("events", __name__, url_prefix="/events")

ACTION_LABELS = {
    "event.escalate": "升级",
    "event.rename": "修改标题",
    "event.noise": "标记为无效",
    "event.reopen": "恢复",
    "event.merge": "合并事件",
    "event.move_out": "移出留言",
}


def get_event_or_404(event_id: int, capability: str = "event.view") -> Event:
    """Load an event the current user may act on: 404 if absent or outside the user's
    units (ids do not leak), 403 without the capability."""
    event = db.session.get(Event, event_id)
    if event is None or not event_queries.event_in_scope(current_user, event):
        abort(404)
    if not can(current_user, capability):
        abort(403)
    return event


@bp.route("")
@require("event.view")
def index() -> Any:
    status = request.args.get("status", "open")
    if status not in (*EVENT_STATUSES, "all"):
        status = "open"
    events = event_queries.rising(current_user, status=status)
    return render_template(
        "events/index.html",
        events=events,
        status=status,
        statuses=EVENT_STATUSES,
        levels=ESCALATION_LEVELS,
    )


@bp.route("/feed.json")
@require("event.view")
def index_json() -> Any:
    """The user's open events, hottest first (the page and the board poll this)."""
    return jsonify(events=[event_queries.as_json(e) for e in event_queries.rising(current_user)])


@bp.route("/<int:event_id>")
@require("event.view")
def show(event_id: int) -> Any:
    event = get_event_or_404(event_id)
    history = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "event", AuditEvent.object_id == event.id)
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    others = (
        [e for e in event_queries.rising(current_user, limit=50) if e.id != event.id]
        if can(current_user, "event.manage")
        else []
    )
    return render_template(
        "events/show.html",
        event=event,
        items=event_queries.visible_items(current_user, event),
        cases=event_queries.cases_of(current_user, event),
        units=event_queries.units_involved(event),
        platforms=event_queries.platforms(event),
        breakdown=event.heat_breakdown or {},
        labels=event_heat.COMPONENT_LABELS,
        levels=ESCALATION_LEVELS,
        placed_by=PLACED_BY,
        history=history,
        action_labels=ACTION_LABELS,
        others=others,
        manage=can(current_user, "event.manage"),
        consultation=(
            consultations.for_event(event.id) if can(current_user, "consult.view") else None
        ),
    )


@bp.route("/<int:event_id>.json")
@require("event.view")
def show_json(event_id: int) -> Any:
    """One event with its heat breakdown and curve (the page's chart reads this)."""
    event = get_event_or_404(event_id)
    return jsonify(
        event=event_queries.as_json(event),
        breakdown=event.heat_breakdown or {},
        curve=event_heat.curve(event),
    )


def _act(event_id: int, action: Callable[[Event], Any], success: str) -> Any:
    event = get_event_or_404(event_id, "event.manage")
    submit(lambda: action(event), success)
    return redirect(url_for("events.show", event_id=event.id))


def _other_event(field: str) -> Event | None:
    """The event picked in the form; None when empty, unknown or outside the user's scope
    (a pick from outside is a form error, never a hint that the id exists)."""
    raw = (request.form.get(field) or "").strip()
    if not raw:
        return None
    try:
        other = db.session.get(Event, int(raw))
    except ValueError:
        return None
    if other is None or not event_queries.event_in_scope(current_user, other):
        return None
    return other


def _require_pick(picked: Event | None) -> Event:
    if picked is None:
        from sentinel.errors import ValidationFailed

        raise ValidationFailed("请选择有效的目标事件")
    return picked


@bp.route("/<int:event_id>/rename", methods=["POST"])
@require("event.manage")
def rename(event_id: int) -> Any:
    title = request.form.get("title", "")
    return _act(
        event_id, lambda e: event_service.rename(current_actor(), e, title), "已修改事件标题"
    )


@bp.route("/<int:event_id>/noise", methods=["POST"])
@require("event.manage")
def noise(event_id: int) -> Any:
    reason = request.form.get("reason", "")
    return _act(
        event_id,
        lambda e: event_service.mark_noise(current_actor(), e, reason),
        "已标记为无效事件",
    )


@bp.route("/<int:event_id>/rumour", methods=["POST"])
@require("rumour.mark")
def mark_rumour(event_id: int) -> Any:
    """疑似谣言: the event's cases (in scope) gather under one rumour for verification."""
    from sentinel.services import rumours

    event = get_event_or_404(event_id, "rumour.mark")
    title = request.form.get("title", "")
    done = submit(
        lambda: rumours.mark_event(current_actor(), event, title),
        "已标记为疑似谣言：请承办单位核实后起草辟谣",
    )
    if done:
        return redirect(url_for("rumours.show", rumour_id=done.value.id))
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/reopen", methods=["POST"])
@require("event.manage")
def reopen(event_id: int) -> Any:
    return _act(event_id, lambda e: event_service.reopen(current_actor(), e), "已恢复事件")


@bp.route("/<int:event_id>/merge", methods=["POST"])
@require("event.manage")
def merge(event_id: int) -> Any:
    target = _other_event("into_id")
    return _act(
        event_id,
        lambda e: event_service.merge(current_actor(), e, _require_pick(target)),
        "已合并事件",
    )


@bp.route("/<int:event_id>/move-out", methods=["POST"])
@require("event.manage")
def move_out(event_id: int) -> Any:
    to = _other_event("to_id")
    if (request.form.get("to_id") or "").strip() and to is None:
        event = get_event_or_404(event_id, "event.manage")
        return _act(event.id, lambda e: _require_pick(None), "")
    case_id = request.form.get("case_id", type=int)
    item_id = request.form.get("item_id", type=int)

    def action(e: Event) -> int:
        if case_id:
            return event_service.move_case_out(current_actor(), e, case_id, to=to)
        return event_service.move_items_out(current_actor(), e, [item_id or 0], to=to)

    return _act(event_id, action, "已移出事件" if to is None else "已移到所选事件")


@bp.route("/<int:event_id>/escalate", methods=["POST"])
@require("event.manage")
def escalate(event_id: int) -> Any:
    level = request.form.get("level", type=int) or 0
    reason = request.form.get("reason", "")
    return _act(
        event_id,
        lambda e: event_service.raise_level(current_actor(), e, level, reason),
        "已升级事件",
    )
