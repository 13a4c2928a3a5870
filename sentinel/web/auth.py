"""Login, logout, changing one's own password, and the session rules.

Session rules, checked on every page request: the session must have been issued under
the user's current session epoch (deactivation and password resets move it on), must
have seen activity within ``SESSION_IDLE_MINUTES`` and be younger than
``SESSION_MAX_HOURS``; a user whose password was reset must change it before anything
else.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from sentinel.auth.permissions import current_actor
from sentinel.errors import json_error
from sentinel.extensions import db, limiter
from sentinel.models import User
from sentinel.services import users
from sentinel.web.forms import submit

bp = Blueprint("auth", __name__)

# Session keys: when the user logged in, and their last activity (Unix seconds).
LOGIN_AT = "_login_at"
SEEN_AT = "_seen_at"
# Activity is written back at most this often, so not every response rewrites the cookie.
SEEN_RESOLUTION_S = 15
# Pages a user who must change their password may still reach.
_PASSWORD_CHANGE_ALLOWED = {"auth.change_password", "auth.logout", "auth.login", "static"}


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _failed_login(response: Response) -> bool:
    # Only failures count against the client IP: an office behind one NAT address logs
    # in dozens of times each morning and must never lock itself out.
    return response.status_code == 401


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


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: the active user whose session epoch the session carries.

    The session holds ``"<id>:<epoch>"`` (``User.get_id``); a session from before a
    deactivation, password reset or password change no longer matches and is refused."""
    raw_id, sep, raw_epoch = str(user_id).partition(":")
    if not sep or not raw_id.isdigit() or not raw_epoch.isdigit():
        return None
    user = db.session.get(User, int(raw_id))
    if user is None or not user.active or user.session_epoch != int(raw_epoch):
        return None
    return user


def _start_session(user: User) -> None:
    login_user(user)
    now = int(time.time())
    session[LOGIN_AT] = now
    session[SEEN_AT] = now


def _end_session() -> None:
    logout_user()
    session.pop(LOGIN_AT, None)
    session.pop(SEEN_AT, None)


def _is_background_poll() -> bool:
    # The triage feed and import progress poll with fetch() asking for JSON; that is the
    # page talking to itself, not the person, so it must not keep an idle session alive.
    return request.method == "GET" and request.accept_mimetypes.best == "application/json"


def _expiry_reason(now: int) -> str | None:
    cfg = current_app.config
    seen = session.get(SEEN_AT)
    started = session.get(LOGIN_AT)
    if not isinstance(seen, int) or not isinstance(started, int):
        return "unknown"  # a session issued before these rules, or tampered with
    idle = int(cfg.get("SESSION_IDLE_MINUTES") or 0) * 60
    lifetime = int(cfg.get("SESSION_MAX_HOURS") or 0) * 3600
    if idle and now - seen > idle:
        return "idle"
    if lifetime and now - started > lifetime:
        return "lifetime"
    return None


EXPIRED_MESSAGES = {
    "idle": "长时间未操作，已自动退出，请重新登录",
    "lifetime": "登录已超过最长有效期，请重新登录",
    "unknown": "登录状态已失效，请重新登录",
}


@bp.before_app_request
def enforce_session_rules() -> Any:
    """Idle timeout, absolute lifetime and the forced password change, for every page."""
    if request.endpoint in (None, "static") or request.blueprint == "api":
        return None  # the API authenticates with bearer tokens, not this session
    if not current_user.is_authenticated:
        return None
    now = int(time.time())
    reason = _expiry_reason(now)
    if reason is not None:
        users.record_session_expired(current_actor(), current_user.id, reason)
        db.session.commit()
        _end_session()
        message = EXPIRED_MESSAGES[reason]
        if request.accept_mimetypes.best == "application/json":
            return json_error(401, "unauthorized", message)
        flash(message, "warning")
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("auth.login", next=_safe_next(target)))
    if not _is_background_poll() and now - session[SEEN_AT] >= SEEN_RESOLUTION_S:
        session[SEEN_AT] = now
    if current_user.must_change_password and request.endpoint not in _PASSWORD_CHANGE_ALLOWED:
        if request.accept_mimetypes.best == "application/json":
            return json_error(403, "forbidden", "请先修改密码")
        # The page itself says why (no flash: it would repeat on every redirect).
        return redirect(url_for("auth.change_password"))
    return None


@bp.route("/")
def index() -> Any:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _login_limit,
    methods=["POST"],
    error_message="登录失败次数过多，请稍后再试",
    deduct_when=_failed_login,
)
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    error = None
    if request.method == "POST":
        result = users.login(
            current_actor(), request.form.get("username", ""), request.form.get("password", "")
        )
        db.session.commit()
        if result.user is None:
            error = result.message
        else:
            user = result.user
            _start_session(user)
            if user.must_change_password:
                return redirect(url_for("auth.change_password"))
            flash(f"欢迎，{user.label}（{user.role_label}）", "success")
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    users.record_logout(current_actor(), current_user)
    db.session.commit()
    _end_session()
    flash("已退出登录", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    """修改密码: every logged-in user, and the forced change after a reset."""
    user: User = current_user._get_current_object()
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            flash("两次输入的新密码不一致", "danger")
        elif submit(
            lambda: users.change_password(
                current_actor(), user, request.form.get("current_password", ""), new
            ),
            "密码已修改，其他设备上的登录已退出",
        ):
            # The epoch moved on: keep this session by issuing it under the new one.
            login_user(user)
            return redirect(home_for(user))
    return render_template(
        "auth/change_password.html",
        forced=user.must_change_password,
        min_length=users.min_password_length(),
    )
