"""会商 pages, the leaders' board, the alert feed and the alerts admin page (issue 12)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from werkzeug.routing import BuildError

from sentinel.auth.permissions import can, current_actor, require, units_in_scope
from sentinel.errors import ValidationFailed
from sentinel.extensions import db
from sentinel.models import AlertDelivery, AuditEvent, Consultation, Event, Unit, utcnow
from sentinel.models.consultation import CLOCK_KINDS, CONSULT_LEVELS
from sentinel.services import alerts, board, consult_clocks, consultations
from sentinel.web.forms import submit

bp = Blueprint("consultations", __name__)

ACTION_LABELS = {
    "consultation.open": "发起会商",
    "consultation.assess": "研判等级",
    "consultation.responsible": "确定牵头单位",
    "consultation.invite": "邀请单位",
    "consultation.confirm": "确认参会",
    "consultation.minutes": "记录会商纪要",
    "consultation.agreed_line": "确定统一口径",
    "consultation.clock_met": "标记时限完成",
    "consultation.clock_approaching": "时限即将到期提醒",
    "consultation.clock_breached": "时限超时提醒",
    "consultation.decide": "形成决策",
    "consultation.close": "复盘关闭",
}


def get_consultation_or_404(consultation_id: int, capability: str = "consult.view") -> Consultation:
    """Load a consultation the user may act on: 404 outside their units, 403 without the
    capability (out-of-scope is 404 so ids do not leak)."""
    consultation = db.session.get(Consultation, consultation_id)
    if consultation is None or not consultations.in_scope(current_user, consultation):
        abort(404)
    if not can(current_user, capability):
        abort(403)
    return consultation


def _back(consultation: Consultation) -> Any:
    return redirect(url_for("consultations.show", consultation_id=consultation.id))


def _unit(field: str = "unit_id") -> Unit:
    unit = db.session.get(Unit, request.form.get(field, type=int) or 0)
    if unit is None:
        raise ValidationFailed("请选择单位")
    return unit


# --------------------------------------------------------------------------- pages


@bp.route("/consultations/")
@require("consult.view")
def index() -> Any:
    status = request.args.get("status", "open")
    rows = board.consultations_for(current_user, open_only=status != "all")
    return render_template("consultations/index.html", rows=rows, status=status, now=utcnow())


@bp.route("/consultations/<int:consultation_id>")
@require("consult.view")
def show(consultation_id: int) -> Any:
    consultation = get_consultation_or_404(consultation_id)
    event = db.session.get(Event, consultation.event_id)
    history = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "consultation", AuditEvent.object_id == consultation.id)
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    suggestions = consultations.suggest_units(event) if event is not None else []
    return render_template(
        "consultations/show.html",
        c=consultation,
        event=event,
        cases=board.event_cases(consultation.event_id),
        suggestions=suggestions,
        units=units_in_scope(current_user),
        history=history,
        action_labels=ACTION_LABELS,
        levels=CONSULT_LEVELS,
        clock_kinds=CLOCK_KINDS,
        now=utcnow(),
        remaining=consult_clocks.remaining_label,
        my_unit_ids={u.id for u in current_user.units},
    )


@bp.route("/events/<int:event_id>/consultation", methods=["POST"])
@require("consult.manage")
def open_for_event(event_id: int) -> Any:
    """发起会商 on an event (an officer's raise): the event is escalated at least to the
    chosen level, which opens the consultation and alerts through the escalation hook."""
    event = db.session.get(Event, event_id)
    if event is None or not board.event_in_scope(current_user, event):
        abort(404)
    level = request.form.get("level", "general")
    done = submit(
        lambda: consultations.raise_event(
            current_actor(), event, level, request.form.get("reason", "")
        ),
        "已发起会商，相关人员已收到提醒",
    )
    if done:
        return redirect(url_for("consultations.show", consultation_id=done.value.id))
    found = consultations.for_event(event.id)
    if found is not None:
        return redirect(url_for("consultations.show", consultation_id=found.id))
    return redirect(request.referrer or url_for("consultations.index"))


def _act(consultation_id: int, capability: str, action: Any, message: str) -> Any:
    consultation = get_consultation_or_404(consultation_id, capability)
    submit(lambda: action(consultation), message)
    return _back(consultation)


@bp.route("/consultations/<int:consultation_id>/assess", methods=["POST"])
@require("consult.manage")
def assess(consultation_id: int) -> Any:
    level = request.form.get("level", "")
    return _act(
        consultation_id,
        "consult.manage",
        lambda c: consultations.assess(current_actor(), c, level),
        f"研判等级已设为“{CONSULT_LEVELS.get(level, level)}”",
    )


@bp.route("/consultations/<int:consultation_id>/responsible", methods=["POST"])
@require("consult.manage")
def responsible(consultation_id: int) -> Any:
    return _act(
        consultation_id,
        "consult.manage",
        lambda c: consultations.set_responsible(current_actor(), c, _unit()),
        "牵头单位已确定",
    )


@bp.route("/consultations/<int:consultation_id>/invite", methods=["POST"])
@require("consult.manage")
def invite(consultation_id: int) -> Any:
    return _act(
        consultation_id,
        "consult.manage",
        lambda c: consultations.invite(current_actor(), c, _unit()),
        "已邀请该单位参加会商",
    )


@bp.route("/consultations/<int:consultation_id>/invites/<int:invite_id>/confirm", methods=["POST"])
@require("consult.confirm")
def confirm(consultation_id: int, invite_id: int) -> Any:
    consultation = get_consultation_or_404(consultation_id, "consult.confirm")
    row = next((i for i in consultation.invites if i.id == invite_id), None)
    if row is None:
        abort(404)
    note = request.form.get("note", "")
    submit(lambda: consultations.confirm(current_actor(), consultation, row, note), "已确认参会")
    return _back(consultation)


@bp.route("/consultations/<int:consultation_id>/minutes", methods=["POST"])
@require("consult.manage")
def minutes(consultation_id: int) -> Any:
    text = request.form.get("minutes", "")
    return _act(
        consultation_id,
        "consult.manage",
        lambda c: consultations.record_minutes(current_actor(), c, text),
        "会商纪要已保存",
    )


@bp.route("/consultations/<int:consultation_id>/line", methods=["POST"])
@require("consult.manage")
def agreed_line(consultation_id: int) -> Any:
    text = request.form.get("agreed_line", "")
    return _act(
        consultation_id,
        "consult.manage",
        lambda c: consultations.set_agreed_line(current_actor(), c, text),
        "统一口径已保存，并显示在该事件的每件工单上",
    )


@bp.route("/consultations/<int:consultation_id>/clocks/<kind>/met", methods=["POST"])
@require("consult.manage")
def clock_met(consultation_id: int, kind: str) -> Any:
    return _act(
        consultation_id,
        "consult.manage",
        lambda c: consultations.meet_clock(current_actor(), c, kind),
        f"“{CLOCK_KINDS.get(kind, kind)}”已标记完成",
    )


@bp.route("/consultations/<int:consultation_id>/decide", methods=["POST"])
@require("consult.manage")
def decide(consultation_id: int) -> Any:
    text = request.form.get("decision", "")
    return _act(
        consultation_id,
        "consult.manage",
        lambda c: consultations.decide(current_actor(), c, text),
        "会商决策已记录",
    )


@bp.route("/consultations/<int:consultation_id>/review", methods=["POST"])
@require("consult.manage")
def review(consultation_id: int) -> Any:
    text = request.form.get("review", "")
    return _act(
        consultation_id,
        "consult.manage",
        lambda c: consultations.close_with_review(current_actor(), c, text),
        "复盘已记录，会商已关闭",
    )


# --------------------------------------------------------------------------- board


@bp.route("/board")
@require("board.view")
def board_page() -> Any:
    data = board.build(current_user)
    return render_template(
        "consultations/board.html",
        b=data,
        refresh_s=int(current_app.config["BOARD_REFRESH_S"]),
    )


@bp.route("/board/data")
@require("board.view")
def board_data() -> Any:
    """The board's refresh: its rendered body and the heat curves, as JSON."""
    data = board.build(current_user)
    html = render_template("consultations/_board_body.html", b=data)
    return jsonify({"html": html, "curves": data.curves, "generated_at": data.generated_at})


# --------------------------------------------------------------------------- alerts


@bp.route("/alerts/feed")
@require("alerts.view")
def alert_feed() -> Any:
    """Alerts newer than ``after`` the user may see (polled by static/js/alerts.js)."""
    after = request.args.get("after", 0, type=int) or 0
    found = alerts.feed_for(current_user, after)
    return jsonify(
        {
            "alerts": [a.as_json() for a in found],
            "max_id": max([after, *(a.id for a in found)]),
        }
    )


@bp.route("/admin/alerts")
@require("alerts.manage")
def alerts_admin() -> Any:
    recent = db.session.scalars(
        select(AlertDelivery).order_by(AlertDelivery.id.desc()).limit(50)
    ).all()
    return render_template(
        "consultations/alerts_admin.html",
        problems=alerts.problem_deliveries(),
        recent=recent,
        config=current_app.config,
    )


@bp.route("/admin/alerts/<int:delivery_id>/retry", methods=["POST"])
@require("alerts.manage")
def alert_retry(delivery_id: int) -> Any:
    delivery = db.session.get(AlertDelivery, delivery_id)
    if delivery is None:
        abort(404)

    submit(lambda: alerts.retry_now(current_actor(), delivery), "已重新排队发送，结果见下表")
    return redirect(url_for("consultations.alerts_admin"))


# --------------------------------------------------------------------------- helpers


def _event_url(event_id: int) -> str | None:
    try:
        return url_for("events.show", event_id=event_id)
    except BuildError:
        return None


def _agreed_lines(case: Any) -> list[Any]:
    """Consultations with an agreed line on the events this case's items belong to."""
    return board.agreed_lines_for_case(case.id)


def _latest_alert_id() -> int:
    # The error page after a failed query must still render: poll from "now" then.
    try:
        return alerts.latest_id()
    except Exception:
        db.session.rollback()
        return 0


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    consultations.install_hooks()

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {
            "event_url": _event_url,
            "agreed_lines_for": _agreed_lines,
            "alert_poll_ms": int(app.config["ALERT_POLL_S"]) * 1000,
            "latest_alert_id": _latest_alert_id,
        }
