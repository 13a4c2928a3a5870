"""The handling unit's inbox: 待签收 / 办理中 / 已答复."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user

from sentinel.auth.permissions import require
from sentinel.services import case_queries
from sentinel.services.case_queries import CaseFilters

bp = Blueprint("inbox", __name__, url_prefix="/inbox")

TABS = {
    "dispatched": ("待签收", ("dispatched",)),
    "acknowledged": ("办理中", ("acknowledged",)),
    "answered": ("已答复", ("answered", "closed")),
}


@bp.route("/")
@require("inbox.view")
def index() -> Any:
    tab = request.args.get("tab", "dispatched")
    if tab not in TABS:
        tab = "dispatched"
    filters = CaseFilters.from_args(request.args)
    filters.status = "all"
    filters.sort = "newest"
    page = case_queries.unit_inbox_page(
        current_user,
        TABS[tab][1],
        filters,
        request.args.get("page", 1, type=int) or 1,
        current_app.config["TRIAGE_PAGE_SIZE"],
    )
    counts = case_queries.status_counts(
        current_user, tuple(s for _, statuses in TABS.values() for s in statuses)
    )
    tab_counts = {
        key: sum(counts.get(s, 0) for s in statuses) for key, (_, statuses) in TABS.items()
    }
    return render_template(
        "inbox/index.html", page=page, tab=tab, tabs=TABS, tab_counts=tab_counts, filters=filters
    )
