"""The account lifecycle: admin pages, password changes, lockout, sessions and the CLI.

Forms are posted with CSRF protection on, as a browser would.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from sentinel.extensions import db
from sentinel.models import AuditEvent, User, utcnow
from sentinel.web.auth import LOGIN_AT, SEEN_AT
from tests.conftest import PASSWORD, REDIS_URL, Office

NEW_PASSWORD = "brand-new-secret-7"


@pytest.fixture
def app_config(app_config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """CSRF on for every test here; ``@with_login_limiter`` turns the login limiter on
    (on the test Redis when there is one, else in memory)."""
    config = {**app_config, "WTF_CSRF_ENABLED": True}
    if getattr(request.function, "login_limiter", False):
        config["RATELIMIT_ENABLED"] = True
        config["RATELIMIT_STORAGE_URI"] = REDIS_URL or "memory://"
    return config


def with_login_limiter(test: Any) -> Any:
    test.login_limiter = True
    return test


@pytest.fixture(autouse=True)
def _fresh_limiter(app: Flask) -> Any:
    yield
    from sentinel.extensions import limiter

    if app.config.get("RATELIMIT_ENABLED"):
        limiter.reset()


class Browser:
    """One person's browser: its own cookies and IP address; every form carries the
    CSRF token of the page it came from."""

    def __init__(self, app: Flask, ip: str = "10.0.0.1") -> None:
        self.app = app
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = ip

    def open(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        # The test's own app context stays pushed, and a request reuses an active one:
        # its ``g`` (Flask-Login's user, Flask-WTF's token) would leak between browsers.
        # Each request gets a fresh context, as in a real server; the test's session ends
        # its read transaction first so the request can write (SQLite).
        db.session.rollback()
        with self.app.app_context():
            return self.client.open(path, method=method, **kwargs)

    def token(self) -> str:
        page = self.open("/login", follow_redirects=True).get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(
            r'name="csrf-token" content="([^"]+)"', page
        )
        assert match, "no CSRF token on the page"
        return match.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        data = {**(data or {}), "csrf_token": self.token()}
        return self.open(path, "POST", data=data, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.open(path, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> Any:
        return self.post("/login", {"username": username, "password": password})

    def logout(self) -> Any:
        return self.post("/logout")


def _user(name: str) -> User:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.username == name)).one()


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _admin(app: Flask) -> Browser:
    admin = Browser(app, "10.0.0.99")
    assert admin.login("admin").status_code == 302
    return admin


# --- admin: create, edit, deactivate, reset, unlock ---------------------------------------


def test_admin_creates_a_user_with_units_and_a_forced_first_password_change(app, office):
    admin = _admin(app)
    response = admin.post(
        "/admin/users",
        {
            "username": "zhang",
            "display_name": "张三",
            "password": "first-pass-123",
            "role": "handler",
            "unit_ids": [str(office.edu.id), str(office.health.id)],
            "must_change_password": "1",
        },
    )
    assert response.status_code == 302
    user = _user("zhang")
    assert user.role == "handler" and user.must_change_password
    assert sorted(u.name for u in user.units) == ["县卫健局", "县教育局"]
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "zhang" in page and "待改密码" in page
    event = _audit("user.create")[-1]
    assert event.object_id == user.id and event.ip == "10.0.0.99"
    assert "first-pass-123" not in str(event.data)


def test_the_unit_picker_lists_units_in_tree_order(app, office):
    from sentinel.services import units

    # Created after the departments, but sits under the county: listed right below it.
    section = units.create_unit(office.actor("admin"), "县教育局办公室", "section", office.edu)
    db.session.commit()
    page = _admin(app).get(f"/admin/users/{office.users['duty'].id}").get_data(as_text=True)
    order = [page.index(name) for name in ("测试县政府办", "县教育局", section.name, "县卫健局")]
    assert order == sorted(order)


def test_admin_changes_role_and_units(app, office):
    admin = _admin(app)
    handler = office.users["edu_handler"]
    response = admin.post(
        f"/admin/users/{handler.id}",
        {
            "role": "duty_officer",
            "unit_ids": [str(office.root.id)],
            "display_name": "王五",
            "email": "",
        },
    )
    assert response.status_code == 302
    user = _user("edu_handler")
    assert user.role == "duty_officer" and [u.name for u in user.units] == ["测试县政府办"]
    event = _audit("user.update")[-1]
    assert event.data["role"] == ["handler", "duty_officer"]
    assert event.data["unit_ids"] == [[office.edu.id], [office.root.id]]
    assert "王五" not in str(event.data)  # names are personal data: only "changed"


def test_a_non_admin_needs_a_unit(app, office):
    admin = _admin(app)
    handler = office.users["edu_handler"]
    response = admin.post(f"/admin/users/{handler.id}", {"role": "handler"}, follow_redirects=True)
    assert "非管理员用户必须属于至少一个单位" in response.get_data(as_text=True)
    assert [u.name for u in _user("edu_handler").units] == ["县教育局"]


def test_deactivated_users_existing_session_is_refused_on_the_next_request(app, office):
    handler = Browser(app, "10.0.0.5")
    handler.login("edu_handler")
    assert handler.get("/inbox/").status_code == 200
    admin = _admin(app)
    user_id = office.users["edu_handler"].id
    response = admin.post(f"/admin/users/{user_id}/deactivate", follow_redirects=True)
    assert "已停用用户" in response.get_data(as_text=True)

    response = handler.get("/inbox/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = handler.login("edu_handler")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert _audit("user.deactivate")[-1].object_id == user_id

    admin.post(f"/admin/users/{user_id}/activate")
    assert _user("edu_handler").active
    assert handler.login("edu_handler").status_code == 302
    assert handler.get("/inbox/").status_code == 200
    assert _audit("user.activate")


def test_the_last_admin_cannot_be_deactivated_or_demoted(app, office):
    admin = _admin(app)
    me = office.users["admin"].id
    body = admin.post(f"/admin/users/{me}/deactivate", follow_redirects=True).get_data(as_text=True)
    assert "不能停用自己的账号" in body
    body = admin.post(
        f"/admin/users/{me}",
        {"role": "duty_officer", "unit_ids": [str(office.root.id)]},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "最后一个启用的管理员" in body
    assert _user("admin").role == "admin" and _user("admin").active


def test_reset_password_shows_a_generated_password_once_and_forces_a_change(app, office):
    handler = Browser(app, "10.0.0.5")
    handler.login("edu_handler")
    admin = _admin(app)
    user_id = office.users["edu_handler"].id
    response = admin.post(f"/admin/users/{user_id}/reset-password", {"password": ""})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    temporary = re.search(
        r'<code class="token" id="temp-password">([^<]+)</code>', response.get_data(as_text=True)
    ).group(1)
    assert len(temporary) >= 12
    # Shown once: the user page itself does not show it again.
    assert temporary not in admin.get(f"/admin/users/{user_id}").get_data(as_text=True)
    event = _audit("user.password_reset")[-1]
    assert event.data == {"generated": True}

    # The reset ended the user's session; the old password no longer works.
    assert handler.get("/inbox/").status_code == 302
    assert handler.login("edu_handler").status_code == 401
    response = handler.login("edu_handler", temporary)
    assert response.headers["Location"].endswith("/password")
    # Nothing else until the password is changed.
    response = handler.get("/inbox/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/password")
    response = handler.post(
        "/password",
        {
            "current_password": temporary,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert handler.get("/inbox/").status_code == 200
    assert not _user("edu_handler").must_change_password
    handler.logout()
    assert handler.login("edu_handler", temporary).status_code == 401
    assert handler.login("edu_handler", NEW_PASSWORD).status_code == 302


def test_admin_may_choose_the_temporary_password_within_the_policy(app, office):
    admin = _admin(app)
    user_id = office.users["duty"].id
    body = admin.post(
        f"/admin/users/{user_id}/reset-password", {"password": "short"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "密码至少 8 位" in body
    response = admin.post(f"/admin/users/{user_id}/reset-password", {"password": "chosen-temp-1"})
    assert "chosen-temp-1" in response.get_data(as_text=True)
    assert _audit("user.password_reset")[-1].data == {"generated": False}
    assert Browser(app).login("duty", "chosen-temp-1").headers["Location"].endswith("/password")


# --- self-service password change ---------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong-password", NEW_PASSWORD, NEW_PASSWORD, "当前密码不正确"),
        (PASSWORD, "short", "short", "密码至少 8 位"),
        (PASSWORD, "Edu_Handler", "Edu_Handler", "密码不能与用户名相同"),
        (PASSWORD, PASSWORD, PASSWORD, "新密码不能与当前密码相同"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "两次输入的新密码不一致"),
    ],
)
def test_change_password_enforces_the_policy(app, office, current, new, confirm, message):
    me = Browser(app)
    me.login("edu_handler")
    response = me.post(
        "/password",
        {"current_password": current, "new_password": new, "confirm_password": confirm},
        follow_redirects=True,
    )
    assert message in response.get_data(as_text=True)
    me.logout()
    assert me.login("edu_handler").status_code == 302  # unchanged


def test_the_minimum_length_is_a_setting(app, office):
    app.config["PASSWORD_MIN_LENGTH"] = 20
    me = Browser(app)
    me.login("duty")
    body = me.post(
        "/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "密码至少 20 位" in body


def test_changing_ones_password_ends_other_sessions_but_keeps_this_one(app, office):
    laptop, phone = Browser(app, "10.0.0.7"), Browser(app, "10.0.0.8")
    laptop.login("duty")
    phone.login("duty")
    response = laptop.post(
        "/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert laptop.get("/triage/").status_code == 200
    assert phone.get("/triage/").status_code == 302
    assert _audit("user.password_change")[-1].object_id == office.users["duty"].id
    every_event = " ".join(str(e.data) for e in db.session.scalars(select(AuditEvent)))
    assert NEW_PASSWORD not in every_event and PASSWORD not in every_event


# --- per-account lockout -------------------------------------------------------------------


def test_repeated_failures_lock_the_account_with_a_clear_message(app, office):
    attacker = Browser(app, "10.0.0.66")
    codes = [attacker.login("duty", f"guess-{i}").status_code for i in range(4)]
    assert codes == [401] * 4
    body = attacker.login("duty", "guess-5").get_data(as_text=True)
    assert "该账号因多次密码错误已被锁定" in body and "北京时间" in body
    until = _user("duty").locked_until
    assert until is not None and until > utcnow() + timedelta(minutes=14)
    # The right password from someone else's machine is refused too, until the time shown.
    response = Browser(app, "10.0.0.8").login("duty")
    assert response.status_code == 401 and "已被锁定" in response.get_data(as_text=True)
    from sentinel.timefmt import format_local

    assert format_local(until) in response.get_data(as_text=True)
    assert _audit("user.locked")[-1].object_id == office.users["duty"].id
    page = _admin(app).get("/admin/users").get_data(as_text=True)
    assert format_local(until) in page  # the admin list shows locked-until


def test_admin_unlocks_a_locked_account(app, office):
    for i in range(5):
        Browser(app, "10.0.0.66").login("duty", f"guess-{i}")
    assert _user("duty").locked_until is not None
    admin = _admin(app)
    admin.post(f"/admin/users/{office.users['duty'].id}/unlock")
    assert _user("duty").locked_until is None
    assert Browser(app).login("duty").status_code == 302
    assert _audit("user.unlock")[-1].data == {"was_locked": True}


def test_the_lock_expires_and_old_failures_fall_out_of_the_window(app, office):
    for i in range(5):
        Browser(app).login("duty", f"guess-{i}")
    user = _user("duty")
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert Browser(app).login("duty").status_code == 302
    # Four failures, then the window passes: the next failure starts a new count.
    for i in range(4):
        Browser(app).login("duty", f"again-{i}")
    user = _user("duty")
    user.failed_window_start = utcnow() - timedelta(minutes=16)
    db.session.commit()
    Browser(app).login("duty", "one-more")
    user = _user("duty")
    assert user.locked_until is None and user.failed_logins == 1


def test_a_success_resets_the_failure_count(app, office):
    for i in range(4):
        Browser(app).login("duty", f"guess-{i}")
    Browser(app).login("duty")
    Browser(app).login("duty", "guess-again")
    assert _user("duty").locked_until is None and _user("duty").failed_logins == 1


# --- per-IP throttle: failures only ----------------------------------------------------------


@with_login_limiter
def test_successful_logins_from_one_office_ip_never_lock_it_out(app, office):
    """Thirty colleagues behind one NAT address log in each morning (the limit is 10 a
    minute): successes do not count against the address."""
    for _ in range(15):
        for name in ("duty", "leader"):
            person = Browser(app, "203.0.113.10")
            assert person.login(name).status_code == 302
            person.logout()


@with_login_limiter
def test_failed_logins_from_one_ip_are_throttled(app, office):
    guesser = Browser(app, "198.51.100.7")
    # Unknown usernames: no account to lock, so only the address limit stops the spray.
    codes = [guesser.login(f"nobody{i}", "x-password").status_code for i in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    response = guesser.login("duty")
    assert response.status_code == 429
    assert "操作过于频繁" in response.get_data(as_text=True)
    # Another address is not affected.
    assert Browser(app, "198.51.100.8").login("duty").status_code == 302


# --- sessions: idle timeout, lifetime, cookie -------------------------------------------------


def _age_session(browser: Browser, *, seen_ago: int = 0, login_ago: int = 0) -> None:
    with browser.client.session_transaction() as sess:
        now = int(time.time())
        sess[SEEN_AT] = now - seen_ago
        sess[LOGIN_AT] = now - login_ago


def test_an_idle_session_ends(app, office):
    me = Browser(app)
    me.login("duty")
    _age_session(me, seen_ago=29 * 60, login_ago=29 * 60)
    assert me.get("/triage/").status_code == 200  # 29 idle minutes: still in
    _age_session(me, seen_ago=31 * 60, login_ago=60 * 60)
    response = me.get("/triage/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "长时间未操作" in me.get("/login").get_data(as_text=True)
    assert me.get("/triage/").status_code == 302
    assert _audit("user.session_expired")[-1].data == {"reason": "idle"}


def test_the_idle_timeout_is_a_setting(app, office):
    app.config["SESSION_IDLE_MINUTES"] = 5
    me = Browser(app)
    me.login("duty")
    _age_session(me, seen_ago=6 * 60, login_ago=6 * 60)
    assert me.get("/triage/").status_code == 302


def test_activity_keeps_a_session_alive_but_polling_does_not(app, office):
    me = Browser(app)
    me.login("duty")
    _age_session(me, seen_ago=20 * 60, login_ago=20 * 60)
    # The triage page polls its feed asking for JSON: not the person's activity.
    assert me.get("/triage/feed?after=0", headers={"Accept": "application/json"}).status_code == 200
    with me.client.session_transaction() as sess:
        assert int(time.time()) - sess[SEEN_AT] >= 20 * 60
    assert me.get("/triage/").status_code == 200
    with me.client.session_transaction() as sess:
        assert int(time.time()) - sess[SEEN_AT] < 5
    _age_session(me, seen_ago=31 * 60, login_ago=31 * 60)
    response = me.get("/triage/feed?after=0", headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_a_session_ends_after_its_absolute_lifetime(app, office):
    me = Browser(app)
    me.login("duty")
    _age_session(me, seen_ago=0, login_ago=13 * 3600)
    assert me.get("/triage/").status_code == 302
    assert _audit("user.session_expired")[-1].data == {"reason": "lifetime"}


def test_session_cookie_flags(app, office):
    app.config["SESSION_COOKIE_SECURE"] = True
    me = Browser(app)
    cookies = me.login("duty").headers.getlist("Set-Cookie")
    cookie = next(c for c in cookies if c.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookie_secure_and_idle_minutes_come_from_the_environment(monkeypatch, tmp_path):
    from sentinel import create_app

    monkeypatch.setenv("SENTINEL_SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("SENTINEL_SESSION_IDLE_MINUTES", "10")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_IDLE_MINUTES"] == 10
    monkeypatch.delenv("SENTINEL_SESSION_COOKIE_SECURE")
    default = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    assert default.config["SESSION_COOKIE_SECURE"] is False
    assert default.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_a_session_without_an_epoch_is_refused(app, office):
    me = Browser(app)
    me.login("duty")
    with me.client.session_transaction() as sess:
        sess["_user_id"] = str(office.users["duty"].id)  # the format before epochs
    assert me.get("/triage/").status_code == 302


# --- permissions of the new pages ------------------------------------------------------------

NEW_ADMIN_ROUTES = [
    ("GET", "/admin/users/{id}"),
    ("POST", "/admin/users/{id}"),
    ("POST", "/admin/users/{id}/deactivate"),
    ("POST", "/admin/users/{id}/activate"),
    ("POST", "/admin/users/{id}/unlock"),
    ("POST", "/admin/users/{id}/reset-password"),
]


@pytest.mark.parametrize(("method", "path"), NEW_ADMIN_ROUTES)
def test_only_admins_manage_users(app, office, method, path):
    target = office.users["edu_handler"].id
    duty = Browser(app)
    duty.login("duty")
    url = path.format(id=target)
    response = duty.get(url) if method == "GET" else duty.post(url)
    assert response.status_code == 403
    user = _user("edu_handler")
    assert user.active and user.session_epoch == 0 and not user.must_change_password
    anonymous = Browser(app)
    response = anonymous.get(url) if method == "GET" else anonymous.post(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_post_without_csrf_token_is_refused(app, office):
    admin = _admin(app)
    response = admin.open(f"/admin/users/{office.users['duty'].id}/deactivate", "POST")
    assert response.status_code == 400 and _user("duty").active


# --- command line ----------------------------------------------------------------------------


def test_cli_user_commands(runner, office: Office):
    result = runner.invoke(args=["user", "--help"])
    for command in (
        "list",
        "set-role",
        "set-units",
        "deactivate",
        "activate",
        "reset-password",
        "unlock",
    ):
        assert command in result.output

    result = runner.invoke(args=["user", "set-role", "edu_handler", "duty_officer"])
    assert result.exit_code == 0, result.output
    assert _user("edu_handler").role == "duty_officer"
    result = runner.invoke(args=["user", "set-units", "edu_handler", "县卫健局", "县教育局"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("县教育局、县卫健局")  # tree order
    result = runner.invoke(args=["user", "set-units", "edu_handler"])
    assert result.exit_code != 0 and "至少一个单位" in result.output

    assert runner.invoke(args=["user", "deactivate", "edu_handler"]).exit_code == 0
    assert not _user("edu_handler").active
    assert "停用" in runner.invoke(args=["user", "list"]).output
    assert runner.invoke(args=["user", "activate", "edu_handler"]).exit_code == 0
    assert _user("edu_handler").active

    result = runner.invoke(args=["user", "reset-password", "edu_handler"])
    assert result.exit_code == 0, result.output
    temporary = result.output.strip().splitlines()[-1]
    assert _user("edu_handler").must_change_password
    result = runner.invoke(
        args=["user", "reset-password", "duty", "--password-stdin"], input="chosen-temp-9\n"
    )
    assert result.exit_code == 0 and "chosen-temp-9" not in result.output

    user = _user("leader")
    user.locked_until = utcnow() + timedelta(minutes=10)
    db.session.commit()
    listing = runner.invoke(args=["user", "list"]).output
    leader_line = next(line for line in listing.splitlines() if line.startswith("leader\t"))
    assert not leader_line.endswith("\t-")  # shows until when it is locked
    assert runner.invoke(args=["user", "unlock", "leader"]).exit_code == 0
    assert _user("leader").locked_until is None

    result = runner.invoke(
        args=[
            "create-user",
            "li",
            "--role",
            "handler",
            "--unit",
            "县教育局",
            "--must-change-password",
        ],
        input="initial-pass-1\n",
    )
    assert result.exit_code == 0 and _user("li").must_change_password

    result = runner.invoke(args=["user", "deactivate", "nobody"])
    assert result.exit_code != 0 and "不存在" in result.output
    actions = {e.action for e in db.session.scalars(select(AuditEvent))}
    assert {
        "user.update",
        "user.deactivate",
        "user.activate",
        "user.password_reset",
        "user.unlock",
    } <= actions
    every_event = " ".join(str(e.data) for e in db.session.scalars(select(AuditEvent)))
    assert temporary not in every_event and "chosen-temp-9" not in every_event
