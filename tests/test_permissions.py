"""Role × endpoint matrix, unit scope, login, throttling and CSRF."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sentinel.extensions import db
from sentinel.models import AuditEvent, User
from sentinel.services import triage

OFFICE = {"admin", "duty"}
READERS = {"admin", "duty", "leader", "reviewer"}
EVERYONE = {"admin", "duty", "leader", "reviewer", "edu_handler"}
HANDLING = {"admin", "edu_handler"}
ADMIN = {"admin"}

# (method, path template, roles allowed). {new}: a new case in the root unit's queue;
# {edu}: a case dispatched to the education bureau.
MATRIX = [
    ("GET", "/triage/", READERS),
    ("GET", "/triage/feed?after=0", READERS),
    ("POST", "/triage/bulk", READERS),  # the view is open to readers; each case action is checked
    ("GET", "/cases/{edu}", EVERYONE),
    ("POST", "/cases/{new}/claim", OFFICE),
    ("POST", "/cases/{new}/unclaim", OFFICE),
    ("POST", "/cases/{new}/dispatch", OFFICE),
    ("POST", "/cases/{new}/noise", OFFICE),
    ("POST", "/cases/{new}/merge", OFFICE),
    ("POST", "/cases/{new}/close", OFFICE),
    ("POST", "/cases/{new}/reopen", OFFICE),
    ("POST", "/cases/{edu}/acknowledge", HANDLING),
    ("POST", "/cases/{edu}/reply", HANDLING),
    ("GET", "/inbox/", HANDLING),
    ("GET", "/imports/", OFFICE),
    ("POST", "/imports/", OFFICE),
    ("GET", "/admin/users", ADMIN),
    ("POST", "/admin/users", ADMIN),
    ("GET", "/admin/units", ADMIN),
    ("GET", "/admin/sources", ADMIN),
    ("POST", "/admin/sources", ADMIN),
    ("GET", "/admin/audit", ADMIN),
    ("GET", "/admin/jobs", ADMIN),
]
ROLES = ["admin", "duty", "leader", "reviewer", "edu_handler", "health_handler"]


@pytest.fixture
def cases(office):
    new = office.case("新留言：请问社保卡在哪里补办？")
    edu = office.case("学校门口交通拥堵")
    triage.dispatch(office.actor("duty"), edu, office.edu)
    db.session.commit()
    return {"new": new.id, "edu": edu.id}


@pytest.mark.parametrize(("method", "template", "allowed"), MATRIX)
@pytest.mark.parametrize("role", ROLES)
def test_role_endpoint_matrix(client, auth, cases, method, template, allowed, role):
    auth.login(role)
    path = template.format(**cases)
    response = client.open(path, method=method, data={})
    if role == "health_handler" and "edu_handler" in allowed and "{edu}" not in template:
        allowed = allowed | {"health_handler"}  # same role; only the scope differs
    if role in allowed:
        assert response.status_code in (200, 302), (role, path, response.status_code)
    elif role == "health_handler" and "{edu}" in template:
        assert response.status_code == 404  # out of scope: not even its existence leaks
    else:
        assert response.status_code in (403, 404), (role, path, response.status_code)


@pytest.mark.parametrize(("method", "template", "allowed"), MATRIX)
def test_anonymous_is_sent_to_login(client, cases, method, template, allowed):
    response = client.open(template.format(**cases), method=method, data={})
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]


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
