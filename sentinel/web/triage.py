"""The duty officer's triage queue: live list, filters, bulk actions."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from classifiers.data import REQUEST_TYPES
from sentinel.auth.permissions import (
    current_actor,
    get_case_or_404,
    require,
    units_in_scope,
)
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.models import Source, Unit
from sentinel.services import case_queries, triage
from sentinel.services.case_queries import SORTS, STATUS_GROUP_LABELS, CaseFilters
from sentinel.web.links import same_site_path

bp = Blueprint("triage", __name__, url_prefix="/triage")

BULK_ACTIONS = {"claim": "认领", "dispatch": "分派", "noise": "作无效处理"}


def _choices() -> dict[str, Any]:
    units = units_in_scope(current_user)
    sources = list(db.session.scalars(select(Source).order_by(Source.name)))
    from sentinel.services.taxonomy import topic_choices

    return {
        "units": units,
        "sources": sources,
        "topics": topic_choices(),
        "request_types": REQUEST_TYPES,
    }


@bp.route("/")
@require("triage.view")
def index() -> Any:
    filters = CaseFilters.from_args(request.args)
    page = case_queries.case_page(
        current_user,
        filters,
        request.args.get("page", 1, type=int) or 1,
        current_app.config["TRIAGE_PAGE_SIZE"],
    )
    max_id = max((c.id for c in page.cases), default=0)
    return render_template(
        "triage/index.html",
        page=page,
        filters=filters,
        max_id=max_id,
        counts=case_queries.status_counts(current_user, case_queries.STATUS_GROUPS["todo"]),
        status_labels=STATUS_GROUP_LABELS,
        sorts=SORTS,
        bulk_actions=BULK_ACTIONS,
        **_choices(),
    )


@bp.route("/feed")
@require("triage.view")
def feed() -> Any:
    """New cases since ``after`` (the largest id the page shows), as rendered rows."""
    filters = CaseFilters.from_args(request.args)
    after = request.args.get("after", 0, type=int) or 0
    cases = case_queries.cases_after(current_user, filters, after)
    html = render_template("triage/_rows.html", cases=cases, fresh=True)
    return jsonify(
        {
            "count": len(cases),
            "max_id": max((c.id for c in cases), default=after),
            "html": html,
        }
    )


@bp.route("/bulk", methods=["POST"])
@require("triage.bulk")
def bulk() -> Any:
    action = request.form.get("action", "")
    ids = [int(v) for v in request.form.getlist("case_ids") if v.isdigit()]
    back = same_site_path(request.form.get("next")) or url_for("triage.index")
    if action not in BULK_ACTIONS or not ids:
        flash("请选择工单和批量操作", "warning")
        return redirect(back)
    actor = current_actor()
    unit = None
    if action == "dispatch":
        unit = db.session.get(Unit, request.form.get("unit_id", type=int) or 0)
        if unit is None:
            flash("请选择要分派的单位", "warning")
            return redirect(back)
    done, failed = 0, []
    for case_id in ids:
        capability = {"claim": "case.claim", "dispatch": "case.dispatch", "noise": "case.noise"}
        case = get_case_or_404(case_id, capability[action])
        try:
            with db.session.begin_nested():
                if action == "claim":
                    triage.claim(actor, case)
                elif action == "dispatch":
                    assert unit is not None
                    triage.dispatch(actor, case, unit, request.form.get("note", ""))
                else:
                    triage.mark_noise(
                        actor, case, request.form.get("reason", ""), request.form.get("note", "")
                    )
            done += 1
        except SentinelError as exc:
            failed.append(f"#{case_id}：{exc.message}")
    db.session.commit()
    if done:
        flash(f"已批量{BULK_ACTIONS[action]} {done} 件工单", "success")
    for message in failed[:10]:
        flash(message, "danger")
    return redirect(back)
