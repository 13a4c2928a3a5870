"""``sentinel calendar …`` and ``sentinel sweep``: the deadline commands (issue 6)."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import with_appcontext

from sentinel.auth.permissions import Actor
from sentinel.errors import SentinelError
from sentinel.extensions import db

CLI_ACTOR = Actor(label="cli")


def _after_calendar_change() -> int:
    """Recompute provisional deadlines once a missing year may have been loaded."""
    try:
        from sentinel.services import sla
    except ImportError:  # pragma: no cover - before the clocks exist
        return 0
    return sla.recompute_provisional(CLI_ACTOR)


@click.group("calendar")
def calendar_group() -> None:
    """The official working-day calendar (工作日与调休)."""


@calendar_group.command("add-days", context_settings={"ignore_unknown_options": True})
@click.argument("start", metavar="DATE")
@click.argument("n", type=int)
@with_appcontext
def add_days_command(start: str, n: int) -> None:
    """Print the date N working days after DATE (DATE not counted; negative N counts back)."""
    from sentinel.services import workcalendar

    try:
        day = date.fromisoformat(start)
    except ValueError as exc:
        raise click.BadParameter(f"日期应为 YYYY-MM-DD：{start}") from exc
    result, provisional = workcalendar.add_working_days(day, n)
    if provisional:
        click.echo(
            "注意：跨越了尚未导入节假日安排的年份，按周末和固定日期节假日推算，结果为临时值",
            err=True,
        )
    click.echo(result.isoformat() + (" provisional" if provisional else ""))


@calendar_group.command("import")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_command(path: str) -> None:
    """Load a year's schedule from a CSV file: date,kind,name (kind holiday or workday)."""
    from sentinel.services import workcalendar

    try:
        with open(path, "rb") as fh:
            rows = workcalendar.read_schedule_file(fh.read(), path)
        result = workcalendar.import_schedule(CLI_ACTOR, rows)
        recomputed = _after_calendar_change()
        db.session.commit()
    except SentinelError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"已导入 {workcalendar.format_years(result.years)} 年：放假 {result.holidays} 天，"
        f"调休上班 {result.workdays} 天；重新计算临时时限 {recomputed} 件"
    )


@calendar_group.command("seed")
@click.option("--overwrite", is_flag=True, help="覆盖已导入的年份（会丢失人工修改）")
@with_appcontext
def seed_command(overwrite: bool) -> None:
    """Load 2004–2026 from the chinesecalendar package (years already loaded are kept)."""
    from sentinel.services import workcalendar

    years = workcalendar.seed_from_package(CLI_ACTOR, only_missing=not overwrite)
    recomputed = _after_calendar_change() if years else 0
    db.session.commit()
    if years:
        click.echo(
            f"已载入 {workcalendar.format_years(years)} 年；重新计算临时时限 {recomputed} 件"
        )
    else:
        click.echo("日历已是最新，无需载入")


@calendar_group.command("set")
@click.argument("day", metavar="DATE")
@click.argument("kind", type=click.Choice(["workday", "holiday"]))
@click.argument("name", required=False, default="")
@with_appcontext
def set_command(day: str, kind: str, name: str) -> None:
    """Add or correct one day (a weekend workday is a 调休 make-up day)."""
    from sentinel.services import workcalendar

    try:
        row = workcalendar.set_day(CLI_ACTOR, date.fromisoformat(day), kind, name)
        db.session.commit()
    except ValueError as exc:
        raise click.BadParameter(f"日期应为 YYYY-MM-DD：{day}") from exc
    except SentinelError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"{row.day.isoformat()} {row.kind_label}{'（' + row.name + '）' if row.name else ''}"
    )


@calendar_group.command("status")
@with_appcontext
def status_command() -> None:
    """List loaded years; warn when next year's schedule is missing."""
    from sentinel.services import workcalendar

    st = workcalendar.status()
    click.echo(f"已导入年份：{st.ranges or '无'}")
    if st.partial_years:
        click.echo(f"部分导入（按临时规则补足）：{workcalendar.format_years(st.partial_years)}")
    if st.next_year_loaded:
        click.echo(f"✓ {st.next_year} 年节假日安排已导入")
    else:
        click.echo(
            f"警告：{st.next_year} 年节假日安排尚未导入；"
            f"涉及 {st.next_year} 年的时限按周末和固定日期节假日临时推算。"
            f"国务院办公厅通知发布后请用 sentinel calendar import 导入"
        )


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Run one deadline sweep now (recorded like the periodic one) and print what it did."""
    from flask import current_app

    from sentinel.jobs.periodic import run_periodic_in_app
    from sentinel.services import reminder_ladder

    result = run_periodic_in_app(current_app._get_current_object(), reminder_ladder.SWEEP_JOB)
    if result is None:
        raise click.ClickException("时限巡检未运行（另一次巡检正在进行）")
    for line in reminder_ladder.SweepResult(**result).describe():
        click.echo(line)


COMMANDS = (calendar_group, sweep_command)
