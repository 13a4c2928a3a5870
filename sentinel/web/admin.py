"""Administration: users, units, sources and tokens, the audit log, background jobs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from sentinel.auth.permissions import current_actor, require
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.models import AuditEvent, JobRun, Source, Unit, User
from sentinel.models.source import PLATFORMS
from sentinel.models.unit import UNIT_KINDS, tree_order
from sentinel.services import health, sources, units, users
from sentinel.web.forms import submit

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@require("admin.manage")
def users_page() -> Any:
    if request.method == "POST":
        unit_ids = [int(v) for v in request.form.getlist("unit_ids") if v.isdigit()]
        submit(
            lambda: users.create_user(
                current_actor(),
                request.form.get("username", ""),
                request.form.get("password", ""),
                request.form.get("role", ""),
                [u for u in (db.session.get(Unit, i) for i in unit_ids) if u is not None],
                request.form.get("display_name", ""),
                request.form.get("email") or None,
            ),
            "用户已创建",
        )
        return redirect(url_for("admin.users_page"))
    return render_template(
        "admin/users.html",
        users=db.session.scalars(select(User).order_by(User.id)).all(),
        units=tree_order(db.session.scalars(select(Unit))),
    )


@bp.route("/units", methods=["GET", "POST"])
@require("admin.manage")
def units_page() -> Any:
    if request.method == "POST":
        parent = db.session.get(Unit, request.form.get("parent_id", type=int) or 0)
        submit(
            lambda: units.create_unit(
                current_actor(),
                request.form.get("name", ""),
                request.form.get("kind", "department"),
                parent,
            ),
            "单位已创建",
        )
        return redirect(url_for("admin.units_page"))
    return render_template(
        "admin/units.html",
        units=tree_order(db.session.scalars(select(Unit))),
        kinds=UNIT_KINDS,
    )


@bp.route("/sources", methods=["GET", "POST"])
@require("admin.manage")
def sources_page() -> Any:
    new_token = None
    if request.method == "POST":
        try:
            if request.form.get("action") == "token":
                source = db.session.get(Source, request.form.get("source_id", type=int) or 0)
                if source is None:
                    raise SentinelError("渠道不存在")
                sources.revoke_tokens(current_actor(), source)
                new_token = sources.issue_token(current_actor(), source)
            else:
                unit = db.session.get(Unit, request.form.get("unit_id", type=int) or 0)
                source = sources.create_source(
                    current_actor(),
                    request.form.get("name", ""),
                    request.form.get("platform", ""),
                    request.form.get("account", ""),
                    unit,
                )
                new_token = sources.issue_token(current_actor(), source)
            db.session.commit()
            flash(f"渠道“{source.name}”的新 API 令牌已生成，只显示这一次", "success")
        except SentinelError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
    return render_template(
        "admin/sources.html",
        sources=db.session.scalars(select(Source).order_by(Source.id)).all(),
        units=tree_order(db.session.scalars(select(Unit))),
        platforms=PLATFORMS,
        new_token=new_token,
    )


@bp.route("/audit")
@require("admin.manage")
def audit_page() -> Any:
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    action = request.args.get("action", "").strip()
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action))
    object_type = request.args.get("object_type", "").strip()
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    events = db.session.scalars(stmt.limit(100).offset((page - 1) * 100)).all()
    return render_template(
        "admin/audit.html", events=events, page=page, action=action, object_type=object_type
    )


@bp.route("/jobs")
@require("jobs.view")
def jobs_page() -> Any:
    runs = db.session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(100)).all()
    return render_template("admin/jobs.html", runs=runs, report=health.check())


@bp.route("/models", methods=["GET", "POST"])
@require("models.manage")
def models_page() -> Any:
    from sentinel.models import LabelCorrection
    from sentinel.services import models_admin

    if request.method == "POST":
        actor = current_actor()
        if request.form.get("action") == "retrain":
            submit(
                lambda: models_admin.request_retrain(actor),
                "已开始重新训练（含人工更正）；新模型在评估不差于当前模型时才会启用",
            )
        else:
            version = request.form.get("version", "")
            submit(lambda: models_admin.activate(actor, version), f"已启用模型版本 {version}")
        return redirect(url_for("admin.models_page"))
    from sqlalchemy import func

    return render_template(
        "admin/models.html",
        versions=models_admin.versions(),
        active=models_admin.active(),
        corrections=db.session.scalar(select(func.count()).select_from(LabelCorrection)) or 0,
    )
