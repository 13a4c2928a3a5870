"""Officers' event forms with CSRF protection on: refused without the page's token,
applied with it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from sentinel.extensions import db
from sentinel.models import Event, EventItem
from tests.test_duplicates import csrf_login, page_token


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "WTF_CSRF_ENABLED": True}


def test_officer_forms_need_the_csrf_token(office: Any, client: Any) -> None:
    case = office.case("A4区凯乐国际城周边太平路的路灯失修大半年，晚上一片漆黑")
    event = db.session.get(
        Event,
        db.session.scalar(select(EventItem.event_id).where(EventItem.item_id == case.items[0].id)),
    )
    assert event is not None
    csrf_login(client, "duty")
    refused = client.post(f"/events/{event.id}/rename", data={"title": "无令牌"})
    assert refused.status_code == 400
    db.session.refresh(event)
    assert event.title != "无令牌"
    _page, token = page_token(client, f"/events/{event.id}")
    done = client.post(
        f"/events/{event.id}/rename", data={"title": "凯乐国际城路灯失修", "csrf_token": token}
    )
    assert done.status_code == 302
    db.session.refresh(event)
    assert event.title == "凯乐国际城路灯失修" and event.title_manual
