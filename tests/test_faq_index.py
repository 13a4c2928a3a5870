"""The FAQ search index is kept current entry by entry (issue 15): changes are applied at
the next search without a full build; full builds run in a background thread."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text

from sentinel.extensions import db
from sentinel.models.base import utcnow
from sentinel.models.faq import FaqEntry, FaqVersion
from sentinel.services import faq
from tests.test_faq import approved_entry

ENTRIES = [
    ("社保卡在哪里补办？", "社保卡遗失可携带身份证到政务服务中心社保窗口补办。"),
    ("路灯不亮向哪里反映？", "城区路灯由城管局路灯所维护，可拨打12319反映。"),
    ("新生儿怎么办理医保？", "新生儿出生后凭出生医学证明到医保窗口参保登记。"),
]


@pytest.fixture
def kb(office: Any) -> list[FaqEntry]:
    entries = [approved_entry(office, q, a) for q, a in ENTRIES]
    assert faq.search_ids("社保卡补办", 3)  # the first search builds the index
    return entries


def _counts() -> tuple[int, int]:
    return faq.stats["builds"], faq.stats["updates"]


def test_adding_editing_and_retiring_update_the_index_without_a_full_build(office, kb):
    builds, updates = _counts()
    added = approved_entry(office, "公积金怎么提取？", "职工购房可凭购房合同到公积金中心提取。")
    assert faq.search_ids("公积金提取", 3) == [added.id]
    faq.edit(
        office.actor("duty"),
        added,
        question="住房公积金提取需要什么材料？",
        answer="提取住房公积金需身份证、购房合同和银行卡。",
        topic="公积金",
        unit_id=added.unit_id,
        visibility="internal",
        review_by=None,
    )
    db.session.commit()
    assert faq.search_ids("公积金提取材料", 3) == [added.id]
    assert faq.search_ids("公积金提取材料", 3, public_only=True) == []
    faq.retire(office.actor("duty"), kb[1])
    db.session.commit()
    assert kb[1].id not in faq.search_ids("路灯不亮", 3)
    assert _counts()[0] == builds  # never rebuilt
    assert _counts()[1] >= updates + 3
    built = faq.current_index()
    assert built is not None and built.index.changed_count == 1  # the added entry


def test_a_change_committed_by_another_process_is_seen_at_the_next_search(app, kb):
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with other.begin() as conn:
        conn.execute(
            text("UPDATE faq_entries SET question = :q, search_terms = NULL WHERE id = :id"),
            {"q": "电动自行车上牌去哪里？", "id": kb[2].id},
        )
        conn.execute(
            FaqVersion.__table__.insert(),
            {
                "entry_id": kb[2].id,
                "version": 2,
                "question": "电动自行车上牌去哪里？",
                "answer": ENTRIES[2][1],
                "visibility": "public",
                "status": "approved",
                "change": "edited",
                "created_at": utcnow(),
            },
        )
    other.dispose()
    db.session.rollback()  # a new transaction sees the other connection's commit
    builds = faq.stats["builds"]
    assert faq.search_ids("电动自行车上牌", 3) == [kb[2].id]
    assert faq.stats["builds"] == builds


def test_a_large_knowledge_base_is_built_in_the_background_never_in_the_request(app, office):
    app.config["FAQ_INDEX_INLINE_MAX"] = 0
    entries = [approved_entry(office, q, a) for q, a in ENTRIES]
    faq._cache.clear()
    builds = faq.stats["builds"]
    # No index in this process yet: the search finds nothing rather than waiting.
    assert faq.search_ids("社保卡补办", 3) == []
    faq.wait_for_background_build(60)
    assert faq.stats["builds"] == builds + 1
    assert faq.search_ids("社保卡补办", 3) == [entries[0].id]


def test_too_many_changes_at_once_wait_for_a_background_build(app, office, kb):
    app.config["FAQ_INDEX_INLINE_MAX"] = 0
    app.config["FAQ_INDEX_MAX_CHANGES"] = 1
    added = [
        approved_entry(office, "公积金怎么提取？", "职工购房可凭购房合同到公积金中心提取。"),
        approved_entry(office, "护照怎么办理？", "到出入境接待大厅办理普通护照。"),
    ]
    # The current index is served (without the import) while the build runs.
    assert added[1].id not in faq.search_ids("护照办理", 3)
    faq.wait_for_background_build(60)
    assert faq.search_ids("护照办理", 3)[0] == added[1].id


def test_stale_statistics_start_a_background_build(app, office, kb):
    app.config["FAQ_INDEX_REFRESH_CHANGES"] = 1
    app.config["FAQ_INDEX_REFRESH_SHARE"] = 0.0
    background = faq.stats["background_builds"]
    approved_entry(office, "公积金怎么提取？", "职工购房可凭购房合同到公积金中心提取。")
    passport = approved_entry(office, "护照怎么办理？", "到出入境接待大厅办理普通护照。")
    # Applied at once (without a full build), then a refresh starts in the background.
    assert faq.search_ids("护照办理", 3)[0] == passport.id
    faq.wait_for_background_build(60)
    assert faq.stats["background_builds"] == background + 1
    built = faq.current_index()
    assert built is not None and built.index.changed_count == 0
    assert faq.search_ids("护照办理", 3)[0] == passport.id


def test_pages_say_the_index_is_being_built(app, office, client):
    app.config["FAQ_INDEX_INLINE_MAX"] = 0
    approved_entry(office, *ENTRIES[0])
    faq._cache.clear()
    page = client.get("/faq?q=社保卡补办").get_data(as_text=True)
    assert "问答检索正在准备中" in page
    faq.wait_for_background_build(60)
    page = client.get("/faq?q=社保卡补办").get_data(as_text=True)
    assert "社保卡在哪里补办" in page
