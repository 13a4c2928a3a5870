"""Users: the account lifecycle an administrator expects, and login checks.

Create, edit role and units, deactivate/reactivate, reset a password (forced change at
next login), change one's own password, and the per-account lockout after repeated
failed logins. Every change is audited with the actor; passwords never are.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from sentinel.auth.permissions import ALL_ROLES, Actor
from sentinel.errors import Conflict, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Unit, User, utcnow
from sentinel.models.unit import tree_order
from sentinel.services import audit
from sentinel.timefmt import format_local

# Defaults when no application is around (the settings of the same names win).
DEFAULT_MIN_PASSWORD_LENGTH = 8
DEFAULT_LOCKOUT_THRESHOLD = 5
DEFAULT_LOCKOUT_WINDOW_MINUTES = 15
DEFAULT_LOCKOUT_MINUTES = 15

# Generated temporary passwords: no 0/O, 1/l/I, so they can be read out over the phone.
_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 (an alphabet, not a password)
GENERATED_PASSWORD_LENGTH = 12

# A real hash to compare against when the user does not exist, so the response time
# does not tell an attacker which usernames exist.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def _setting(name: str, default: int) -> int:
    if has_app_context():
        return int(current_app.config.get(name, default))
    return default


def min_password_length() -> int:
    """The configured minimum password length (``PASSWORD_MIN_LENGTH``)."""
    return _setting("PASSWORD_MIN_LENGTH", DEFAULT_MIN_PASSWORD_LENGTH)


def check_password_policy(password: str, username: str) -> None:
    """Raise ``ValidationFailed`` when the password breaks the policy: at least
    ``PASSWORD_MIN_LENGTH`` characters and not the username (in any letter case)."""
    minimum = min_password_length()
    if len(password) < minimum:
        raise ValidationFailed(f"密码至少 {minimum} 位")
    if password.strip().lower() == username.strip().lower():
        raise ValidationFailed("密码不能与用户名相同")


def generate_password() -> str:
    """A random temporary password that satisfies the policy."""
    length = max(GENERATED_PASSWORD_LENGTH, min_password_length())
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def get_user(user_id: int) -> User:
    """The user with this id, or ``NotFound``."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("用户不存在")
    return user


def get_user_by_username(username: str) -> User:
    """The user with this username (any letter case), or ``NotFound``."""
    user = _find(username)
    if user is None:
        raise NotFound(f"用户“{username.strip()}”不存在")
    return user


def _find(username: str) -> User | None:
    return db.session.scalar(
        select(User).where(func.lower(User.username) == username.strip().lower())
    )


def units_in_tree_order(units: Iterable[Unit]) -> list[Unit]:
    """Units sorted by the unit tree (a parent before its children; ``Unit.path`` holds
    ids as text, so ``models.unit.tree_order`` compares the numbers)."""
    return tree_order(units)


def _validate_role_and_units(role: str, units: list[Unit]) -> None:
    if role not in ALL_ROLES:
        raise ValidationFailed(f"未知角色：{role}（可选：{', '.join(sorted(ALL_ROLES))}）")
    if role != "admin" and not units:
        raise ValidationFailed("非管理员用户必须属于至少一个单位")


def _other_active_admins(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == "admin", User.active, User.id != user.id)
        )
        or 0
    )


def create_user(
    actor: Actor,
    username: str,
    password: str,
    role: str,
    units: list[Unit],
    display_name: str = "",
    email: str | None = None,
    *,
    must_change_password: bool = False,
) -> User:
    """Create a user with a hashed password, a role and unit memberships.

    ``must_change_password`` makes the first login ask for a new password (for an
    initial password the administrator chose and handed over)."""
    username = username.strip()
    if not username:
        raise ValidationFailed("用户名不能为空")
    _validate_role_and_units(role, units)
    check_password_policy(password, username)
    if _find(username) is not None:
        raise Conflict(f"用户名“{username}”已存在")
    user = User(
        username=username,
        display_name=(display_name or "").strip() or username,
        password_hash=generate_password_hash(password),
        role=role,
        email=(email or "").strip() or None,
        units=units_in_tree_order(set(units)),
        must_change_password=must_change_password,
        session_epoch=0,
        failed_logins=0,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        actor,
        "user.create",
        "user",
        user.id,
        role=role,
        unit_ids=sorted(u.id for u in user.units),
        must_change_password=must_change_password,
    )
    return user


