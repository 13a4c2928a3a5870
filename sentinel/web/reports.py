"""Reports: generate (on demand, as a job with progress), the archive, downloads, the
on-screen 留言办理情况 table and the case lists behind its figures (drill-down).

Drill-down URL (shareable; the filter is the query string):
``/reports/cases?metric=<key of sla_report.METRICS>&unit_id=<id>&start=YYYY-MM-DD&end=YYYY-MM-DD``
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import func, select

from sentinel.auth.permissions import current_actor, require, unit_in_scope, units_in_scope
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.jobqueue import enqueue
from sentinel.models import Case, ReportArchive, Unit
from sentinel.models.report import REPORT_FORMATS, REPORT_KINDS
from sentinel.services import reports, sla_report
from sentinel.timefmt import SHANGHAI
from sentinel.web.forms import submit

bp = Blueprint("reports", __name__, url_prefix="/reports")
PRESETS = {k: v for k, v in sla_report.PERIOD_KINDS.items()}
DRILL_LIMIT = 500


def _today() -> date:
    from sentinel.models import utcnow

    return utcnow().astimezone(SHANGHAI).date()


def _archive_or_404(archive_id: int) -> ReportArchive:
    archive = db.session.get(ReportArchive, archive_id)
    if archive is None or not reports.archive_in_scope(current_user, archive):
        abort(404)
    return archive


def _period_from_args(args: Any) -> sla_report.Period:
    """Period from ``period`` (preset) and ``day``, or ``start``/``end`` (custom)."""
    kind = args.get("period", "month")
    try:
        if kind in ("day", "week", "month", "quarter", "year"):
            day = date.fromisoformat(args.get("day") or args.get("start") or _today().isoformat())
            return sla_report.period_of(kind, day)
        start = date.fromisoformat(args.get("start", ""))
        end = date.fromisoformat(args.get("end", ""))
        if end < start or (end - start).days > 366:
            raise ValueError
        return sla_report.custom_period(start, end)
    except ValueError:
        abort(400)


def _scoped_unit(args: Any) -> Unit | None:
    raw = args.get("unit_id", "")
    if not raw:
        if not units_in_scope(current_user) or _scope_is_partial():
            abort(404)
        return None
    try:
        unit = db.session.get(Unit, int(raw))
    except ValueError:
        abort(404)
    if unit is None or not unit_in_scope(current_user, unit.id):
        abort(404)
    return unit


def _scope_is_partial() -> bool:
    probe = ReportArchive(unit_id=None)
    return not reports.archive_in_scope(current_user, probe)


@bp.route("/")
@require("report.view")
def index() -> Any:
    today = _today()
    return render_template(
        "reports/index.html",
        kinds=REPORT_KINDS,
        formats=REPORT_FORMATS,
        presets=PRESETS,
        units=units_in_scope(current_user),
        whole_tree=not _scope_is_partial(),
        today=today,
        archives=reports.archives_for(current_user),
    )


@bp.route("/", methods=["POST"])
@require("report.generate")
def generate() -> Any:
    form = request.form
    kind_of_period = form.get("period", "month")
    params: dict[str, Any] = {
        "kind": form.get("kind", ""),
        "fmt": form.get("fmt", ""),
        "unit_id": form.get("unit_id") or None,
    }
    try:
        if kind_of_period in ("day", "week", "month", "quarter", "year"):
            period = sla_report.period_of(kind_of_period, date.fromisoformat(form.get("day", "")))
            params.update(
                period=period.kind, start=period.start.isoformat(), end=period.end.isoformat()
            )
        else:
            params.update(period="custom", start=form.get("start"), end=form.get("end"))
    except ValueError:
        params.update(period="custom", start=None, end=None)

    def action() -> ReportArchive:
        archive = reports.request_report(current_actor(), params)
        run = enqueue(reports.REPORT_JOB, archive_id=archive.id)
        db.session.flush()
        archive.job_run_id = run.id
        return archive

    done = submit(action, None)
    if not done:
        return redirect(url_for("reports.index"))
    return redirect(url_for("reports.show", archive_id=done.value.id))


@bp.route("/<int:archive_id>")
@require("report.view")
def show(archive_id: int) -> Any:
    return render_template("reports/show.html", archive=_archive_or_404(archive_id))


@bp.route("/<int:archive_id>/status")
@require("report.view")
def status(archive_id: int) -> Any:
    archive = _archive_or_404(archive_id)
    return jsonify(
        {
            "status": archive.status,
            "status_label": archive.status_label,
            "progress": archive.progress,
            "ready": archive.status == "ready",
            "error": archive.error,
            "download_url": url_for("reports.download", archive_id=archive.id)
            if archive.status == "ready"
            else None,
        }
    )


@bp.route("/<int:archive_id>/download")
@require("report.view")
def download(archive_id: int) -> Any:
    import io

    archive = _archive_or_404(archive_id)
    try:
        data = reports.file_bytes(archive)
    except SentinelError:
        abort(404)
    mimetype = {
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pdf": "application/pdf",
    }[archive.fmt]
    return send_file(
        io.BytesIO(data),
        mimetype=mimetype,
        as_attachment=True,
        download_name=reports.download_name(archive),
    )


@bp.route("/sla")
@require("report.view")
def sla() -> Any:
    """The 留言办理情况 table on screen; every count links to its cases."""
    period = _period_from_args(request.args)
    unit = _scoped_unit(request.args)
    current = sla_report.sla_table(period, unit)
    previous = sla_report.sla_table(period.previous(), unit)

    def link(unit_id: int, metric: str) -> str:
        return url_for(
            "reports.cases",
            metric=metric,
            unit_id=unit_id,
            start=period.start.isoformat(),
            end=period.end.isoformat(),
        )

    table = reports.sla_rows_table(current, previous, "各单位办理情况", link)
    return render_template(
        "reports/sla.html",
        period=period,
        unit=unit,
        table=table,
        definitions=sla_report.definitions(),
        presets=PRESETS,
        units=units_in_scope(current_user),
        args=request.args,
        cutoff=current.cutoff,
    )


@bp.route("/cases")
@require("report.view")
def cases() -> Any:
    """The cases behind one figure of a report or a dashboard (drill-down); the filter is
    ``services.dashboard.DrillFilter`` in the query string, always within the viewer's
    scope (``web.dashboard.drill_from_request``)."""
    from sentinel.services import dashboard
    from sentinel.web.dashboard import drill_from_request

    f, unit, unit_ids = drill_from_request()
    ids_stmt = dashboard.drill_ids(f, unit_ids)
    total = db.session.scalar(select(func.count()).select_from(ids_stmt.order_by(None).subquery()))
    ids = list(db.session.scalars(ids_stmt.limit(DRILL_LIMIT + 1)))
    found = list(db.session.scalars(select(Case).where(Case.id.in_(ids[:DRILL_LIMIT]))))
    found.sort(key=lambda c: -c.id)
    args = f.args()
    return render_template(
        "reports/cases.html",
        metric=dashboard.metric(f.metric),
        unit=unit,
        period=f.period,
        cases=found,
        more=len(ids) > DRILL_LIMIT,
        total=total or 0,
        scope_label=f.describe(unit),
        csv_url=url_for("dashboard.export", fmt="csv", **args),
        xlsx_url=url_for("dashboard.export", fmt="xlsx", **args),
    )
