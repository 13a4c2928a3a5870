"""The pre-publish lint's configuration: administrators' word list and allowed domains.

The word list is the one shipped in ``classifiers/resources/wordlists/lint_words.txt``
plus the ``lint_words`` table: a table row adds a word or replaces the shipped row with
the same word, and an inactive row switches that word off. Allowed link/e-mail domains
come from the ``LINT_ALLOWED_DOMAINS`` setting.

Compiling the Aho-Corasick automaton takes milliseconds, linting a reply microseconds,
so the compiled :class:`~classifiers.reply_lint.LintConfig` is cached per process. The
cache key is the table's (row count, latest ``updated_at``, largest id): every web
process and worker sees an edit made by another process on its next lint, and an edit
in this process also drops the cache at once (:func:`invalidate_cache`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from classifiers.reply_lint import (
    DEFAULT_LINT_WORDLIST,
    WORD_KINDS,
    Finding,
    LintConfig,
    WordEntry,
    WordList,
    default_wordlist,
    lint,
    read_lint_wordlist,
)
from classifiers.tabular import TableError, read_table
from sentinel.auth.permissions import Actor
from sentinel.errors import SentinelError, ValidationFailed
from sentinel.extensions import db
from sentinel.models import LintWord, utcnow
from sentinel.services import audit

__all__ = [
    "ImportResult",
    "add_word",
    "allowed_domains",
    "build_config",
    "disable_shipped",
    "import_csv",
    "invalidate_cache",
    "lint_config",
    "lint_text",
    "set_active",
    "shipped_entries",
]

MAX_WORD = 100
MAX_SUGGESTION = 200
MAX_IMPORT_ROWS = 5000
#: Header names accepted in an imported CSV/XLSX (Chinese or English).
_COLUMNS = {
    "word": ("词", "词语", "错敏词", "word"),
    "kind": ("类别", "类型", "kind"),
    "suggestion": ("正确写法", "建议", "suggestion"),
    "active": ("启用", "状态", "active"),
}

_lock = threading.Lock()
_cache: dict[str, Any] = {"key": None, "config": None}


def allowed_domains(setting: Any = None) -> tuple[str, ...]:
    """``LINT_ALLOWED_DOMAINS`` as a tuple; a plain env string may list domains separated
    by commas or spaces (``SENTINEL_LINT_ALLOWED_DOMAINS="gov.cn,example.cn"``)."""
    value = (
        current_app.config.get("LINT_ALLOWED_DOMAINS", ("gov.cn",)) if setting is None else setting
    )
    if isinstance(value, str):
        value = value.replace(",", " ").replace("，", " ").split()
    return tuple(d.strip().lower().lstrip(".") for d in value if d and d.strip())


def shipped_entries() -> tuple[WordEntry, ...]:
    """The rows of the shipped list (what the page shows beside the table)."""
    return default_wordlist().entries


def build_config(rows: Iterable[LintWord], domains: tuple[str, ...]) -> LintConfig:
    """A compiled :class:`LintConfig` from the shipped list overlaid with ``rows``."""
    overlay = list(rows)
    switched_off = {r.word for r in overlay if not r.active}
    entries: list[WordEntry] = [
        e for e in read_lint_wordlist(DEFAULT_LINT_WORDLIST) if e.word not in switched_off
    ]
    entries.extend(WordEntry(r.word, r.kind, r.suggestion) for r in overlay if r.active)
    return LintConfig(allowed_domains=domains, words=WordList(entries))


def _table_key() -> tuple[Any, ...]:
    count, latest, top = db.session.execute(
        select(func.count(LintWord.id), func.max(LintWord.updated_at), func.max(LintWord.id))
    ).one()
    return (count, latest, top)


def lint_config() -> LintConfig:
    """The office's current lint configuration (cached; see the module docstring)."""
    # The database's identity is part of the key: tests and tools may hold two apps.
    key = (str(db.engine.url), _table_key(), allowed_domains())
    with _lock:
        if _cache["key"] == key and _cache["config"] is not None:
            return _cache["config"]
    rows = db.session.scalars(select(LintWord).order_by(LintWord.id)).all()
    config = build_config(rows, key[2])
    with _lock:
        _cache["key"], _cache["config"] = key, config
    return config


def invalidate_cache() -> None:
    """Forget the compiled configuration (called by every edit in this process)."""
    with _lock:
        _cache["key"] = _cache["config"] = None


def lint_text(text: str) -> list[Finding]:
    """Lint ``text`` with the office's word list and allowed domains."""
    return lint(text, lint_config())


# ---------------------------------------------------------------------------- editing


def _clean(word: str, kind: str, suggestion: str | None) -> tuple[str, str, str | None]:
    word = (word or "").strip()
    kind = (kind or "").strip()
    suggestion = (suggestion or "").strip() or None
    if not word:
        raise ValidationFailed("请填写词语")
    if len(word) > MAX_WORD:
        raise ValidationFailed(f"词语不能超过 {MAX_WORD} 个字")
    if suggestion and len(suggestion) > MAX_SUGGESTION:
        raise ValidationFailed(f"正确写法或建议不能超过 {MAX_SUGGESTION} 个字")
    if kind not in WORD_KINDS:
        raise ValidationFailed("类别须为“错词”或“敏感词”")
    try:
        # The same checks the automaton applies (a 错词 needs a different correct form).
        WordList([(word, kind, suggestion)])
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    return word, kind, suggestion


