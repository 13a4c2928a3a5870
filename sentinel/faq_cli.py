"""``sentinel faq …``: import, export and search the FAQ knowledge base (issue 15)."""

from __future__ import annotations

import json
import os

import click
from flask.cli import with_appcontext

from sentinel.auth.permissions import Actor
from sentinel.errors import SentinelError
from sentinel.extensions import db

CLI_ACTOR = Actor(label="cli")


@click.group("faq")
def faq_group() -> None:
    """The FAQ knowledge base (咨询问答库)."""


@faq_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_command(path: str) -> None:
    """Import a CSV/XLSX list (编号, 问题, 答案, optional 主题, 单位) as approved internal
    entries; rows whose 编号 was imported before update that entry."""
    from classifiers.tabular import TableError
    from sentinel.services import faq

    with open(path, "rb") as fh:
        data = fh.read()
    try:
        result = faq.import_table(CLI_ACTOR, data, os.path.basename(path))
    except (SentinelError, TableError) as exc:
        db.session.rollback()
        raise click.ClickException(getattr(exc, "message", str(exc))) from exc
    db.session.commit()
    for error in result.errors[:50]:
        click.echo(error, err=True)
    click.echo(
        f"created={result.created} updated={result.updated} "
        f"unchanged={result.unchanged} errors={len(result.errors)}"
    )


@faq_group.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def export_command(path: str) -> None:
    """Export approved entries to PATH (.xlsx, otherwise CSV in UTF-8)."""
    from sentinel.services import faq

    rows = faq.export_rows(None)
    fmt = "xlsx" if path.lower().endswith(".xlsx") else "csv"
    with open(path, "wb") as fh:
        fh.write(faq.export_bytes(rows, fmt))
    click.echo(f"exported={len(rows)}")


@faq_group.command("search")
@click.option("--queries", "queries_path", required=True, type=click.Path(dir_okay=False))
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False))
@click.option("--public", is_flag=True, help="Only public, current entries (the public page).")
@with_appcontext
def search_command(queries_path: str, top: int, output_path: str, public: bool) -> None:
    """Search approved entries for each JSONL query {"id", "text"}; write {"id", "results"}
    with 编号 (or entry id) best first — the same search the site uses."""
    from sentinel.models.faq import FaqEntry
    from sentinel.services import faq

    refs = dict(
        db.session.execute(
            db.select(FaqEntry.id, FaqEntry.external_ref).where(FaqEntry.status == "approved")
        ).all()
    )
    n = 0
    with (
        open(queries_path, encoding="utf-8-sig") as source,
        open(output_path, "w", encoding="utf-8") as out,
    ):
        for line_no, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                query = json.loads(line)
            except json.JSONDecodeError as exc:
                raise click.ClickException(f"{queries_path}:{line_no}: not JSON ({exc})") from exc
            ids = faq.search_ids(str(query.get("text") or ""), top, public_only=public, wait=True)
            results = [refs.get(i) or str(i) for i in ids]
            out.write(json.dumps({"id": query.get("id"), "results": results}, ensure_ascii=False))
            out.write("\n")
            n += 1
    click.echo(f"queries={n}")


COMMANDS = (faq_group,)
