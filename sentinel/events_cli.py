"""`sentinel events …`: the event replay contract (issue 12).

``sentinel events replay --input FILE --assignments A.jsonl --events E.jsonl`` reads a
message-board export (CSV/XLSX, the import's header mapping), and runs its rows in time
order through the same ingest, classification, clustering and heat code the live system
runs — against a temporary SQLite database of its own, so no database of the live site is
touched, no job reaches Redis and no alert is sent (the ``on_escalated`` hooks are
suspended for the replay).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

# Replay batches: at most this many rows, spanning at most this much time (heat is computed
# at the batch's last time, so a batch must not stretch the 1-hour window).
BATCH_ROWS = 25
BATCH_SPAN = timedelta(minutes=30)
ENGAGEMENT_COLUMNS = {
    "点赞数": "likes",
    "反对数": "dislikes",
    "转发数": "reposts",
    "评论数": "comments",
}


@dataclass(frozen=True)
class ReplayRow:
    external_id: str
    item: Any  # services.ingest.IncomingItem, or None when the row could not be read
    error: str | None


def read_rows(path: str) -> list[ReplayRow]:
    """The file's rows as items (with engagement columns in ``extra``), in time order:
    stable, rows without a time after those with one."""
    from sentinel.services import importer

    table = importer.read_file(path, os.path.basename(path))
    mapping = importer.guess_mapping(table.columns)
    rows: list[ReplayRow] = []
    for row, number in zip(table.rows, table.numbers, strict=True):
        raw_id = str(row.get(mapping.get("external_id", ""), "") or "").strip()
        try:
            item = importer.row_to_item(row, mapping)
        except ValueError as exc:
            rows.append(ReplayRow(raw_id or f"row-{number}", None, str(exc)))
            continue
        extra: dict[str, int] = {}
        for column, key in ENGAGEMENT_COLUMNS.items():
            value = row.get(column)
            if value not in (None, ""):
                with contextlib.suppress(ValueError):
                    extra[key] = int(float(str(value)))
        if extra:
            item = replace(item, extra=extra)
        rows.append(ReplayRow(raw_id or item.external_id, item, None))
    far = datetime.max.replace(tzinfo=None)

    def order(r: ReplayRow) -> tuple[int, Any]:
        posted = r.item.posted_at if r.item is not None else None
        return (0, posted) if posted is not None else (1, far)

    ordered = sorted(range(len(rows)), key=lambda i: (*order(rows[i]), i))
    return [rows[i] for i in ordered]


def _batches(rows: list[ReplayRow]) -> Iterator[list[ReplayRow]]:
    batch: list[ReplayRow] = []
    start: datetime | None = None
    for r in rows:
        if r.item is None:
            continue
        at = r.item.posted_at
        if batch and (
            len(batch) >= BATCH_ROWS
            or (at is not None and start is not None and at - start > BATCH_SPAN)
        ):
            yield batch
            batch, start = [], None
        if start is None:
            start = at
        batch.append(r)
    if batch:
        yield batch


def replay(path: str, assignments_path: str, events_path: str, models_dir: str) -> dict[str, Any]:
    """Run the replay in a temporary database; write A.jsonl and E.jsonl. Returns figures."""
    from sentinel.app import create_app

    rows = read_rows(path)
    with tempfile.TemporaryDirectory(prefix="sentinel-replay-") as tmp:
        app = create_app(
            {
                "INSTANCE_PATH": tmp,
                "DATABASE_URL": "sqlite:///" + os.path.join(tmp, "replay.db"),
                "REDIS_URL": None,
                "JOBS_MODE": "sync",
                "MODELS_DIR": models_dir,
                "SMTP_HOST": None,
                "SECRET_KEY": "replay",
            }
        )
        with app.app_context():
            return _replay_in(app, rows, assignments_path, events_path)


def _replay_in(
    app: Any, rows: list[ReplayRow], assignments_path: str, events_path: str
) -> dict[str, Any]:
    from sqlalchemy import event as sa_event
    from sqlalchemy import func, select

    from sentinel.auth.permissions import Actor
    from sentinel.extensions import db
    from sentinel.models import Base, Event, EventItem, Item, Source
    from sentinel.services import events as event_service
    from sentinel.services import ingest, processing

    @sa_event.listens_for(db.engine, "connect")
    def _throwaway(dbapi: Any, _record: Any) -> None:
        # A temporary database deleted after the run: no need to wait for the disk.
        dbapi.execute("PRAGMA synchronous=OFF")
        dbapi.execute("PRAGMA journal_mode=MEMORY")

    db.engine.dispose()
    Base.metadata.create_all(db.engine)
    source = Source(name="回放", platform="import")
    db.session.add(source)
    db.session.commit()
    actor = Actor.system("replay")
    started = time.monotonic()
    item_of: dict[str, int] = {}
    with event_service.hooks_suspended():
        for batch in _batches(rows):
            results = ingest.ingest_items(actor, source, [r.item for r in batch], bulk=False)
            ids = [res.id for res in results]
            times = [r.item.posted_at for r in batch if r.item.posted_at is not None]
            processing.process_items(ids, heat_at=max(times) if times else None)
            db.session.commit()
            for r, res in zip(batch, results, strict=True):
                item_of[r.external_id] = res.id
    elapsed = time.monotonic() - started
    event_of = dict(db.session.execute(select(EventItem.item_id, EventItem.event_id)).all())
    with open(assignments_path, "w", encoding="utf-8") as fh:
        for r in rows:
            item_id = item_of.get(r.external_id)
            event_id = event_of.get(item_id) if item_id is not None else None
            fh.write(
                json.dumps(
                    {"id": r.external_id, "event_id": str(event_id) if event_id else None},
                    ensure_ascii=False,
                )
                + "\n"
            )
    events = list(db.session.scalars(select(Event).order_by(Event.heat_peak.desc(), Event.id)))
    with open(events_path, "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(
                json.dumps(
                    {
                        "event_id": str(e.id),
                        "heat": e.heat_peak,
                        "size": e.item_count,
                        "title": e.title,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    items = db.session.scalar(select(func.count()).select_from(Item)) or 0
    return {"rows": len(rows), "items": items, "events": len(events), "seconds": elapsed}


@click.group("events")
def events_group() -> None:
    """Hot events (热点/舆情事件)."""


@events_group.command("replay")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--assignments", "assignments_path", required=True, type=click.Path(dir_okay=False))
@click.option("--events", "events_path", required=True, type=click.Path(dir_okay=False))
@with_appcontext
def replay_command(input_path: str, assignments_path: str, events_path: str) -> None:
    """Replay a message-board export in time order through classification, clustering and
    heat, in a temporary database; write one line per row and one line per event."""
    figures = replay(input_path, assignments_path, events_path, current_app.config["MODELS_DIR"])
    click.echo(
        f"rows={figures['rows']} items={figures['items']} events={figures['events']} "
        f"seconds={figures['seconds']:.1f}"
    )


@events_group.command("heat-refresh")
@with_appcontext
def heat_refresh_command() -> None:
    """Recompute the heat of open events now (what the periodic job does)."""
    from sentinel.extensions import db
    from sentinel.models import utcnow
    from sentinel.services import event_heat

    n = event_heat.refresh_open(utcnow())
    db.session.commit()
    click.echo(f"events={n}")


COMMANDS = (events_group,)
