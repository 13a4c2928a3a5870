"""辟谣 pages (issue 13): the rumour list, a rumour's page, and its forms."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from sentinel.auth.permissions import can, current_actor, get_case_or_404, require
from sentinel.extensions import db
from sentinel.models import Rumour, Source
from sentinel.models.review import REFERRAL_AGENCIES, SOURCE_KINDS
from sentinel.services import reply_templates, rumours
from sentinel.web.forms import submit
from sentinel.web.uploads import upload_limit

bp = Blueprint("rumours", __name__)


def _rumour_or_404(rumour_id: int) -> Rumour:
    """The rumour, when one of its cases is in the user's scope (404 otherwise)."""
    rumour = db.session.get(Rumour, rumour_id)
    if rumour is None or not rumours.may_see(current_user, rumour):
        abort(404)
    return rumour


def _back(rumour: Rumour) -> Any:
    return redirect(url_for("rumours.show", rumour_id=rumour.id))


@bp.route("/rumours")
@require("rumour.view")
def index() -> Any:
    return render_template("rumours/index.html", rumours=rumours.visible_to(current_user))


@bp.route("/rumours/<int:rumour_id>")
@require("rumour.view")
def show(rumour_id: int) -> Any:
    rumour = _rumour_or_404(rumour_id)
    case = rumours.primary_case(rumour)
    template = next(iter(reply_templates.candidates(case, "clarification")), None)
    deliveries = rumours.deliveries(rumour)
    sources = {s.id: s for s in db.session.scalars(db.select(Source))}
    return render_template(
        "rumours/show.html",
        rumour=rumour,
        cases=rumours.cases_of(rumour),
        primary=case,
        draft=rumours.clarification(rumour),
        published=rumours.published_clarifications(rumour),
        deliveries=deliveries,
        delivery_counts=rumours.delivery_counts(rumour),
        sources=sources,
        referrals=rumours.referrals(rumour),
        respread=rumours.respread_items(rumour),
        responsible=rumours.is_responsible(current_user, rumour),
        may_draft=can(current_user, "case.draft") and rumours.is_responsible(current_user, rumour),
        template_body=reply_templates.render(template, case) if template else "",
        source_kinds=SOURCE_KINDS,
        agencies=REFERRAL_AGENCIES,
    )


@bp.route("/cases/<int:case_id>/rumour", methods=["POST"])
@require("rumour.mark")
def mark(case_id: int) -> Any:
    case = get_case_or_404(case_id, "rumour.mark")
    done = submit(
        lambda: rumours.mark(
            current_actor(), case, request.form.get("title", ""), request.form.get("note", "")
        ),
        "已标记为疑似谣言，请责任单位核实并记录权威信息来源",
    )
    if done:
        return _back(done.value)
    return redirect(url_for("cases.show", case_id=case.id))


@bp.route("/rumours/<int:rumour_id>/verify", methods=["POST"])
@upload_limit("RUMOUR_ATTACHMENT_MAX_BYTES")
@require("rumour.verify")
def verify(rumour_id: int) -> Any:
    rumour = _rumour_or_404(rumour_id)
    upload = request.files.get("attachment")
    attachment = (upload.filename or "", upload.read()) if upload and upload.filename else None
    submit(
        lambda: rumours.verify(
            current_actor(),
            rumour,
            finding=request.form.get("finding", ""),
            source_kind=request.form.get("source_kind", ""),
            source_title=request.form.get("source_title", ""),
            source_url=request.form.get("source_url", ""),
            attachment=attachment,
        ),
        "核实情况已记录，可以起草辟谣",
    )
    return _back(rumour)


@bp.route("/rumours/<int:rumour_id>/attachment")
@require("rumour.view")
def attachment(rumour_id: int) -> Any:
    rumour = _rumour_or_404(rumour_id)
    path = rumours.attachment_file(rumour)
    if path is None or not os.path.exists(path):
        abort(404)
    return send_file(path, as_attachment=True, download_name=rumour.attachment_name)


@bp.route("/rumours/<int:rumour_id>/clarification", methods=["POST"])
@require("case.draft")
def clarification(rumour_id: int) -> Any:
    rumour = _rumour_or_404(rumour_id)
    get_case_or_404(rumours.primary_case(rumour).id, "case.draft")
    done = submit(
        lambda: rumours.draft_clarification(current_actor(), rumour, request.form.get("body", "")),
        "辟谣草稿已保存，按敏感级（三审，领导终审）审核后发布",
    )
    if done:
        return redirect(url_for("replies.show", reply_id=done.value.id))
    return _back(rumour)


@bp.route("/rumours/<int:rumour_id>/referral", methods=["POST"])
@require("rumour.mark")
def referral(rumour_id: int) -> Any:
    rumour = _rumour_or_404(rumour_id)
    submit(
        lambda: rumours.refer(
            current_actor(),
            rumour,
            request.form.get("agency", ""),
            request.form.get("reference", ""),
            request.form.get("note", ""),
        ),
        "移送记录已保存",
    )
    return _back(rumour)