def update_user(
    actor: Actor,
    user: User,
    *,
    role: str,
    units: list[Unit],
    display_name: str | None = None,
    email: str | None = None,
) -> User:
    """Change a user's role, units and (when given) display name and e-mail.

    The last active administrator cannot be demoted, so the office is never left
    without anyone who can manage accounts."""
    _validate_role_and_units(role, units)
    if user.role == "admin" and role != "admin" and user.active and not _other_active_admins(user):
        raise Conflict("这是最后一个启用的管理员，不能改为其他角色")
    changes: dict[str, object] = {}
    if role != user.role:
        changes["role"] = [user.role, role]
        user.role = role
    old_ids = sorted(u.id for u in user.units)
    new_ids = sorted({u.id for u in units})
    if old_ids != new_ids:
        changes["unit_ids"] = [old_ids, new_ids]
        user.units = units_in_tree_order(set(units))
    if display_name is not None:
        name = display_name.strip() or user.username
        if name != user.display_name:
            changes["display_name"] = True  # a name is personal data: log that it changed
            user.display_name = name
    if email is not None:
        value = email.strip() or None
        if value != user.email:
            changes["email"] = True
            user.email = value
    if changes:
        audit.record(actor, "user.update", "user", user.id, **changes)
    db.session.flush()
    return user


def set_role(actor: Actor, user: User, role: str) -> User:
    """Change only the role (the CLI's ``user set-role``)."""
    return update_user(actor, user, role=role, units=list(user.units))


def set_units(actor: Actor, user: User, units: list[Unit]) -> User:
    """Replace the user's units (the CLI's ``user set-units``)."""
    return update_user(actor, user, role=user.role, units=units)


def _end_sessions(user: User) -> None:
    # Every session carries the epoch it was issued under; moving it on refuses them all
    # on their next request (see User.get_id and web.auth.load_user).
    user.session_epoch = (user.session_epoch or 0) + 1


def deactivate_user(actor: Actor, user: User) -> User:
    """Deactivate a user: they cannot log in and their live sessions end at once."""
    if actor.user_id is not None and actor.user_id == user.id:
        raise Conflict("不能停用自己的账号")
    if not user.active:
        raise Conflict(f"用户“{user.username}”已是停用状态")
    if user.role == "admin" and not _other_active_admins(user):
        raise Conflict("这是最后一个启用的管理员，不能停用")
    user.active = False
    _end_sessions(user)
    audit.record(actor, "user.deactivate", "user", user.id)
    db.session.flush()
    return user


def activate_user(actor: Actor, user: User) -> User:
    """Reactivate a deactivated user (any lockout is cleared too)."""
    if user.active:
        raise Conflict(f"用户“{user.username}”已是启用状态")
    user.active = True
    _clear_lockout(user)
    audit.record(actor, "user.activate", "user", user.id)
    db.session.flush()
    return user


def reset_password(actor: Actor, user: User, new_password: str | None = None) -> str:
    """Give the user a temporary password (``new_password``, or a generated one) and
    return it so it can be shown once. The user must choose a new password at the next
    login; their live sessions end and any lockout is cleared."""
    generated = not new_password
    password = generate_password() if generated else str(new_password)
    check_password_policy(password, user.username)
    user.password_hash = generate_password_hash(password)
    user.must_change_password = True
    user.password_changed_at = utcnow()
    _end_sessions(user)
    _clear_lockout(user)
    audit.record(actor, "user.password_reset", "user", user.id, generated=generated)
    db.session.flush()
    return password


def change_password(actor: Actor, user: User, current: str, new: str) -> User:
    """The user changes their own password: the current one must match, the new one
    must satisfy the policy and differ from it. Their other sessions end; the caller
    logs the current session in again under the new epoch."""
    if not check_password_hash(user.password_hash, current):
        raise ValidationFailed("当前密码不正确")
    check_password_policy(new, user.username)
    if new == current:
        raise ValidationFailed("新密码不能与当前密码相同")
    user.password_hash = generate_password_hash(new)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    _end_sessions(user)
    audit.record(actor, "user.password_change", "user", user.id)
    db.session.flush()
    return user


