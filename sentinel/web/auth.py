"""Login and logout."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from sentinel.auth.permissions import Actor, current_actor
from sentinel.extensions import db, limiter
from sentinel.services import users

bp = Blueprint("auth", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    # Only same-site paths: never redirect to another host after login.
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user: Any) -> str:
    if user.role == "handler":
        return url_for("inbox.index")
    return url_for("triage.index")


@bp.route("/")
def index() -> Any:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], error_message="登录尝试过于频繁，请稍后再试")
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    error = None
    if request.method == "POST":
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        user = users.authenticate(username, password)
        if user is None:
            users.record_failed_login(current_actor())
            db.session.commit()
            error = "用户名或密码错误"
        else:
            login_user(user)
            users.record_login(Actor.for_user(user, request.remote_addr), user)
            db.session.commit()
            flash(f"欢迎，{user.label}（{user.role_label}）", "success")
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    from sentinel.services import audit

    audit.record(current_actor(), "user.logout", "user", current_user.id)
    db.session.commit()
    logout_user()
    flash("已退出登录", "info")
    return redirect(url_for("auth.login"))
