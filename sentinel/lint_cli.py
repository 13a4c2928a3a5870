"""``sentinel lint``: the pre-publish lint over a JSON Lines file (issue 13's contract).

Input: one JSON object per line, ``{"id": ..., "text": "..."}``. Output: one line per
non-blank input line, in the same order, ``{"id": ..., "findings": [{"kind", "start",
"end", "text"}]}`` with character offsets into ``text``. A line that cannot be read gives
``{"id": <id or null>, "line": n, "error": "..."}`` in its place and a message with the
line number on stderr; the other lines are still linted, and the command exits with
status 1 at the end.

Word list: the shipped list always; the administrators' words from the database too
when one is there. ``--no-db`` never touches a database (nothing is configured, or a
held-out check); ``--db`` insists on it; by default the database is used when it is
reachable and migrated, and an embedded SQLite file is never created just for this.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

import click
from flask import current_app
from flask.cli import with_appcontext

from classifiers.reply_lint import LintConfig, default_wordlist, lint


def _sqlite_file_missing(uri: str) -> bool:
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if uri.startswith(prefix):
            path = uri[len(prefix) :].split("?", 1)[0]
            return path not in ("", ":memory:") and not os.path.exists(path)
    return False


def _config(use_db: bool | None) -> tuple[LintConfig, str]:
    """The lint configuration and a Chinese note on where its words came from."""
    from sentinel.services import lint_words

    domains = lint_words.allowed_domains()
    shipped = LintConfig(allowed_domains=domains, words=default_wordlist())
    if use_db is False:
        return shipped, "仅用内置词表（--no-db）"
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from sentinel.extensions import db

    uri = current_app.config["SQLALCHEMY_DATABASE_URI"]
    reason = None
    if _sqlite_file_missing(uri):
        reason = "没有数据库文件"
    else:
        try:
            if not inspect(db.engine).has_table("lint_words"):
                reason = "数据库尚未升级（sentinel db upgrade）"
        except SQLAlchemyError:
            reason = "无法连接数据库"
    if reason is None:
        config = lint_words.lint_config()
        words = config.words
        return config, f"内置词表 + 数据库词表（共 {len(words) if words else 0} 个词）"
    if use_db:
        raise click.ClickException(f"--db：{reason}")
    return shipped, f"仅用内置词表（{reason}）"


def _parse(line: str) -> tuple[Any, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"不是有效的 JSON（第 {exc.colno} 列：{exc.msg}）") from exc
    if not isinstance(record, dict):
        raise ValueError('应为 JSON 对象 {"id": ..., "text": ...}')
    if "id" not in record:
        raise ValueError("缺少 id")
    if not isinstance(record["id"], str | int) or isinstance(record["id"], bool):
        raise ValueError("id 应为字符串或整数")
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError("text 应为字符串" if "text" in record else "缺少 text")
    return record["id"], text


def run(source: IO[str], sink: IO[str], config: LintConfig) -> tuple[int, int, int]:
    """Lint every line of ``source`` into ``sink``; return (lines, findings, bad lines)."""
    lines = found = bad = 0
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        lines += 1
        try:
            record_id, text = _parse(line)
        except ValueError as exc:
            bad += 1
            click.echo(f"第 {number} 行：{exc}", err=True)
            partial: Any = None
            try:
                loaded = json.loads(line)
                partial = loaded.get("id") if isinstance(loaded, dict) else None
            except json.JSONDecodeError:
                pass
            out: dict[str, Any] = {"id": partial, "line": number, "error": str(exc)}
        else:
            findings = lint(text, config)
            found += len(findings)
            out = {"id": record_id, "findings": [f.as_dict() for f in findings]}
        sink.write(json.dumps(out, ensure_ascii=False) + "\n")
    return lines, found, bad


@click.command("lint")
@click.option(
    "--input", "input_path", required=True, help='输入 JSONL：每行 {"id", "text"}；- 为标准输入'
)
@click.option(
    "--output",
    "output_path",
    required=True,
    help='输出 JSONL：每行 {"id", "findings"}；- 为标准输出',
)
@click.option(
    "--db/--no-db",
    "use_db",
    default=None,
    help="是否读取数据库中的错敏词（默认：数据库可用时读取；--no-db 只用内置词表）",
)
@with_appcontext
def lint_command(input_path: str, output_path: str, use_db: bool | None) -> None:
    """Pre-publish lint (发布前检查) of a JSON Lines file: personal data, links, 错敏词."""
    config, note = _config(use_db)
    click.echo(note, err=True)
    try:
        source = (
            sys.stdin if input_path == "-" else open(input_path, encoding="utf-8-sig", newline="")  # noqa: SIM115
        )
    except OSError as exc:
        raise click.ClickException(f"无法读取输入文件：{exc.strerror}") from exc
    try:
        sink = (
            sys.stdout
            if output_path == "-"
            else open(output_path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        )
    except OSError as exc:
        raise click.ClickException(f"无法写入输出文件：{exc.strerror}") from exc
    try:
        lines, found, bad = run(source, sink, config)
    except UnicodeDecodeError as exc:
        raise click.ClickException("输入文件不是 UTF-8 编码") from exc
    finally:
        if source is not sys.stdin:
            source.close()
        if sink is not sys.stdout:
            sink.close()
    click.echo(
        f"已检查 {lines} 条，发现问题 {found} 处" + (f"，{bad} 行无法读取" if bad else ""), err=True
    )
    if bad:
        sys.exit(1)


COMMANDS = (lint_command,)
