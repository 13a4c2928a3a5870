"""Dashboards in headless Chromium: the charts draw, a click on a bar opens the list of the
cases behind it, and screenshots of both dashboards and a drill-down list land in
``screenshots/``. Skipped without chromium (see tests/test_browser.py)."""

from __future__ import annotations

import hashlib
import random
import re
from datetime import timedelta
from typing import Any

from sentinel.extensions import db
from sentinel.models import Case, Item
from tests.test_browser import _login, _page, _shot, browser, pytestmark, server  # noqa: F401
from tests.test_dashboard import OCT, Fixture, L

TOPICS = ("教育", "医疗卫生", "交通运输", "城乡建设", "劳动和社会保障", "环境保护", None)
SENTIMENTS = ("negative", "neutral", "neutral", "positive", None)


def _more_cases(fx: Fixture, n: int = 160) -> None:
    """A busier October, so the charts have something to show."""
    rng = random.Random(14)
    targets = [fx.edu, fx.health, fx.section, None]
    for i in range(n):
        first = L(10, rng.randint(1, 31), rng.randint(7, 22), rng.randint(0, 59))
        unit = rng.choice(targets)
        answered = unit is not None and rng.random() < 0.6
        values: dict[str, Any] = {
            "status": "answered" if answered else ("acknowledged" if unit else "new"),
            "topic": rng.choice(TOPICS),
            "sentiment": rng.choice(SENTIMENTS),
        }
        if unit is not None:
            values["due_at"] = first + timedelta(days=5)
        if answered:
            values["answered_at"] = first + timedelta(days=rng.choice((1, 2, 3, 8)))
            values["deadline_state"] = (
                "met" if values["answered_at"] <= values["due_at"] else "late"
            )
        name = f"R{i}"
        text_hash = hashlib.sha256(name.encode()).hexdigest()
        case = Case(
            title=f"{values['topic'] or '其他'}问题留言 {i}",
            source_id=fx.o.source.id,
            owner_unit_id=fx.root.id,
            unit_id=unit.id if unit else None,
            text_hash=text_hash,
            first_item_at=first,
            last_item_at=first,
            created_at=first,
            **values,
        )
        db.session.add(case)
        db.session.flush()
        db.session.add(
            Item(
                source_id=fx.o.source.id,
                external_id=f"more-{i}",
                text=name,
                text_normalised=name,
                text_hash=text_hash,
                received_at=first,
                case_id=case.id,
            )
        )
    db.session.commit()


def _click_bar(page: Any, chart_id: str, index: int) -> None:
    """Click the middle of bar ``index`` of the chart, as a person would."""
    x, y = page.evaluate(
        """([id, i]) => {
            const el = document.getElementById(id);
            const chart = echarts.getInstanceByDom(el);
            const v = chart.getOption().series[0].data[i].value;
            const [px, py] = chart.convertToPixel({seriesIndex: 0}, [i, v / 2]);
            const box = el.getBoundingClientRect();
            return [box.left + px + window.scrollX, box.top + py + window.scrollY];
        }""",
        [chart_id, index],
    )
    page.mouse.click(x - page.evaluate("window.scrollX"), y - page.evaluate("window.scrollY"))


def test_dashboards_draw_and_a_bar_click_opens_its_cases(server, browser, office):  # noqa: F811
    fx = Fixture(office)
    _more_cases(fx)
    page = _page(browser)
    _login(page, server, "admin")
    page.goto(f"{server}/dashboard/?{OCT}")
    page.wait_for_selector("#chart-volume canvas")
    page.wait_for_selector("#chart-units canvas")
    page.wait_for_timeout(800)  # the charts' entry animation
    _shot(page, "dashboard-leaders")

    data = page.evaluate("JSON.parse(document.getElementById('dash-data').textContent)")
    busiest = max(range(len(data["volume"])), key=lambda i: data["volume"][i]["value"])
    expected = data["volume"][busiest]["value"]
    page.locator("#chart-volume").scroll_into_view_if_needed()
    _click_bar(page, "chart-volume", busiest)
    page.wait_for_url(re.compile(r".*/reports/cases\?.*metric=volume.*"))
    assert int(page.inner_text("#drill-total")) == expected
    assert page.locator("#drill-cases tbody tr").count() == expected
    _shot(page, "dashboard-drilldown")

    page.goto(f"{server}/dashboard/unit?unit_id={fx.edu.id}&{OCT}&bucket=week")
    page.wait_for_selector("#chart-volume canvas")
    page.wait_for_timeout(800)
    assert "县教育局看板" in page.inner_text("h1")
    _shot(page, "dashboard-unit")
