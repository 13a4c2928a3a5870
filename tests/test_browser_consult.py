"""Issue 12 in headless Chromium: a duty officer raises an event to 会商 from the leaders'
board and records the agreed line; a leader's open board updates itself and shows the
alert, without a reload. Screenshots land in ``screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from sentinel.extensions import db
from sentinel.models import HeatSample, utcnow
from tests.test_browser import (  # noqa: F401 (pytest fixtures)
    CHROMIUM,
    _login,
    _page,
    _shot,
    browser,
    serve,
)
from tests.test_consultations import make_event

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="未安装 chromium：跳过浏览器测试（apt-get install chromium）"
    ),
]


@pytest.fixture
def fast_server(app, office) -> Iterator[str]:
    """``sentinel serve`` on the test database, polling alerts every second and
    refreshing the board every two."""
    with serve(app, SENTINEL_ALERT_POLL_S="1", SENTINEL_BOARD_REFRESH_S="2") as base:
        yield base


def _heat_curve(event, points: int = 12) -> None:
    now = utcnow()
    for i in range(points):
        heat = 2.0 + i * i * 0.4
        db.session.add(
            HeatSample(
                event_id=event.id,
                at=now - timedelta(hours=points - i),
                heat=heat,
                volume_1h=i,
                volume_24h=i * 3,
            )
        )
    event.heat = heat
    db.session.commit()


def test_duty_raises_an_event_and_the_leaders_board_updates(fast_server, browser, office):  # noqa: F811
    event, case = make_event(office, "阳光小区车位捆绑销售，业主集中反映")
    other, _ = make_event(office, "学校门口道路积水严重")
    _heat_curve(event)
    _heat_curve(other, 8)

    leader = _page(browser)
    _login(leader, fast_server, "leader")
    leader.goto(fast_server + "/board")
    leader.wait_for_selector(f"tr[data-event-id='{event.id}']")
    assert "没有进行中的会商" in leader.inner_text("#board")

    duty = _page(browser)
    _login(duty, fast_server, "duty")
    duty.goto(fast_server + "/board")
    row = duty.locator(f"tr[data-event-id='{event.id}']")
    row.locator("select[name=level]").select_option("large")
    row.locator("button:has-text('发起会商')").click()
    duty.wait_for_selector(".flash-success")
    assert "已发起会商" in duty.inner_text(".flashes")
    assert "较大" in duty.inner_text(".consult-head")
    duty.fill("textarea[name=agreed_line]", "已责成属地街道与开发商约谈，车位不得捆绑销售。")
    duty.click("button:has-text('保存统一口径')")
    duty.wait_for_selector("#agreed-line")
    _shot(duty, "consultation")

    # The leader's board: the alert toast and the consultation arrive without a reload.
    leader.wait_for_selector(".alert-toast", timeout=15000)
    assert event.title in leader.inner_text(".alert-toast")
    leader.wait_for_selector(".board-consults tr[data-consultation-id]", timeout=15000)
    leader.wait_for_selector("text=车位不得捆绑销售", timeout=15000)
    assert leader.inner_text("#stat-open") == "1"
    assert leader.evaluate("document.querySelectorAll('#heat-chart canvas').length") >= 1
    _shot(leader, "board")

    # The case page shows the agreed line.
    leader.goto(f"{fast_server}/cases/{case.id}")
    assert "车位不得捆绑销售" in leader.inner_text(".agreed-line-card")
