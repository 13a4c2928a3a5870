"""Administration of the working-day calendar and office hours, and the admin banners."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from sentinel.auth.permissions import can, current_actor, require
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.models import OfficeHours, Unit, WorkCalendar, utcnow
from sentinel.models.unit import tree_order
from sentinel.services import watchdog, workcalendar
from sentinel.timefmt import SHANGHAI
from sentinel.web.forms import submit

bp = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendar")


def _recompute() -> int:
    """Recompute provisional deadlines after the calendar changed."""
    try:
        from sentinel.services import sla
    except ImportError:  # pragma: no cover - before the clocks exist
        return 0
    return sla.recompute_provisional(current_actor())


@bp.route("/", methods=["GET"])
@require("admin.manage")
def index() -> Any:
    today = utcnow().astimezone(SHANGHAI).date()
    year = request.args.get("year", today.year, type=int) or today.year
    year = min(max(year, 2000), 2100)
    snap = workcalendar.snapshot()
    months = [(m, workcalendar.month_days(year, m, snap)) for m in range(1, 13)]
    special = db.session.scalars(
        select(WorkCalendar)
        .where(WorkCalendar.day >= date(year, 1, 1), WorkCalendar.day < date(year + 1, 1, 1))
        .where(WorkCalendar.name.is_not(None))
        .order_by(WorkCalendar.day)
    ).all()
    hours = {row.unit_id: row.periods for row in db.session.scalars(select(OfficeHours)).all()}
    return render_template(
        "calendar/index.html",
        status=workcalendar.status(today),
        year=year,
        loaded=snap.is_loaded(year),
        months=months,
        special=special,
        units=tree_order(db.session.scalars(select(Unit))),
        hours=hours,
        default_hours=workcalendar.DEFAULT_OFFICE_HOURS,
    )


@bp.route("/day", methods=["POST"])
@require("admin.manage")
def set_day() -> Any:
    raw = request.form.get("day", "")

    def run() -> tuple[date, int]:
        try:
            day = date.fromisoformat(raw)
        except ValueError as exc:
            raise SentinelError(f"日期无效：{raw}") from exc
        workcalendar.set_day(
            current_actor(), day, request.form.get("kind", ""), request.form.get("name", "")
        )
        return day, _recompute()

    def updated(result: tuple[date, int]) -> str:
        day, recomputed = result
        return f"{day.isoformat()} 已更新" + (
            f"，重新计算临时时限 {recomputed} 件" if recomputed else ""
        )

    done = submit(run, updated)
    return redirect(url_for("calendar_admin.index", year=done.value[0].year if done else None))


@bp.route("/import", methods=["POST"])
@require("admin.manage")
def import_year() -> Any:
    upload = request.files.get("file")

    def run() -> tuple[workcalendar.ImportResult, int]:
        # A file goes through the one decoder/reader (undecodable files are refused).
        source: str | list[tuple[int, list[Any]]] = request.form.get("text", "")
        if upload is not None and upload.filename:
            source = workcalendar.read_schedule_file(upload.read(), upload.filename)
        result = workcalendar.import_schedule(current_actor(), source)
        return result, _recompute()

    def imported(outcome: tuple[workcalendar.ImportResult, int]) -> str:
        result, recomputed = outcome
        return (
            f"已导入 {workcalendar.format_years(result.years)} 年：放假 {result.holidays} 天，"
            f"调休上班 {result.workdays} 天；重新计算临时时限 {recomputed} 件"
        )

    done = submit(run, imported)
    if not done:
        return redirect(url_for("calendar_admin.index"))
    return redirect(url_for("calendar_admin.index", year=done.value[0].years[0]))


@bp.route("/office-hours", methods=["POST"])
@require("admin.manage")
def office_hours() -> Any:
    unit = db.session.get(Unit, request.form.get("unit_id", type=int) or 0)

    def run() -> Unit:
        if unit is None:
            raise SentinelError("请选择单位")
        workcalendar.set_office_hours(current_actor(), unit, request.form.get("periods", ""))
        return unit

    submit(run, lambda u: f"“{u.name}”的办公时间已更新")
    return redirect(url_for("calendar_admin.index"))


def admin_banners() -> list[dict[str, str]]:
    """Alerts every administrator sees on every page (calendar missing, sweep late)."""
    banners: list[dict[str, str]] = []
    st = workcalendar.status()
    if st.warn:
        missing = st.next_year - 1 if st.next_year - 1 not in st.loaded_years else st.next_year
        banners.append(
            {
                "level": "warning",
                "text": f"{missing} 年法定节假日安排尚未导入，"
                "涉及该年的办理时限为临时值（按周末推算）。",
                "url": url_for("calendar_admin.index", year=missing),
                "link": "导入节假日安排",
            }
        )
    late = watchdog.sweep_late_message()
    if late:
        banners.append(
            {
                "level": "danger",
                "text": late,
                "url": url_for("admin.jobs_page"),
                "link": "查看后台任务",
            }
        )
    return banners


def init_app(app: Flask) -> None:
    """Register the blueprint and the banner context processor."""
    app.register_blueprint(bp)

    @app.context_processor
    def inject_banners() -> dict[str, Any]:
        def banners() -> list[dict[str, str]]:
            if not can(current_user, "admin.manage"):
                return []
            try:
                return admin_banners()
            except Exception:  # a banner must never break a page
                db.session.rollback()
                return []

        return {"admin_banners": banners}