def _upsert(
    actor: Actor, word: str, kind: str, suggestion: str | None, active: bool
) -> tuple[LintWord, bool]:
    row = db.session.scalar(select(LintWord).where(LintWord.word == word))
    created = row is None
    if row is None:
        row = LintWord(word=word)
        db.session.add(row)
    row.kind, row.suggestion, row.active = kind, suggestion, active
    row.updated_by_id = actor.user_id
    row.updated_at = utcnow()
    return row, created


def add_word(actor: Actor, word: str, kind: str, suggestion: str | None = None) -> LintWord:
    """Add a word (or update and re-enable the row with the same word)."""
    word, kind, suggestion = _clean(word, kind, suggestion)
    row, created = _upsert(actor, word, kind, suggestion, True)
    db.session.flush()
    audit.record(
        actor,
        "lint_word.add" if created else "lint_word.update",
        "lint_word",
        row.id,
        word=word,
        kind=kind,
        suggestion=suggestion,
    )
    invalidate_cache()
    return row


def set_active(actor: Actor, row: LintWord, active: bool) -> LintWord:
    """Switch a table row on or off."""
    if row.active == active:
        return row
    row.active = active
    row.updated_by_id = actor.user_id
    row.updated_at = utcnow()
    db.session.flush()
    audit.record(
        actor,
        "lint_word.enable" if active else "lint_word.disable",
        "lint_word",
        row.id,
        word=row.word,
    )
    invalidate_cache()
    return row


def disable_shipped(actor: Actor, word: str) -> LintWord:
    """Switch off a word of the shipped list (an inactive table row with the same word)."""
    entry = next((e for e in shipped_entries() if e.word == (word or "").strip()), None)
    if entry is None:
        raise SentinelError("内置词表中没有这个词")
    row, _ = _upsert(actor, entry.word, entry.kind, entry.suggestion, False)
    db.session.flush()
    audit.record(actor, "lint_word.disable", "lint_word", row.id, word=entry.word, shipped=True)
    invalidate_cache()
    return row


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int


def _column(columns: list[str], field: str) -> str | None:
    names = {c.strip().lower(): c for c in columns}
    return next((names[n] for n in _COLUMNS[field] if n in names), None)


def import_csv(actor: Actor, data: bytes, filename: str) -> ImportResult:
    """Import a CSV/XLSX word list (columns 词, 类别, 正确写法, optional 启用).

    All or nothing: when any row is wrong nothing is stored and the error names the rows.
    """
    try:
        table = read_table(data, filename, max_rows=MAX_IMPORT_ROWS + 1)
    except TableError as exc:
        raise ValidationFailed(exc.message) from exc
    word_col = _column(table.columns, "word")
    kind_col = _column(table.columns, "kind")
    if word_col is None or kind_col is None:
        raise ValidationFailed("文件须有表头“词”和“类别”（可选“正确写法”“启用”）")
    if len(table.rows) > MAX_IMPORT_ROWS:
        raise ValidationFailed(f"一次最多导入 {MAX_IMPORT_ROWS} 行")
    suggestion_col = _column(table.columns, "suggestion")
    active_col = _column(table.columns, "active")
    rows: dict[str, tuple[str, str | None, bool]] = {}
    errors: list[str] = []
    for number, raw in zip(table.numbers, table.rows, strict=True):

        def cell(col: str | None, raw: dict[str, Any] = raw) -> str:
            value = raw.get(col) if col else None
            return "" if value is None else str(value).strip()

        if not cell(word_col) and not cell(kind_col):
            continue
        try:
            word, kind, suggestion = _clean(cell(word_col), cell(kind_col), cell(suggestion_col))
        except ValidationFailed as exc:
            errors.append(f"第 {number} 行：{exc.message}")
            continue
        active_text = cell(active_col)
        if active_text not in (
            "",
            "1",
            "是",
            "启用",
            "true",
            "True",
            "0",
            "否",
            "停用",
            "false",
            "False",
        ):
            errors.append(f"第 {number} 行：“启用”应为 是/否")
            continue
        rows[word] = (kind, suggestion, active_text not in ("0", "否", "停用", "false", "False"))
    if errors:
        shown = "；".join(errors[:5]) + (
            f"；另有 {len(errors) - 5} 行有误" if len(errors) > 5 else ""
        )
        raise ValidationFailed(f"未导入任何词：{shown}")
    if not rows:
        raise ValidationFailed("文件中没有词")
    added = updated = 0
    for word, (kind, suggestion, active) in rows.items():
        _, created = _upsert(actor, word, kind, suggestion, active)
        added += created
        updated += not created
    db.session.flush()
    audit.record(actor, "lint_word.import", "lint_word", None, added=added, updated=updated)
    invalidate_cache()
    return ImportResult(added, updated)
