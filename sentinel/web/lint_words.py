"""错敏词管理: administrators edit the pre-publish lint's word list (issue 13)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from sentinel.auth.permissions import current_actor, require
from sentinel.errors import NotFound
from sentinel.extensions import db
from sentinel.models import LintWord
from sentinel.models.lint_word import LINT_WORD_KINDS
from sentinel.services import lint_words
from sentinel.web.forms import submit
from sentinel.web.uploads import upload_limit

bp = Blueprint("lint_words", __name__, url_prefix="/admin/lint-words")

#: Text pasted into the "试一试" box is linted, shown once and never stored.
MAX_CHECK_CHARS = 20_000


def _render(checked: str | None = None, findings: list[Any] | None = None) -> Any:
    rows = db.session.scalars(select(LintWord).order_by(LintWord.updated_at.desc())).all()
    overridden = {r.word: r for r in rows}
    return render_template(
        "lint_words/index.html",
        rows=rows,
        shipped=lint_words.shipped_entries(),
        overridden=overridden,
        kinds=LINT_WORD_KINDS,
        domains=lint_words.allowed_domains(),
        checked=checked,
        findings=findings,
        max_kb=current_app.config["LINT_WORDS_MAX_BYTES"] // 1024,
    )


@bp.route("", methods=["GET", "POST"])
@require("admin.manage")
def index() -> Any:
    if request.method == "POST":
        submit(
            lambda: lint_words.add_word(
                current_actor(),
                request.form.get("word", ""),
                request.form.get("kind", ""),
                request.form.get("suggestion"),
            ),
            lambda row: f"已保存“{row.word}”",
        )
        return redirect(url_for("lint_words.index"))
    return _render()


@bp.route("/<int:word_id>/toggle", methods=["POST"])
@require("admin.manage")
def toggle(word_id: int) -> Any:
    row = db.session.get(LintWord, word_id)
    if row is None:
        raise NotFound("词不存在")
    active = request.form.get("active") == "1"
    submit(
        lambda: lint_words.set_active(current_actor(), row, active),
        f"已{'启用' if active else '停用'}“{row.word}”",
    )
    return redirect(url_for("lint_words.index"))


@bp.route("/shipped", methods=["POST"])
@require("admin.manage")
def disable_shipped() -> Any:
    word = request.form.get("word", "")
    submit(lambda: lint_words.disable_shipped(current_actor(), word), f"已停用内置词“{word}”")
    return redirect(url_for("lint_words.index"))


@bp.route("/import", methods=["POST"])
@upload_limit("LINT_WORDS_MAX_BYTES")
@require("admin.manage")
def import_words() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要导入的文件", "warning")
        return redirect(url_for("lint_words.index"))
    filename, data = upload.filename, upload.read()
    submit(
        lambda: lint_words.import_csv(current_actor(), data, filename),
        lambda result: f"已导入：新增 {result.added} 个词，更新 {result.updated} 个词",
    )
    return redirect(url_for("lint_words.index"))


@bp.route("/check", methods=["POST"])
@require("admin.manage")
def check() -> Any:
    text = request.form.get("text", "")[:MAX_CHECK_CHARS]
    return _render(checked=text, findings=lint_words.lint_text(text))
