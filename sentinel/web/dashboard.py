"""Dashboards: the leaders' dashboard (the viewer's whole scope), the unit dashboard (a
unit and its subtree), and the CSV/XLSX export of a drill-down case list.

The case list itself is ``reports.cases`` (one drill-down list for the reports and the
dashboards); its filter is the query string of :class:`services.dashboard.DrillFilter`,
resolved against the viewer's scope here by :func:`drill_from_request`, so an edited URL
never reaches another unit's rows.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from sentinel.auth.permissions import require, scope_unit_ids, unit_in_scope, units_in_scope
from sentinel.extensions import db
from sentinel.models import Unit, utcnow
from sentinel.services import dashboard, sla_report
from sentinel.services.dashboard import DrillFilter
from sentinel.timefmt import SHANGHAI

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
DEFAULT_DAYS = 30


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def _scope_ids() -> list[int] | None:
    """The viewer's units; None when that is every unit (no per-row unit test needed)."""
    ids = scope_unit_ids(current_user)
    if ids is None:
        return None
    total = db.session.scalar(select(func.count()).select_from(Unit)) or 0
    if ids and len(ids) >= total:
        return None
    if not ids:
        abort(404)
    return sorted(ids)


def _unit_or_404(raw: Any) -> Unit:
    try:
        unit = db.session.get(Unit, int(raw))
    except (TypeError, ValueError):
        abort(404)
    if unit is None or not unit_in_scope(current_user, unit.id):
        abort(404)
    return unit


def drill_from_request(
    args: Any | None = None,
) -> tuple[DrillFilter, Unit | None, list[int] | None]:
    """The drill-down filter of the request, its unit, and the unit ids its rows may count
    for — always within the viewer's scope (404 otherwise; 400 for a malformed filter)."""
    args = request.args if args is None else args
    try:
        f = DrillFilter.from_args(args)
    except ValueError:
        abort(400)
    if f.event_id is not None and dashboard._event_item_model() is None:
        abort(404)
    if f.unit_id is None:
        return f, None, _scope_ids()
    unit = _unit_or_404(f.unit_id)
    if not f.subtree:
        return f, unit, [unit.id]
    # Scope is closed under descent (a unit's subtree is in scope with it), but intersect
    # anyway so the rule holds even if that ever changes.
    scope = scope_unit_ids(current_user)
    ids = [i for i in dashboard.subtree_ids(unit) if scope is None or i in scope]
    return f, unit, sorted(ids)


def _period_from_args() -> tuple[sla_report.Period, str]:
    today = _today()
    try:
        end = date.fromisoformat(request.args.get("end") or today.isoformat())
        start = date.fromisoformat(
            request.args.get("start") or (end - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        )
    except ValueError:
        abort(400)
    if end < start or (end - start).days >= dashboard.MAX_DAYS:
        abort(400)
    bucket = request.args.get("bucket", "day")
    if bucket not in dashboard.BUCKETS:
        abort(400)
    return sla_report.custom_period(start, end), bucket


def _link(f: DrillFilter) -> str:
    return url_for("reports.cases", **f.args())


def _render(unit: Unit | None, unit_ids: list[int] | None) -> Any:
    period, bucket = _period_from_args()
    board = dashboard.build(period, unit, unit_ids, _link, bucket)
    return render_template(
        "dashboard/show.html",
        board=board,
        units=units_in_scope(current_user),
        buckets=dashboard.BUCKETS,
        chart_data={
            "volume": board.volume,
            "topics": board.topics,
            "sentiments": board.sentiments,
            "units": board.units,
        },
    )


@bp.route("/")
@require("dashboard.view")
def index() -> Any:
    """领导驾驶舱: the viewer's whole scope."""
    return _render(None, _scope_ids())


@bp.route("/unit")
@require("dashboard.view")
def unit() -> Any:
    """单位看板: one unit and everything below it (default: the viewer's first unit)."""
    raw = request.args.get("unit_id")
    if not raw:
        mine = units_in_scope(current_user)
        if not mine:
            abort(404)
        raw = mine[0].id
    chosen = _unit_or_404(raw)
    scope = scope_unit_ids(current_user)
    ids = [i for i in dashboard.subtree_ids(chosen) if scope is None or i in scope]
    return _render(chosen, sorted(ids))


EXPORT_MAX_ROWS = 50_000


@bp.route("/cases.<fmt>")
@require("report.view")
def export(fmt: str) -> Any:
    """The drill-down list as CSV or XLSX, with first-response and resolution times."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    f, unit, unit_ids = drill_from_request()
    ids = list(db.session.scalars(dashboard.drill_ids(f, unit_ids).limit(EXPORT_MAX_ROWS + 1)))
    if len(ids) > EXPORT_MAX_ROWS:
        # Never hand over a silently truncated file.
        return Response(
            f"工单超过 {EXPORT_MAX_ROWS} 件，请缩小时间段或单位范围后再导出。",
            status=413,
            mimetype="text/plain",
        )
    rows = dashboard.export_rows(ids)
    m = dashboard.metric(f.metric)
    assert m is not None
    name = f"{m.label}_{f.start:%Y%m%d}-{f.end:%Y%m%d}"
    if fmt == "csv":
        out = io.StringIO()
        # The BOM lets Excel open the UTF-8 file with its Chinese text intact.
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(dashboard.EXPORT_COLUMNS)
        writer.writerows(rows)
        body, mimetype = out.getvalue().encode("utf-8"), "text/csv; charset=utf-8"
    else:
        body = _xlsx(rows, f.describe(unit), m.label)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(body, mimetype=mimetype)
    from urllib.parse import quote

    response.headers["Content-Disposition"] = (
        f"attachment; filename=cases.{fmt}; filename*=UTF-8''{quote(name)}.{fmt}"
    )
    return response


def _xlsx(rows: Any, scope_label: str, metric_label: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "工单"
    ws.append(list(dashboard.EXPORT_COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for row in rows:
        ws.append(row)
    for column, width in zip(
        "ABCDEFGHIJKLMNO", (10, 40, 8, 16, 16, 12, 6, 17, 17, 17, 12, 17, 17, 12, 10), strict=True
    ):
        ws.column_dimensions[column].width = width
    info = wb.create_sheet("筛选条件")
    info.append(["指标", metric_label])
    info.append(["范围", scope_label])
    info.append(["导出时间", utcnow().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