def _clear_lockout(user: User) -> None:
    user.failed_logins = 0
    user.failed_window_start = None
    user.locked_until = None


def unlock_user(actor: Actor, user: User) -> User:
    """Lift a login lockout and forget the failures counted so far."""
    was_locked = user.is_locked()
    _clear_lockout(user)
    audit.record(actor, "user.unlock", "user", user.id, was_locked=was_locked)
    db.session.flush()
    return user


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login attempt: ``user`` on success, else ``message`` to show."""

    user: User | None
    message: str = ""
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None


BAD_CREDENTIALS = "用户名或密码错误"


def locked_message(until: datetime) -> str:
    """The Chinese message for a locked account, saying until when (Beijing time)."""
    return (
        f"该账号因多次密码错误已被锁定，请于 {format_local(until)}（北京时间）后再试，"
        "或联系管理员解锁"
    )


def login(actor: Actor, username: str, password: str) -> LoginResult:
    """Check a login attempt and record it.

    A wrong password counts against the account: ``LOGIN_LOCKOUT_THRESHOLD`` failures
    within ``LOGIN_LOCKOUT_WINDOW_MINUTES`` lock it for ``LOGIN_LOCKOUT_MINUTES``.
    While locked even the right password is refused, with a message saying until when.
    A success clears the count. ``actor`` is the anonymous requester (for the IP)."""
    now = utcnow()
    user = _find(username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        # No username in the log: it may be personal data or a mistyped password.
        audit.record(actor, "user.login_failed", "user", None, reason="unknown")
        return LoginResult(None, BAD_CREDENTIALS)
    if user.is_locked(now):
        check_password_hash(_DUMMY_HASH, password)  # same time as any other attempt
        audit.record(actor, "user.login_failed", "user", user.id, reason="locked")
        assert user.locked_until is not None
        return LoginResult(None, locked_message(user.locked_until), user.locked_until)
    if not check_password_hash(user.password_hash, password):
        return _count_failure(actor, user, now)
    if not user.active:
        audit.record(actor, "user.login_failed", "user", user.id, reason="inactive")
        return LoginResult(None, BAD_CREDENTIALS)
    _clear_lockout(user)
    user.last_login_at = now
    audit.record(Actor.for_user(user, actor.ip), "user.login", "user", user.id)
    return LoginResult(user)


def _count_failure(actor: Actor, user: User, now: datetime) -> LoginResult:
    # Lock the row so concurrent failures against one account are all counted.
    db.session.refresh(user, with_for_update=True)
    window = timedelta(minutes=_setting("LOGIN_LOCKOUT_WINDOW_MINUTES", 15))
    if user.failed_window_start is None or now - user.failed_window_start > window:
        user.failed_window_start = now
        user.failed_logins = 0
    user.failed_logins = (user.failed_logins or 0) + 1
    audit.record(
        actor, "user.login_failed", "user", user.id, reason="password", count=user.failed_logins
    )
    threshold = _setting("LOGIN_LOCKOUT_THRESHOLD", DEFAULT_LOCKOUT_THRESHOLD)
    if threshold > 0 and user.failed_logins >= threshold:
        until = now + timedelta(minutes=_setting("LOGIN_LOCKOUT_MINUTES", 15))
        user.locked_until = until
        user.failed_logins = 0
        user.failed_window_start = None
        audit.record(actor, "user.locked", "user", user.id, until=until.isoformat())
        return LoginResult(None, locked_message(until), until)
    return LoginResult(None, BAD_CREDENTIALS)


def record_logout(actor: Actor, user: User) -> None:
    """Audit a logout."""
    audit.record(actor, "user.logout", "user", user.id)


def record_session_expired(actor: Actor, user_id: int, reason: str) -> None:
    """Audit a session ended by the idle timeout or the absolute lifetime."""
    audit.record(actor, "user.session_expired", "user", user_id, reason=reason)


def list_users() -> list[User]:
    """Every user, administrators first, then by username."""
    users = db.session.scalars(select(User).order_by(User.username)).all()
    return sorted(users, key=lambda u: (u.role != "admin", not u.active, u.username.lower()))
