"""The deadline rules table (办理时限规则): administrators edit which rule a case gets."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select

from classifiers.data import REQUEST_TYPES
from sentinel.auth.permissions import current_actor, require
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.models import DeadlineRule, Source, Unit
from sentinel.models.deadline import AMOUNT_UNITS, CLOCKS, START_EVENTS
from sentinel.models.unit import tree_order
from sentinel.models.user import ROLES
from sentinel.services import sla
from sentinel.web.forms import submit

bp = Blueprint("deadline_rules", __name__)


@bp.route("/admin/deadlines", methods=["GET", "POST"])
@require("admin.manage")
def rules() -> Any:
    if request.method == "POST":
        rule_id = request.form.get("rule_id", type=int)
        rule = db.session.get(DeadlineRule, rule_id) if rule_id else None

        def save() -> DeadlineRule:
            if rule_id and rule is None:
                raise SentinelError("规则不存在")
            return sla.save_rule(
                current_actor(),
                rule,
                clock=request.form.get("clock", ""),
                request_type=request.form.get("request_type") or None,
                source_id=request.form.get("source_id", type=int),
                unit_id=request.form.get("unit_id", type=int),
                urgent=request.form.get("urgent") == "1",
                start_event=request.form.get("start_event", ""),
                amount=request.form.get("amount", type=int),
                amount_unit=request.form.get("amount_unit", ""),
                approver_role=request.form.get("approver_role", ""),
                active=request.form.get("active", "1") == "1",
            )

        submit(save, "时限规则已保存（已分派的工单保持原时限）")
        return redirect(url_for("deadline_rules.rules"))
    return render_template(
        "deadlines/rules.html",
        rules=db.session.scalars(
            select(DeadlineRule).order_by(DeadlineRule.clock, DeadlineRule.request_type)
        ).all(),
        sources=db.session.scalars(select(Source).order_by(Source.id)).all(),
        units=tree_order(db.session.scalars(select(Unit))),
        clocks=CLOCKS,
        start_events=START_EVENTS,
        amount_units=AMOUNT_UNITS,
        roles=ROLES,
        request_types=REQUEST_TYPES,
    )
