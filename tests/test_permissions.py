"""Unit scope, relations to a case, login, throttling and CSRF."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sentinel.extensions import db
from sentinel.models import AuditEvent, User
from sentinel.services import triage

# The role × route matrix (every route in app.url_map) lives in tests/test_route_matrix.py.


@pytest.fixture
def cases(office):
    new = office.case("新留言：请问社保卡在哪里补办？")
    edu = office.case("学校门口交通拥堵")
    triage.dispatch(office.actor("duty"), edu, office.edu)
    db.session.commit()
    return {"new": new.id, "edu": edu.id}


def test_handler_sees_only_their_units_cases(client, auth, office, cases):
    auth.login("health_handler")
    assert client.get(f"/cases/{cases['edu']}").status_code == 404
    assert client.get(f"/cases/{cases['new']}").status_code == 404
    body = client.get("/inbox/").get_data(as_text=True)
    assert "学校门口交通拥堵" not in body
    auth.logout()
    auth.login("edu_handler")
    assert "学校门口交通拥堵" in client.get("/inbox/").get_data(as_text=True)


def test_login_records_audit_and_wrong_password_is_refused(client, auth, office):
    response = auth.login("duty", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    response = auth.login("duty")
    assert response.status_code == 302 and response.headers["Location"].endswith("/triage/")
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "user.login_failed" in actions and "user.login" in actions


def test_passwords_are_hashed(office):
    user = db.session.scalars(select(User).where(User.username == "duty")).one()
    assert "correct-horse" not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_next_parameter_cannot_redirect_off_site(client, auth, office):
    response = client.post(
        "/login?next=https://evil.example/",
        data={"username": "duty", "password": "correct-horse-9"},
    )
    assert response.headers["Location"].endswith("/triage/")


def test_login_is_throttled(app, office):
    app.config["RATELIMIT_ENABLED"] = True
    from sentinel.extensions import limiter

    # Bind again now that it is enabled: only then are the hooks that count failed
    # logins (deduct_when) installed.
    limiter.init_app(app)
    client = app.test_client()
    codes = [
        client.post("/login", data={"username": "duty", "password": "nope"}).status_code
        for _ in range(12)
    ]
    assert codes[0] == 401 and codes[-1] == 429
    limiter.reset()


def test_forms_need_a_csrf_token(app, office):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    response = client.post("/login", data={"username": "duty", "password": "correct-horse-9"})
    assert response.status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        "/login", data={"username": "duty", "password": "correct-horse-9", "csrf_token": token}
    )
    assert response.status_code == 302
