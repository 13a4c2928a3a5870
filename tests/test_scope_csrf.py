"""The officer's priority form with CSRF on (as served): refused without the token,
applied with the token the case page carries."""

from __future__ import annotations

from typing import Any

import pytest

from sentinel.extensions import db
from sentinel.models import Case
from tests.test_duplicates import csrf_login, page_token


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "WTF_CSRF_ENABLED": True}


def test_priority_form_needs_the_csrf_token(client, office):
    case = office.case("小区门口的燃气管道有异味，请尽快派人检查")
    csrf_login(client, "duty")
    url = f"/cases/{case.id}/priority"
    data = {"priority": "2", "reason": "涉及燃气安全"}
    assert client.post(url, data=data).status_code == 400
    db.session.expire_all()
    assert not db.session.get(Case, case.id).priority_manual
    _, token = page_token(client, f"/cases/{case.id}")
    assert client.post(url, data={**data, "csrf_token": token}).status_code == 302
    db.session.expire_all()
    changed = db.session.get(Case, case.id)
    assert changed.priority == 2 and changed.priority_manual
