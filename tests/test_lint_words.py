"""错敏词: the administrators' word list (service, page with CSRF on, audit) and the
``sentinel lint`` contract command."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from sentinel.errors import SentinelError, ValidationFailed
from sentinel.extensions import db
from sentinel.models import AuditEvent, LintWord, utcnow
from sentinel.services import lint_words
from tests.test_duplicates import csrf_login, page_token


def words_found(text: str) -> list[tuple[str, str | None]]:
    return [(f.text, f.suggestion) for f in lint_words.lint_text(text) if f.kind == "word"]


# ------------------------------------------------------------------------------ service


def test_office_words_add_to_the_shipped_list_and_edits_apply_at_once(app, office):
    admin = office.actor("admin")
    assert words_found("县教体局发文，国务院办工厅") == [("国务院办工厅", "国务院办公厅")]
    row = lint_words.add_word(admin, "县教体局", "错词", "县教育体育局")
    db.session.commit()
    assert words_found("县教体局发文，国务院办工厅") == [
        ("县教体局", "县教育体育局"),
        ("国务院办工厅", "国务院办公厅"),
    ]
    lint_words.set_active(admin, row, False)
    db.session.commit()
    assert words_found("县教体局发文") == []
    again = lint_words.add_word(admin, "县教体局", "敏感词", "")
    db.session.commit()
    assert again.id == row.id and again.active and again.kind == "敏感词"
    assert [f.suggestion for f in lint_words.lint_text("县教体局")] == [None]
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "lint_word").order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == ["lint_word.add", "lint_word.disable", "lint_word.update"]
    event = events[0]
    assert event.actor_id == office.users["admin"].id and event.ip == "127.0.0.1"


def test_a_shipped_word_can_be_switched_off_and_back_on(app, office):
    admin = office.actor("admin")
    assert words_found("截止目前") == [("截止目前", "截至目前")]
    row = lint_words.disable_shipped(admin, "截止目前")
    db.session.commit()
    assert not row.active and row.kind == "错词" and row.suggestion == "截至目前"
    assert words_found("截止目前") == []
    lint_words.set_active(admin, row, True)
    db.session.commit()
    assert words_found("截止目前") == [("截止目前", "截至目前")]
    with pytest.raises(SentinelError):
        lint_words.disable_shipped(admin, "不在词表里的词")


def test_an_edit_by_another_process_is_seen_on_the_next_lint(app, office):
    row = lint_words.add_word(office.actor("admin"), "某某词", "敏感词")
    db.session.commit()
    assert words_found("含某某词") == [("某某词", None)]
    # Another web process or worker switched it off: no invalidate_cache() here.
    db.session.execute(
        update(LintWord).where(LintWord.id == row.id).values(active=False, updated_at=utcnow())
    )
    db.session.commit()
    assert words_found("含某某词") == []


@pytest.mark.parametrize(
    "word, kind, suggestion",
    [
        ("", "错词", "x"),
        ("错字", "其他", "对字"),
        ("错字", "错词", ""),
        ("同字", "错词", "同字"),
        ("长" * 101, "敏感词", ""),
    ],
)
def test_bad_words_are_refused(app, office, word, kind, suggestion):
    with pytest.raises(ValidationFailed):
        lint_words.add_word(office.actor("admin"), word, kind, suggestion)
    assert db.session.scalars(select(LintWord)).all() == []


def test_allowed_domains_setting(app, office):
    assert lint_words.allowed_domains() == ("gov.cn",)
    assert [f.kind for f in lint_words.lint_text("见www.example.org.cn/a")] == ["link"]
    app.config["LINT_ALLOWED_DOMAINS"] = "gov.cn, example.org.cn"
    assert lint_words.allowed_domains() == ("gov.cn", "example.org.cn")
    assert lint_words.lint_text("见www.example.org.cn/a") == []
    app.config["LINT_ALLOWED_DOMAINS"] = ["gov.cn"]


def test_import_is_all_or_nothing_and_names_the_rows(app, office):
    admin = office.actor("admin")
    good = "词,类别,正确写法,启用\n县教体局,错词,县教育体育局,是\n内部明电,敏感词,,否\n".encode()
    result = lint_words.import_csv(admin, good, "words.csv")
    db.session.commit()
    assert (result.added, result.updated) == (2, 0)
    rows = {r.word: r for r in db.session.scalars(select(LintWord))}
    assert rows["县教体局"].active and not rows["内部明电"].active
    bad = "词,类别,正确写法\n新词,错词,新詞\n错字,错词,\n另一,别的,x\n".encode()
    with pytest.raises(ValidationFailed) as err:
        lint_words.import_csv(admin, bad, "words.csv")
    assert "第 3 行" in err.value.message and "第 4 行" in err.value.message
    db.session.rollback()
    assert "新词" not in {r.word for r in db.session.scalars(select(LintWord))}
    with pytest.raises(ValidationFailed):
        lint_words.import_csv(admin, "word\n县教体局\n".encode(), "words.csv")
    with pytest.raises(ValidationFailed):
        lint_words.import_csv(admin, b"", "words.csv")


# ------------------------------------------------------------------- page, CSRF on


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "WTF_CSRF_ENABLED": True}


def test_page_adds_words_only_with_the_pages_token(app, client, office):
    csrf_login(client, "admin")
    page, token = page_token(client, "/admin/lint-words")
    assert "错敏词" in page and "国务院办工厅" in page  # the shipped list is shown
    refused = client.post("/admin/lint-words", data={"word": "县教体局", "kind": "错词"})
    assert refused.status_code == 400
    assert db.session.scalars(select(LintWord)).all() == []
    ok = client.post(
        "/admin/lint-words",
        data={
            "word": "县教体局",
            "kind": "错词",
            "suggestion": "县教育体育局",
            "csrf_token": token,
        },
    )
    assert ok.status_code == 302
    row = db.session.scalars(select(LintWord)).one()
    assert row.updated_by_id == office.users["admin"].id
    page = client.get("/admin/lint-words").get_data(as_text=True)
    assert "已保存“县教体局”" in page and "县教育体育局" in page
    # A 错词 without its correct form: refused, flashed, nothing stored.
    client.post("/admin/lint-words", data={"word": "错字", "kind": "错词", "csrf_token": token})
    assert "错词「错字」缺少正确写法" in client.get("/admin/lint-words").get_data(as_text=True)
    assert db.session.scalars(select(LintWord.word)).all() == ["县教体局"]


def test_page_toggle_disable_shipped_import_and_check(app, client, office):
    csrf_login(client, "admin")
    _, token = page_token(client, "/admin/lint-words")
    client.post("/admin/lint-words/shipped", data={"word": "截止目前", "csrf_token": token})
    row = db.session.scalars(select(LintWord)).one()
    assert row.word == "截止目前" and not row.active
    client.post(f"/admin/lint-words/{row.id}/toggle", data={"active": "1", "csrf_token": token})
    db.session.refresh(row)
    assert row.active
    assert (
        client.post(f"/admin/lint-words/{row.id}/toggle", data={"active": "0"}).status_code == 400
    )
    upload = {
        "file": (io.BytesIO("词,类别,正确写法\n县教体局,错词,县教育体育局\n".encode()), "词表.csv"),
        "csrf_token": token,
    }
    assert client.post("/admin/lint-words/import", data=upload).status_code == 302
    assert "新增 1 个词" in client.get("/admin/lint-words").get_data(as_text=True)
    checked = client.post(
        "/admin/lint-words/check",
        data={"text": "电话13800138000，县教体局", "csrf_token": token},
    ).get_data(as_text=True)
    assert "138****8000" in checked and "县教育体育局" in checked
    # The checked text is not stored anywhere.
    assert db.session.scalars(select(AuditEvent.action)).all().count("lint_word.import") == 1


def test_page_is_for_administrators_only(app, client, office):
    csrf_login(client, "reviewer")
    assert client.get("/admin/lint-words").status_code == 403


# ----------------------------------------------------------------------- the CLI


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_contract_with_database_words(app, office, runner, tmp_path):
    lint_words.add_word(office.actor("admin"), "县教体局", "错词", "县教育体育局")
    db.session.commit()
    src = _write(
        tmp_path / "in.jsonl",
        [
            json.dumps({"id": "r1", "text": "电话13800138000联系，县教体局"}, ensure_ascii=False),
            "{broken",
            json.dumps({"id": 7, "text": "邮箱abc@qq.com。"}, ensure_ascii=False),
            json.dumps({"id": 8}),
            "",
            json.dumps({"id": 9, "text": "详见www.hunan.gov.cn"}, ensure_ascii=False),
        ],
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(args=["lint", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 1
    assert "第 2 行" in result.output and "第 4 行：缺少 text" in result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {
            "id": "r1",
            "findings": [
                {"kind": "mobile", "start": 2, "end": 13, "text": "13800138000"},
                {"kind": "word", "start": 16, "end": 20, "text": "县教体局"},
            ],
        },
        {"id": None, "line": 2, "error": lines[1]["error"]},
        {"id": 7, "findings": [{"kind": "email", "start": 2, "end": 12, "text": "abc@qq.com"}]},
        {"id": 8, "line": 4, "error": "缺少 text"},
        {"id": 9, "findings": []},
    ]
    # --no-db: the shipped list only.
    result = runner.invoke(args=["lint", "--input", str(src), "--output", str(out), "--no-db"])
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert [f["kind"] for f in first["findings"]] == ["mobile"]
    assert "仅用内置词表" in result.output


def test_cli_without_a_database_uses_the_shipped_list(tmp_path):
    """No DATABASE_URL and no SQLite file: the command works and creates no database."""
    from click.testing import CliRunner

    from sentinel import create_app
    from sentinel.lint_cli import lint_command

    instance = tmp_path / "instance"
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(instance), "SECRET_KEY": "x"})
    src = _write(tmp_path / "in.jsonl", [json.dumps({"id": 1, "text": "国务院办工厅"})])
    out = tmp_path / "out.jsonl"
    with app.app_context():
        result = CliRunner().invoke(lint_command, ["--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "没有数据库文件" in result.output
    assert json.loads(out.read_text(encoding="utf-8")) == {
        "id": 1,
        "findings": [{"kind": "word", "start": 0, "end": 6, "text": "国务院办工厅"}],
    }
    assert not (instance / "sentinel.db").exists()
