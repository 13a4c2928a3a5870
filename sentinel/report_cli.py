"""``sentinel report …``: the same report files as the web page, from the command line."""

from __future__ import annotations

import os
from datetime import date

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.models import Unit
from sentinel.models.report import REPORT_FORMATS, REPORT_KINDS


@click.group("report")
def report_group() -> None:
    """生成并存档报告（留言办理情况、日/周/月/季/年报告）。"""


def _make(kind: str, start: date, end: date, unit_name: str | None, output: str) -> None:
    from sentinel.services import reports

    fmt = os.path.splitext(output)[1].lstrip(".").lower()
    if fmt not in REPORT_FORMATS:
        raise click.ClickException("输出文件须以 .xlsx、.docx 或 .pdf 结尾")
    unit_id = None
    if unit_name:
        unit = db.session.scalar(select(Unit).where(Unit.name == unit_name))
        if unit is None:
            raise click.ClickException(f"单位不存在：{unit_name}")
        unit_id = unit.id
    params = {
        "kind": kind,
        "fmt": fmt,
        "period": "custom",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "unit_id": unit_id,
    }
    try:
        archive = reports.request_report(Actor.system("cli"), params)
        db.session.commit()
        with click.progressbar(length=100, label="生成中") as bar:
            done = [0]

            def progress(percent: int) -> None:
                bar.update(max(0, percent - done[0]))
                done[0] = max(done[0], percent)

            reports.generate(archive, progress=progress)
        db.session.commit()
        data = reports.file_bytes(archive)
    except SentinelError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    with open(output, "wb") as fh:
        fh.write(data)
    click.echo(f"已生成 {output}（存档 #{archive.id}，SHA-256 {archive.sha256}）")


@report_group.command("sla")
@click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="起始日期")
@click.option(
    "--to", "end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="结束日期（含）"
)
@click.option("--unit", "unit_name", default=None, help="统计单位名称（含下属单位），默认全部")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="FILE.xlsx、FILE.docx 或 FILE.pdf",
)
@with_appcontext
def report_sla(start: object, end: object, unit_name: str | None, output: str) -> None:
    """留言办理情况报告（各单位）。"""
    _make("sla", start.date(), end.date(), unit_name, output)  # type: ignore[attr-defined]


@report_group.command("periodic")
@click.argument("kind", type=click.Choice([k for k in REPORT_KINDS if k != "sla"]))
@click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "end", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--unit", "unit_name", default=None, help="统计单位名称（含下属单位），默认全部")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="FILE.xlsx、FILE.docx 或 FILE.pdf",
)
@with_appcontext
def report_periodic(
    kind: str, start: object, end: object, unit_name: str | None, output: str
) -> None:
    """日监测 / 周研判 / 月报 / 季通报 / 年度报告。"""
    _make(kind, start.date(), end.date(), unit_name, output)  # type: ignore[attr-defined]


COMMANDS = (report_group,)
