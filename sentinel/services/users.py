"""Users: creation and password checks."""

from __future__ import annotations

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from sentinel.auth.permissions import ALL_ROLES, Actor
from sentinel.errors import Conflict, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Unit, User, utcnow
from sentinel.services import audit

MIN_PASSWORD_LENGTH = 8

# A real hash to compare against when the user does not exist, so the response time
# does not tell an attacker which usernames exist.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def create_user(
    actor: Actor,
    username: str,
    password: str,
    role: str,
    units: list[Unit],
    display_name: str = "",
    email: str | None = None,
) -> User:
    """Create a user with a hashed password, a role and unit memberships."""
    username = username.strip()
    if not username:
        raise ValidationFailed("用户名不能为空")
    if role not in ALL_ROLES:
        raise ValidationFailed(f"未知角色：{role}（可选：{', '.join(sorted(ALL_ROLES))}）")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"密码至少 {MIN_PASSWORD_LENGTH} 位")
    if role != "admin" and not units:
        raise ValidationFailed("非管理员用户必须属于至少一个单位")
    exists = db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower()))
    if exists:
        raise Conflict(f"用户名“{username}”已存在")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=generate_password_hash(password),
        role=role,
        email=email,
        units=list(units),
    )
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", "user", user.id, role=role, unit_ids=[u.id for u in units])
    return user


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    user = db.session.scalar(
        select(User).where(func.lower(User.username) == username.strip().lower())
    )
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def record_login(actor: Actor, user: User) -> None:
    user.last_login_at = utcnow()
    audit.record(actor, "user.login", "user", user.id)


def record_failed_login(actor: Actor) -> None:
    # No username in the log: it may be personal data or a mistyped password.
    audit.record(actor, "user.login_failed", "user", None)
