"""CSRF on every form, built from the route table: a new form cannot be missed.

`tests/conftest.py` switches CSRF off for the rest of the suite; here it is on. For every
state-changing scenario of `tests/test_route_matrix.py` (the API, which authenticates with
bearer tokens, aside), a user the rule allows sends the form without a token — refused
with 400 and nothing changed — and then with the page's token, which is accepted.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_duplicates import csrf_login
from tests.test_route_matrix import (
    OK,
    RULES,
    SCENARIOS,
    SUBJECTS,
    Req,
    World,
    _fresh_globals,
    _send,
    db_state,
    expected,
)

FORMS = sorted(
    (endpoint, method)
    for endpoint, method in SCENARIOS
    if method != "GET" and RULES[endpoint].scope != "api" and endpoint != "auth.login"
)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def world(office, app):
    w = World(office)
    w.office_upload_dir = app.config["UPLOAD_DIR"]
    return w


@pytest.mark.parametrize(("endpoint", "method"), FORMS)
def test_every_form_needs_the_csrf_token(app, world, endpoint, method):
    rule = RULES[endpoint]
    subject = next(
        (
            (username, variant)
            for username, variant in SUBJECTS
            if username is not None
            and expected(rule, world.office.users[username].role, variant) == OK
        ),
        None,
    )
    assert subject is not None, f"{endpoint}: no user may send it"
    username, variant = subject
    _fresh_globals()
    client = app.test_client()
    token = csrf_login(client, username)

    req: Req = SCENARIOS[(endpoint, method)](world, variant)
    before = db_state()
    refused = _send(client, req)
    assert refused.status_code == 400, f"{endpoint}: without a token got {refused.status_code}"
    assert db_state() == before, f"{endpoint}: refused, but the database changed"

    req = SCENARIOS[(endpoint, method)](world, variant)
    with_token = Req(
        req.method, req.url, {**req.data, "csrf_token": token}, req.ok, req.changes, req.headers
    )
    before = db_state()
    accepted = _send(client, with_token)
    assert accepted.status_code == req.ok, f"{endpoint}: with the token got {accepted.status_code}"
    if req.changes is True:
        assert db_state() != before, f"{endpoint}: accepted but changed nothing"
