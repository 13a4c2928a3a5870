"""Hot events (issue 12): clustering of real messages, concurrency, officers' corrections,
heat windows and thresholds, escalation once per level, unit scope and CSRF on the pages,
and the replay contract."""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from sentinel.extensions import db
from sentinel.models import (
    AuditEvent,
    Case,
    Event,
    EventDetached,
    EventEscalation,
    EventItem,
    EventTerm,
    HeatSample,
    Item,
    utcnow,
)
from sentinel.services import event_clustering, event_heat, triage
from sentinel.services import events as event_service

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = os.path.join(ROOT, "data", "labelling", "hot_events.csv")
MESSAGES = os.path.join(ROOT, "data", "gov_hot", "messages_with_votes.csv")


def _real_messages() -> dict[str, list[str]]:
    """Real messages (subject + text) of the hand-labelled events, by event label."""
    with open(LABELS, encoding="utf-8") as fh:
        label_of = {r["留言编号"]: r["event"] for r in csv.DictReader(fh)}
    out: dict[str, list[str]] = {}
    with open(MESSAGES, encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            label = label_of.get(r["留言编号"])
            if label:
                out.setdefault(label, []).append(r["留言主题"] + "\n" + r["留言详情"].strip())
    return out


def _event_of(item_id: int) -> int | None:
    return db.session.scalar(select(EventItem.event_id).where(EventItem.item_id == item_id))


def _distinct(texts: list[str], n: int) -> list[str]:
    """The first ``n`` texts with distinct subjects (the file repeats some messages)."""
    seen: set[str] = set()
    out = []
    for t in texts:
        subject = t.split("\n", 1)[0]
        if subject not in seen:
            seen.add(subject)
            out.append(t)
        if len(out) == n:
            break
    return out


# --------------------------------------------------------------------------- clustering


def test_paraphrased_real_messages_about_one_estate_form_one_event(office: Any) -> None:
    """Real citizens' messages about one estate's parking-space bundling (伊景园滨河苑),
    written in different words, become one event; the mixing plant next to another
    estate (丽发新城) becomes another."""
    real = _real_messages()
    named = [t for t in real["yijingyuan_parking"] if "滨河苑" in t.split("\n", 1)[0]]
    parking = _distinct(named, 8)
    plant = _distinct(real["lifa_mixing_plant"], 8)
    results = office.ingest(*parking, *plant)
    events_parking = {_event_of(r.id) for r in results[: len(parking)]}
    events_plant = {_event_of(r.id) for r in results[len(parking) :]}
    assert len(events_parking) == 1 and None not in events_parking
    assert len(events_plant) == 1 and None not in events_plant
    assert events_parking != events_plant
    event = db.session.get(Event, events_parking.pop())
    assert event is not None and event.item_count == len(parking)
    assert any("伊景园" in p or "滨河苑" in p for p in event.places)
    assert event.title and len(event.title) <= 40


def test_same_problem_at_different_estates_are_different_events(office: Any) -> None:
    """Restaurant fumes at 魅力之城 and restaurants at 兰亭湾畔: the same kind of problem,
    two places, two events."""
    real = _real_messages()
    fumes = _distinct(real["meilizhicheng_fumes"], 4)
    lanting = _distinct(real["lantingwan_restaurants"], 3)
    results = office.ingest(*fumes, *lanting)
    a = {_event_of(r.id) for r in results[: len(fumes)]}
    b = {_event_of(r.id) for r in results[len(fumes) :]}
    assert not (a & b)


def test_misspelt_place_name_still_joins(office: Any) -> None:
    first = office.ingest("投诉A2区丽发新城小区附近建搅拌站，噪音扰民，灰尘很大")[0]
    second = office.ingest("A2区丽法新城小区附近修建搅拌站，噪音扰民，粉尘很大，请处理")[0]
    assert _event_of(first.id) == _event_of(second.id) is not None


def test_candidates_come_from_the_index_not_history(office: Any) -> None:
    """An event whose index rows are gone is not found (nothing scans history)."""
    first = office.ingest("A5区魅力之城小区一楼夜宵摊油烟扰民")[0]
    db.session.execute(delete(EventTerm))
    db.session.commit()
    second = office.ingest("A5区魅力之城小区一楼夜宵摊油烟扰民，请处理")[0]
    assert _event_of(first.id) != _event_of(second.id)


def _reset_events() -> None:
    for model in (EventTerm, HeatSample, EventEscalation, EventItem, EventDetached):
        db.session.execute(delete(model))
    db.session.execute(delete(Event))
    db.session.commit()


def test_two_workers_clustering_at_once_make_one_event(app: Flask, office: Any) -> None:
    """Two workers place two messages of a new matter at the same moment: the clustering
    lock (PostgreSQL advisory lock) makes the second see the first's event."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's; SQLite has one writer at a time")
    a, b = office.ingest(
        "A6区月亮岛路架设高压电线环评造假，强烈要求重新评估",
        "反对A6区月亮岛路架设高压电线，要求重启环境评估",
    )
    _reset_events()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(item_id: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                event_clustering.cluster_items([item_id])
                time.sleep(0.5)  # hold the transaction open: without the lock both create
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in (a.id, b.id)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Event)) == 1
    assert _event_of(a.id) == _event_of(b.id)


# --------------------------------------------------------------------------- corrections


def _two_events(office: Any) -> tuple[Event, Event, list[Any]]:
    results = office.ingest(
        "A5区劳动东路魅力之城小区底层餐馆油烟扰民",
        "A5区劳动东路魅力之城小区临街门面烧烤夜宵摊油烟扰民",
        "A3区西湖街道茶场村五组何时才能启动征地拆迁",
    )
    one = db.session.get(Event, _event_of(results[0].id))
    two = db.session.get(Event, _event_of(results[2].id))
    assert one is not None and two is not None and one.id != two.id
    assert _event_of(results[1].id) == one.id
    return one, two, results


def test_officer_moves_an_item_out_and_it_stays_out(office: Any) -> None:
    one, _two, results = _two_events(office)
    duty = office.actor("duty")
    moved = results[1].id
    event_service.move_items_out(duty, one, [moved])
    db.session.commit()
    assert _event_of(moved) is None
    assert db.session.get(EventDetached, moved) is not None
    # Clustering again (a re-delivered job) leaves it where the officer put it.
    event_clustering.cluster_items([moved])
    db.session.commit()
    assert _event_of(moved) is None
    assert one.item_count == 1
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "event.move_out")).data[
        "items"
    ] == [moved]


def test_officer_moves_an_item_to_another_event_and_it_is_never_reclustered(
    office: Any,
) -> None:
    one, two, results = _two_events(office)
    moved = results[1].id
    event_service.move_items_out(office.actor("duty"), one, [moved], to=two)
    db.session.commit()
    link = db.session.scalar(select(EventItem).where(EventItem.item_id == moved))
    assert link is not None and link.event_id == two.id and link.placed_by == "officer"
    event_clustering.cluster_items([moved])
    db.session.commit()
    assert _event_of(moved) == two.id
    assert two.item_count == 2 and one.item_count == 1


def test_officer_merges_two_events(office: Any) -> None:
    one, two, results = _two_events(office)
    event_service.merge(office.actor("duty"), two, one)
    db.session.commit()
    assert two.status == "merged" and two.merged_into_id == one.id
    assert {_event_of(r.id) for r in results} == {one.id}
    assert one.item_count == 3
    assert not db.session.scalars(select(EventTerm).where(EventTerm.event_id == two.id)).all()
    with pytest.raises(Exception, match="合并"):
        event_service.merge(office.actor("duty"), two, one)


def test_renamed_title_stands_and_noise_events_leave_the_list(office: Any) -> None:
    one, _two, _ = _two_events(office)
    duty = office.actor("duty")
    event_service.rename(duty, one, "魅力之城小区餐饮油烟扰民")
    db.session.commit()
    office.ingest("A5区魅力之城小区底层商铺油烟直排扰民，夜宵摊营业到凌晨")
    db.session.refresh(one)
    assert one.item_count == 3 and one.title == "魅力之城小区餐饮油烟扰民" and one.title_manual
    event_service.mark_noise(duty, one, "重复投诉")
    db.session.commit()
    assert one.status == "noise"
    with pytest.raises(Exception, match="进行中"):
        event_service.escalate(one, level=1, actor=duty, reason="x")
    actions = set(
        db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "event"))
    )
    assert {"event.rename", "event.noise"} <= actions


# --------------------------------------------------------------------------- heat


def _row(age: timedelta, now: Any, **kw: Any) -> SimpleNamespace:
    base = {
        "item_at": now - age,
        "author": None,
        "source_id": 1,
        "sentiment": None,
        "risk_tier": None,
        "rumour_score": None,
        "extra": None,
    }
    base.update(kw)
    return SimpleNamespace(**base)


def test_heat_counts_each_window_and_ignores_old_and_future_items(app: Flask) -> None:
    now = utcnow()
    weights = app.config["EVENT_HEAT_WEIGHTS"]
    rows = [
        _row(timedelta(minutes=10), now, author="a"),
        _row(timedelta(hours=3), now, author="b", source_id=2),
        _row(timedelta(hours=12), now, author="c", sentiment="negative"),
        _row(timedelta(days=3), now, author="a", extra={"likes": 40, "reposts": 9}),
        _row(timedelta(days=8), now, author="d"),  # outside 7 days
        _row(timedelta(hours=-1), now, author="e"),  # in the future of ``now``
    ]
    result = event_heat.compute(rows, now, weights)
    c = result["counts"]
    assert (c["1h"], c["6h"], c["24h"], c["7d"]) == (1, 2, 3, 4)
    assert c["askers_7d"] == 3 and c["sources_7d"] == 2 and c["likes_7d"] == 40
    assert c["reposts_7d"] == 9 and c["negative_7d"] == 1
    comps = result["components"]
    assert comps["sources"] == pytest.approx(weights["sources"] * 1)
    assert result["heat"] == pytest.approx(sum(comps.values()), abs=0.05)
    # The same items a day later: the near windows are empty, heat is lower.
    later = event_heat.compute(rows, now + timedelta(days=1), weights)
    assert later["counts"]["1h"] == 0 and later["heat"] < result["heat"]


def test_heat_weights_are_settings(app: Flask) -> None:
    now = utcnow()
    rows = [_row(timedelta(minutes=5), now, risk_tier="C")]
    weights = dict(app.config["EVENT_HEAT_WEIGHTS"])
    base = event_heat.compute(rows, now, weights)["heat"]
    weights["risk"] += 50
    assert event_heat.compute(rows, now, weights)["heat"] == pytest.approx(base + 50, abs=0.05)


def test_growing_event_escalates_once_per_level(app: Flask, office: Any) -> None:
    """Crossing each threshold escalates once; more messages at the same level do not
    escalate again (no alert storm), and hooks see each level once."""
    app.config["EVENT_ESCALATION_THRESHOLDS"] = (15.0, 25.0, 1000.0)
    seen: list[tuple[int, int]] = []
    hook = lambda event, escalation, actor: seen.append((event.id, escalation.level))  # noqa: E731
    event_service.on_escalated.append(hook)
    try:
        texts = [
            f"A2区丽发新城小区附近搅拌站噪音扰民，粉尘污染严重，第{i}次反映" for i in range(12)
        ]
        for i, text in enumerate(texts):
            office.ingest(text + "。" * (i % 3))
        event = db.session.scalar(select(Event).order_by(Event.item_count.desc()))
        assert event is not None and event.item_count >= 10
        levels = list(
            db.session.scalars(
                select(EventEscalation.level)
                .where(EventEscalation.event_id == event.id)
                .order_by(EventEscalation.level)
            )
        )
        assert levels == [1, 2]
        assert event.escalated_level == 2 and event.escalated_by_id is None
        assert [lvl for eid, lvl in seen if eid == event.id] == [1, 2]
        # Heat recomputed again and again: still no new escalation.
        for _ in range(3):
            event_heat.update([event], utcnow())
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(EventEscalation)) == len(seen)
        # An officer can raise it further by hand, once.
        event_service.raise_level(office.actor("duty"), event, 3, "涉及群体性事件风险")
        db.session.commit()
        assert event.escalated_level == 3 and event.escalated_by_id == office.users["duty"].id
        with pytest.raises(Exception, match="已达到"):
            event_service.raise_level(office.actor("duty"), event, 3, "再次")
        assert db.session.scalars(select(HeatSample).where(HeatSample.event_id == event.id)).all()
    finally:
        event_service.on_escalated.remove(hook)


# --------------------------------------------------------------------------- pages


def _dispatched_event(office: Any) -> Event:
    case = office.case("A4区凯乐国际城周边太平路的路灯失修大半年，晚上一片漆黑")
    triage.claim(office.actor("duty"), case)
    triage.dispatch(office.actor("duty"), case, office.edu)
    db.session.commit()
    event = db.session.get(Event, _event_of(case.items[0].id))
    assert event is not None
    return event


def test_unit_scope_on_event_pages(office: Any, client: Any, auth: Any) -> None:
    event = _dispatched_event(office)
    auth.login("edu_handler")
    assert client.get(f"/events/{event.id}").status_code == 200
    assert f'data-event-id="{event.id}"' in client.get("/events").get_data(as_text=True)
    feed = client.get("/events/feed.json").get_json()
    assert [e["id"] for e in feed["events"]] == [event.id]
    auth.logout()
    auth.login("health_handler")
    assert client.get(f"/events/{event.id}").status_code == 404
    assert client.get(f"/events/{event.id}.json").status_code == 404
    assert client.get("/events/feed.json").get_json()["events"] == []
    assert f'data-event-id="{event.id}"' not in client.get("/events").get_data(as_text=True)


def test_event_page_shows_breakdown_curve_and_cases(office: Any, client: Any, auth: Any) -> None:
    event = _dispatched_event(office)
    auth.login("duty")
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert 'id="heat-breakdown"' in page and 'id="heat-chart"' in page
    assert "vendor/echarts.min.js" in page and "声量" in page
    data = client.get(f"/events/{event.id}.json").get_json()
    assert data["event"]["id"] == event.id and data["curve"]
    assert data["breakdown"]["components"]["volume"] > 0


# --------------------------------------------------------------------------- contract


def test_replay_writes_one_line_per_row_and_per_event(
    app: Flask, trained_models_dir: str, tmp_path: Any
) -> None:
    """`sentinel events replay` on real rows: every row gets a line, repeated messages of
    one matter share an event, and no row lands in the test database."""
    real = _real_messages()
    picks = [
        ("9001", "2019/8/1 10:00:00", real["yijingyuan_parking"][0]),
        ("9002", "2019/8/1 11:00:00", real["yijingyuan_parking"][3]),
        ("9003", "2019/8/2 09:00:00", real["chachang_village"][0]),
        ("9004", "2019/8/3 09:00:00", "\n"),
    ]
    rows = [(n, f"网友{n}", *text.split("\n", 1), at) for n, at, text in picks]
    src = tmp_path / "board.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "反对数", "点赞数"])
        for number, author, subject, detail, at in rows:
            w.writerow([number, author, subject, at, detail, 0, 3])
    a_path, e_path = tmp_path / "A.jsonl", tmp_path / "E.jsonl"
    app.config["MODELS_DIR"] = trained_models_dir
    result = app.test_cli_runner().invoke(
        args=[
            "events",
            "replay",
            "--input",
            str(src),
            "--assignments",
            str(a_path),
            "--events",
            str(e_path),
        ]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in a_path.read_text(encoding="utf-8").splitlines()]
    assert sorted(x["id"] for x in lines) == ["9001", "9002", "9003", "9004"]
    by_id = {x["id"]: x["event_id"] for x in lines}
    assert by_id["9001"] == by_id["9002"] is not None
    assert by_id["9003"] not in (None, by_id["9001"])
    assert by_id["9004"] is None
    events = [json.loads(x) for x in e_path.read_text(encoding="utf-8").splitlines()]
    assert {e["event_id"] for e in events} == {by_id["9001"], by_id["9003"]}
    big = next(e for e in events if e["event_id"] == by_id["9001"])
    assert big["size"] == 2 and big["heat"] > 0 and big["title"]
    assert db.session.scalar(select(func.count()).select_from(Item)) == 0
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_heat_decays_when_the_periodic_refresh_runs_later(office: Any) -> None:
    results = office.ingest(
        "A6区月亮岛路架设高压电线环评造假，强烈要求重新评估",
        "反对A6区月亮岛路架设高压电线，要求重启环境评估",
    )
    event = db.session.get(Event, _event_of(results[0].id))
    assert event is not None and event.heat > 0
    before = event.heat
    event_heat.refresh_open(utcnow() + timedelta(days=2))
    db.session.commit()
    assert 0 < event.heat < before and event.heat_peak == before


def test_seed_demo_has_rising_events(runner: Any, app: Flask) -> None:
    result = runner.invoke(args=["seed-demo", "--items", "120"])
    assert result.exit_code == 0, result.output
    top = db.session.scalars(select(Event).order_by(Event.item_count.desc()).limit(2)).all()
    assert len(top) == 2 and all(e.item_count >= 10 and e.heat > 0 for e in top)
    assert any("伊景园" in p or "滨河苑" in p for p in top[0].places + top[1].places)
