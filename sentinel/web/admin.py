"""Administration: users, units, sources and tokens, the audit log, background jobs."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from sentinel.auth.permissions import current_actor, require
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.jobs import health
from sentinel.models import AuditEvent, JobRun, Source, Unit, User, utcnow
from sentinel.models.source import PLATFORMS
from sentinel.models.unit import UNIT_KINDS, tree_order
from sentinel.services import sources, units, users
from sentinel.web.forms import submit

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _form_units() -> list[Unit]:
    unit_ids = {int(v) for v in request.form.getlist("unit_ids") if v.isdigit()}
    return [u for u in (db.session.get(Unit, i) for i in sorted(unit_ids)) if u is not None]


def _unit_choices() -> list[Unit]:
    # Tree order: each unit right below its parent, siblings by name (not ids as text).
    return tree_order(db.session.scalars(select(Unit)))


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users", methods=["GET", "POST"])
@require("admin.manage")
def users_page() -> Any:
    if request.method == "POST":
        submit(
            lambda: users.create_user(
                current_actor(),
                request.form.get("username", ""),
                request.form.get("password", ""),
                request.form.get("role", ""),
                _form_units(),
                request.form.get("display_name", ""),
                request.form.get("email") or None,
                must_change_password=bool(request.form.get("must_change_password")),
            ),
            "用户已创建",
        )
        return redirect(url_for("admin.users_page"))
    return render_template(
        "admin/users.html",
        users=users.list_users(),
        units=_unit_choices(),
        now=utcnow(),
        min_length=users.min_password_length(),
    )


def _render_user(user: User, new_password: str | None = None) -> Any:
    response = make_response(
        render_template(
            "admin/user_edit.html",
            user=user,
            units=_unit_choices(),
            member_ids={u.id for u in user.units},
            now=utcnow(),
            new_password=new_password,
            min_length=users.min_password_length(),
        )
    )
    if new_password:
        # The temporary password is shown this once: no cache may keep the page.
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require("admin.manage")
def user_edit(user_id: int) -> Any:
    user = _user_or_404(user_id)
    if request.method == "POST":
        done = submit(
            lambda: users.update_user(
                current_actor(),
                user,
                role=request.form.get("role", ""),
                units=_form_units(),
                display_name=request.form.get("display_name", ""),
                email=request.form.get("email", ""),
            ),
            f"已保存用户“{user.username}”",
        )
        if done:
            return redirect(url_for("admin.users_page"))
        return redirect(url_for("admin.user_edit", user_id=user_id))
    return _render_user(user)


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@require("admin.manage")
def user_deactivate(user_id: int) -> Any:
    user = _user_or_404(user_id)
    submit(
        lambda: users.deactivate_user(current_actor(), user),
        f"已停用用户“{user.username}”，其登录已全部退出",
    )
    return redirect(url_for("admin.user_edit", user_id=user_id))


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
@require("admin.manage")
def user_activate(user_id: int) -> Any:
    user = _user_or_404(user_id)
    submit(lambda: users.activate_user(current_actor(), user), f"已启用用户“{user.username}”")
    return redirect(url_for("admin.user_edit", user_id=user_id))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@require("admin.manage")
def user_unlock(user_id: int) -> Any:
    user = _user_or_404(user_id)
    submit(lambda: users.unlock_user(current_actor(), user), f"已解锁用户“{user.username}”")
    return redirect(url_for("admin.user_edit", user_id=user_id))


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@require("admin.manage")
def user_reset_password(user_id: int) -> Any:
    user = _user_or_404(user_id)
    chosen = request.form.get("password", "")
    done = submit(lambda: users.reset_password(current_actor(), user, chosen or None), None)
    if not done:
        return redirect(url_for("admin.user_edit", user_id=user_id))
    # Rendered, not redirected: the password must not travel through the flash cookie.
    return _render_user(user, new_password=done.value)


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
        versions=(all_versions := models_admin.versions()),
        active=(active := models_admin.active()),
        request_report=models_admin.request_type_report(all_versions, active),
        corrections=db.session.scalar(select(func.count()).select_from(LabelCorrection)) or 0,
    )
