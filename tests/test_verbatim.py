"""The citizen's words kept: the received text stored verbatim, its normalised form kept
apart for hashing/classification/search, pre-migration rows marked honestly, and messages
dated in the future flagged instead of sitting on top of the queue as "刚刚"."""

from __future__ import annotations

import os
from datetime import timedelta

from flask_migrate import upgrade
from sqlalchemy import create_engine, select, text

from sentinel import create_app
from sentinel.extensions import db
from sentinel.models import Case, Item, utcnow
from sentinel.services import ingest
from tests.conftest import SEED_ACTOR
from tests.test_migrations import _fresh_url

RECEIVED = "市民来信：\r\n\t门口挂着＂禁止停车＂的牌子，却没人管！&nbsp;\n  请处理。"


def _api_post(client, office, *items):
    return client.post(
        "/api/v1/items",
        json={"items": list(items)},
        headers={"Authorization": f"Bearer {office.token}"},
    )


def test_api_returns_the_received_text_unchanged(client, office):
    """Regression: ingest stored normalise(text) as the item's text."""
    response = _api_post(client, office, {"external_id": "x-1", "text": RECEIVED})
    item_id = response.get_json()["items"][0]["id"]
    body = client.get(
        f"/api/v1/items/{item_id}", headers={"Authorization": f"Bearer {office.token}"}
    ).get_json()
    assert body["text"] == RECEIVED and body["text_verbatim"] is True
    item = db.session.get(Item, item_id)
    assert item.text == RECEIVED
    assert item.text_normalised == '市民来信: 门口挂着"禁止停车"的牌子,却没人管! 请处理。'
    assert item.text_hash == ingest.text_hash(item.text_normalised)


def test_texts_that_differ_only_in_form_share_a_case_but_keep_their_words(office):
    first, second = office.ingest("请问社保卡在哪里补办？", "请问社保卡在哪里补办?\n")
    assert second.case_id == first.case_id and second.duplicate
    texts = db.session.scalars(select(Item.text).order_by(Item.id)).all()
    assert texts == ["请问社保卡在哪里补办？", "请问社保卡在哪里补办?\n"]


def test_search_uses_the_normalised_text(office):
    from sentinel.services.case_queries import CaseFilters, case_query

    case = office.case("门口挂着＂禁止停车＂的牌子，\n却没人管")
    duty = office.users["duty"]

    def found(q: str) -> list[int]:
        return list(
            db.session.scalars(case_query(duty, CaseFilters(q=q)).with_only_columns(Case.id))
        )

    # Typed with half-width punctuation, or full-width as received: both are found.
    assert found('"禁止停车"的牌子') == [case.id]
    assert found("门口挂着＂禁止停车＂") == [case.id]
    assert found("禁止停车的牌子") == []


def test_nul_characters_are_refused_not_a_500(client, office):
    response = _api_post(client, office, {"external_id": "n-1", "text": "路灯\u0000坏了"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert "无法保存的字符" in error["message"]
    assert any("空字符" in d["message"] for d in error["details"]), error


def test_imported_cells_are_kept_as_written(runner, office, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('编号,内容\n1,"  路灯坏了，\n  晚上很黑  "\n', encoding="utf-8")
    assert runner.invoke(args=["import", str(path), "--source", office.source.name]).exit_code == 0
    assert db.session.scalars(select(Item.text)).one() == "  路灯坏了，\n  晚上很黑  "


def test_case_page_says_when_the_text_is_the_normalised_form(client, auth, office):
    case = office.case("请问社保卡在哪里补办？")
    auth.login("duty")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "原文未能保留" not in page
    item = db.session.scalars(select(Item)).one()
    item.text_verbatim = False
    db.session.commit()
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "以上为规范化后的文本" in page and "原文未能保留" in page


def test_migration_marks_pre_migration_rows_as_normalised(tmp_path):
    """Rows stored before verbatim_01 hold the normalised text: the migration copies it to
    text_normalised and sets text_verbatim false; rows stored after keep the received text."""
    url = _fresh_url(tmp_path, "verbatim")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path / "i")})
    with app.app_context():
        upgrade(revision="ed925f7bf81d")
        uri = app.config["SQLALCHEMY_DATABASE_URI"]
        db.engine.dispose()
    engine = create_engine(uri)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO units (id, name, kind, path, is_active, created_at) "
                "VALUES (1, '县政府办', 'county', '/1/', true, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO sources (id, name, platform, account, unit_id, active, created_at) "
                "VALUES (1, '微博', 'weibo', '', 1, true, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO cases (id, title, status, priority, source_id, owner_unit_id, "
                "text_hash, ask_count, first_item_at, last_item_at, created_at, updated_at, "
                "needs_person) VALUES (1, 't', 'new', 0, 1, 1, 'h', 1, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO items (id, source_id, external_id, kind, text, text_hash, "
                "received_at, case_id, is_duplicate) VALUES (1, 1, 'old-1', 'comment', "
                "'门口挂着\"禁止停车\"的牌子,却没人管', 'h', CURRENT_TIMESTAMP, 1, false)"
            )
        )
    engine.dispose()
    with app.app_context():
        upgrade()
        row = db.session.execute(
            text("SELECT text, text_normalised, text_verbatim, posted_in_future FROM items")
        ).one()
        db.session.remove()
        db.engine.dispose()
    assert row[0] == row[1] == '门口挂着"禁止停车"的牌子,却没人管'
    assert not row[2] and not row[3]
    if url.startswith("sqlite:///"):
        os.remove(url.removeprefix("sqlite:///"))


def test_future_dated_message_is_flagged_and_ordered_by_receipt(client, auth, office):
    """Regression: a message dated days ahead sat at the top of the queue as "刚刚"."""
    now = utcnow()
    ahead = now + timedelta(days=3)
    ingest.ingest_items(
        SEED_ACTOR,
        office.source,
        [
            ingest.IncomingItem(external_id="f-1", text="来自未来的留言", posted_at=ahead),
            ingest.IncomingItem(
                external_id="f-2", text="时钟略快的留言", posted_at=now + timedelta(seconds=60)
            ),
        ],
    )
    db.session.commit()
    future = db.session.scalars(select(Item).where(Item.external_id == "f-1")).one()
    skewed = db.session.scalars(select(Item).where(Item.external_id == "f-2")).one()
    assert future.posted_in_future and future.posted_at == ahead  # kept as given
    assert not skewed.posted_in_future
    case = db.session.get(Case, future.case_id)
    assert case.last_item_at <= now + timedelta(seconds=5)
    auth.login("duty")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "时间在未来" in page


def test_relative_time_of_a_future_moment_is_not_just_now(app):
    from sentinel.web.helpers import relative_time

    label = relative_time(utcnow() + timedelta(days=2))
    assert label != "刚刚" and "未来时间" in label
    assert relative_time(utcnow() + timedelta(seconds=30)) == "刚刚"
