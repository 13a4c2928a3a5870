"""The ``sentinel`` command line (also ``flask --app sentinel``)."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.errors import SentinelError
from sentinel.extensions import db
from sentinel.jobqueue import wait_for_in_process_jobs

CLI_ACTOR = Actor(label="cli")


def _fail(exc: SentinelError) -> None:
    raise click.ClickException(exc.message)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("密码：")
        second = getpass.getpass("再次输入密码：")
        if first != second:
            raise click.ClickException("两次输入的密码不一致")
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@click.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "duty_officer", "handler", "reviewer", "leader"]),
)
@click.option("--unit", "unit_names", multiple=True, help="所属单位名称（可多次指定）")
@click.option("--display-name", default="", help="显示名")
@click.option("--email", default=None)
@click.option("--must-change-password", is_flag=True, help="首次登录时须修改密码")
@with_appcontext
def create_user_command(
    username: str,
    role: str,
    unit_names: tuple[str, ...],
    display_name: str,
    email: str | None,
    must_change_password: bool,
) -> None:
    """Create a user; the password is read from standard input."""
    from sentinel.services import units, users

    try:
        unit_objs = [units.get_unit_by_name(n) for n in unit_names]
        password = _read_password()
        user = users.create_user(
            CLI_ACTOR,
            username,
            password,
            role,
            unit_objs,
            display_name,
            email,
            must_change_password=must_change_password,
        )
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    click.echo(f"已创建用户 {user.username}（{user.role_label}）")


@click.group("user")
def user_group() -> None:
    """User accounts: list, role and units, deactivate, password reset, unlock.

    (New accounts: ``sentinel create-user``.)"""


ROLE_CHOICE = click.Choice(["admin", "duty_officer", "handler", "reviewer", "leader"])


def _user(username: str) -> Any:
    from sentinel.services import users

    return users.get_user_by_username(username)


@user_group.command("list")
@click.option("--inactive", is_flag=True, help="只列出已停用的用户")
@with_appcontext
def user_list(inactive: bool) -> None:
    """List users: username, role, units, state, last login, locked until."""
    from sentinel.models import utcnow
    from sentinel.services import users
    from sentinel.timefmt import format_local

    now = utcnow()
    click.echo("用户名\t角色\t所属单位\t状态\t最近登录\t锁定至")
    for user in users.list_users():
        if inactive and user.active:
            continue
        units = "、".join(u.name for u in users.units_in_tree_order(user.units)) or "-"
        state = "启用" if user.active else "停用"
        if user.must_change_password:
            state += "（待改密码）"
        locked = format_local(user.locked_until) if user.is_locked(now) else "-"
        click.echo(
            f"{user.username}\t{user.role_label}\t{units}\t{state}\t"
            f"{format_local(user.last_login_at) or '从未登录'}\t{locked}"
        )


@user_group.command("set-role")
@click.argument("username")
@click.argument("role", type=ROLE_CHOICE)
@with_appcontext
def user_set_role(username: str, role: str) -> None:
    """Change a user's role."""
    from sentinel.services import users

    try:
        user = users.set_role(CLI_ACTOR, _user(username), role)
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    click.echo(f"用户 {user.username} 的角色已改为{user.role_label}")


@user_group.command("set-units")
@click.argument("username")
@click.argument("unit_names", nargs=-1)
@with_appcontext
def user_set_units(username: str, unit_names: tuple[str, ...]) -> None:
    """Replace a user's units with the named ones (none: only for administrators)."""
    from sentinel.services import units, users

    try:
        unit_objs = [units.get_unit_by_name(n) for n in unit_names]
        user = users.set_units(CLI_ACTOR, _user(username), unit_objs)
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    names = "、".join(u.name for u in users.units_in_tree_order(user.units)) or "（无）"
    click.echo(f"用户 {user.username} 的所属单位：{names}")


@user_group.command("deactivate")
@click.argument("username")
@with_appcontext
def user_deactivate(username: str) -> None:
    """Deactivate a user; their live sessions end at once."""
    from sentinel.services import users

    try:
        user = users.deactivate_user(CLI_ACTOR, _user(username))
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    click.echo(f"已停用用户 {user.username}，其登录已全部退出")


@user_group.command("activate")
@click.argument("username")
@with_appcontext
def user_activate(username: str) -> None:
    """Reactivate a deactivated user."""
    from sentinel.services import users

    try:
        user = users.activate_user(CLI_ACTOR, _user(username))
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    click.echo(f"已启用用户 {user.username}")


@user_group.command("reset-password")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, help="从标准输入读取临时密码（默认：自动生成并打印）"
)
@with_appcontext
def user_reset_password(username: str, password_stdin: bool) -> None:
    """Give a user a temporary password; they must change it at the next login.

    Without --password-stdin a password is generated and printed as the last line."""
    from sentinel.services import users

    try:
        chosen = _read_password() if password_stdin else None
        user = _user(username)
        password = users.reset_password(CLI_ACTOR, user, chosen)
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    click.echo(f"已重置用户 {user.username} 的密码，其登录已全部退出；下次登录须修改密码")
    if not password_stdin:
        click.echo("临时密码只显示这一次：")
        click.echo(password)


@user_group.command("unlock")
@click.argument("username")
@with_appcontext
def user_unlock(username: str) -> None:
    """Lift a login lockout (after repeated wrong passwords)."""
    from sentinel.services import users

    try:
        user = users.unlock_user(CLI_ACTOR, _user(username))
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    click.echo(f"已解锁用户 {user.username}")


@click.group("source")
def source_group() -> None:
    """Channels/accounts that items arrive on."""


@source_group.command("add")
@click.argument("name")
@click.option(
    "--platform",
    required=True,
    help="wechat, weibo, douyin, toutiao, kuaishou, website, mailbox, hotline12345, api, import",
)
@click.option("--account", default="", help="平台上的账号名")
@click.option("--unit", "unit_name", default=None, help="运营该账号的单位")
@with_appcontext
def source_add(name: str, platform: str, account: str, unit_name: str | None) -> None:
    """Add a source and print its API token (last line, alone)."""
    from sentinel.services import sources, units

    try:
        unit = units.get_unit_by_name(unit_name) if unit_name else None
        source = sources.create_source(CLI_ACTOR, name, platform, account, unit)
        token = sources.issue_token(CLI_ACTOR, source)
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    click.echo(f"已创建渠道 {source.name}（{source.platform_label}），编号 {source.id}")
    click.echo("API 令牌只显示这一次，请妥善保存：")
    click.echo(token)


@source_group.command("token")
@click.argument("name")
@click.option("--revoke-old", is_flag=True, help="同时吊销旧令牌")
@with_appcontext
def source_token(name: str, revoke_old: bool) -> None:
    """Issue a new API token for a source (printed as the last line)."""
    from sentinel.services import sources

    try:
        source = sources.get_source_by_name(name)
        if revoke_old:
            sources.revoke_tokens(CLI_ACTOR, source)
        token = sources.issue_token(CLI_ACTOR, source)
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    click.echo(token)


@source_group.command("list")
@with_appcontext
def source_list() -> None:
    """List sources."""
    from sentinel.models import Source

    for source in db.session.scalars(select(Source).order_by(Source.id)):
        unit = source.unit.name if source.unit else "-"
        click.echo(f"{source.id}\t{source.name}\t{source.platform}\t{unit}")


@click.group("unit")
def unit_group() -> None:
    """The office's unit tree."""


@unit_group.command("add")
@click.argument("name")
@click.option(
    "--kind",
    default="department",
    type=click.Choice(["province", "city", "county", "department", "section"]),
)
@click.option("--parent", default=None, help="上级单位名称")
@with_appcontext
def unit_add(name: str, kind: str, parent: str | None) -> None:
    """Add a unit."""
    from sentinel.services import units

    try:
        parent_unit = units.get_unit_by_name(parent) if parent else None
        unit = units.create_unit(CLI_ACTOR, name, kind, parent_unit)
        db.session.commit()
    except SentinelError as exc:
        _fail(exc)
    click.echo(f"已创建单位 {unit.name}，编号 {unit.id}")


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", "source_name", required=True, help="渠道名称")
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="列映射，如 --map text=留言详情（默认按表头自动识别）",
)
@with_appcontext
def import_command(path: str, source_name: str, mappings: tuple[str, ...]) -> None:
    """Import a CSV/XLSX file (UTF-8, UTF-8-BOM, GBK, GB18030) into a source."""
    import os

    from tqdm import tqdm

    from sentinel.jobs.imports import run_batch
    from sentinel.services import imports, sources

    try:
        source = sources.get_source_by_name(source_name)
        with open(path, "rb") as fh:
            data = fh.read()
        batch = imports.create_batch(
            CLI_ACTOR, source, os.path.basename(path), data, current_app.config["UPLOAD_DIR"]
        )
        mapping = dict(batch.mapping or {})
        for pair in mappings:
            field, _, column = pair.partition("=")
            if not column:
                raise click.BadParameter(f"应为 FIELD=COLUMN：{pair}")
            mapping[field.strip()] = column.strip()
        # The CLI runs the import itself, in the foreground, instead of enqueueing it.
        batch.mapping = mapping
        db.session.commit()
        click.echo(f"编码：{batch.encoding or 'xlsx'}；共 {batch.total_rows} 行；映射：{mapping}")
        with tqdm(total=batch.total_rows, unit="行", file=sys.stderr) as bar:
            batch = run_batch(batch.id, progress=bar.update)
        wait_for_in_process_jobs()
    except SentinelError as exc:
        _fail(exc)
    if batch.failure:
        click.echo(f"导入失败：{batch.failure}", err=True)
    for error in batch.errors[:50]:
        row = f"第 {error['row']} 行：" if error.get("row") else ""
        click.echo(f"  错误 {row}{error['message']}", err=True)
    click.echo(
        f"导入完成：新增 {batch.ok_rows} 条，重复 {batch.duplicate_rows} 条，"
        f"错误 {batch.error_rows} 条"
    )
    if batch.status == "failed":
        sys.exit(1)


@click.command("seed-demo")
@click.option("--items", "item_count", default=600, show_default=True, help="演示留言条数")
@with_appcontext
def seed_demo_command(item_count: int) -> None:
    """Load the demo office: units, users, sources and real messages."""
    from sentinel.services import demo

    summary = demo.seed(item_count=item_count)
    db.session.commit()
    wait_for_in_process_jobs()
    click.echo(summary.describe())
    from sentinel.services import consult_demo  # issue 12: one open 会商 on the hottest event

    consultation = consult_demo.seed()
    db.session.commit()
    if consultation is not None:
        click.echo(f"\n演示会商：#{consultation.id}（{consultation.level_label}），见“领导看板”。")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers", default=None, type=int, help="进程数（默认：嵌入模式 1，生产模式 2×CPU）"
)
def serve_command(host: str, port: int, workers: int | None) -> None:
    """Serve the site with gunicorn (production-grade WSGI server)."""
    from sentinel.server import serve

    serve(host, port, workers)


@click.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="队列清空后退出（测试与批处理用）")
@with_appcontext
def worker_command(queues: tuple[str, ...], burst: bool) -> None:
    """Run an RQ worker for the given queues (default: all, in ``jobs.queues.ORDER``).

    The app and the models are loaded once, before any job (``jobs/worker.py``). Survives
    Redis outages (reconnects with back-off); stops on SIGTERM / SIGINT after the current
    job. Run several (systemd units in deploy/systemd/) for more throughput.
    """
    from sentinel import queues as queue_order
    from sentinel.jobs.registry import all_jobs
    from sentinel.jobs.supervise import run_worker
    from sentinel.jobs.worker import SentinelWorker, preload

    if current_app.config["JOBS_MODE"] != "rq":
        raise click.ClickException("未配置 SENTINEL_REDIS_URL：嵌入模式下任务在网站进程内运行")
    known = {spec.queue for spec in all_jobs().values()}
    unknown = [q for q in queues if q not in known]
    if unknown:
        available = "、".join(queue_order.ordered(known))
        raise click.ClickException(f"没有这个队列：{'、'.join(unknown)}（可用：{available}）")
    names = list(queues) or queue_order.ordered(known)
    app = current_app._get_current_object()
    preload(app)
    run_worker(app, names, worker_class=SentinelWorker, burst=burst)


@click.command("cron")
@with_appcontext
def cron_command() -> None:
    """Run RQ's cron scheduler with sentinel's periodic schedule (survives Redis outages)."""
    from sentinel.jobs.supervise import run_cron

    if current_app.config["JOBS_MODE"] != "rq":
        raise click.ClickException(
            "未配置 SENTINEL_REDIS_URL：嵌入模式下定时任务由 sentinel serve 运行"
        )
    run_cron(current_app._get_current_object())


@click.command("health")
@with_appcontext
def health_command() -> None:
    """Workers, queues, the scheduler and every periodic job; exit 1 when unhealthy."""
    from sentinel.jobs import health

    report = health.check()
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        sys.exit(1)


@click.command("recover")
@with_appcontext
def recover_command() -> None:
    """Run the job recovery sweep once now."""
    from sentinel.jobs import recovery

    click.echo(recovery.recover())


COMMANDS = (
    create_user_command,
    user_group,
    source_group,
    unit_group,
    import_command,
    seed_demo_command,
    serve_command,
    worker_command,
    cron_command,
    health_command,
    recover_command,
)


def register(app: Flask) -> None:
    from sentinel import deadline_cli, events_cli, faq_cli, lint_cli, report_cli

    extra = (
        deadline_cli.COMMANDS
        + lint_cli.COMMANDS
        + report_cli.COMMANDS
        + faq_cli.COMMANDS
        + events_cli.COMMANDS
    )
    for command in COMMANDS + extra:
        app.cli.add_command(command)
    for command in model_commands():
        app.cli.add_command(command)


def _models_dir() -> str:
    return current_app.config["MODELS_DIR"]


def _db_corrections() -> list[dict[str, Any]]:
    from sentinel.services import corrections

    return list(corrections.training_rows())


def model_commands() -> list[click.Command]:
    """``train`` (with the database's corrections and ``--if-missing``), ``classify`` and
    the version commands, all on the instance's models directory."""
    from classifiers.cli import make_classify_command, make_train_command

    train = make_train_command(
        models_dir_provider=_models_dir, corrections_provider=_db_corrections
    )
    inner = train.callback
    assert inner is not None

    def train_unless_present(if_missing: bool, **kwargs: Any) -> None:
        from classifiers.bundle import active_version, read_meta

        root = kwargs.get("models_dir") or _models_dir()
        current = active_version(root)
        if if_missing and current:
            info = read_meta(root, current)
            if info.compatible:
                click.echo(f"已有可用模型（{current}），跳过训练")
                return
            click.echo(info.incompatibility + "；现在重新训练")
        inner(**kwargs)

    train.params.append(
        click.Option(
            ["--if-missing"], is_flag=True, help="已有启用的模型时不重新训练（make demo 使用）"
        )
    )
    train.callback = train_unless_present
    return [train, make_classify_command(models_dir_provider=_models_dir), reclassify_command]


@click.command("reclassify")
@click.option("--all", "everything", is_flag=True, help="重新分类全部留言（默认只分类尚未分类的）")
@with_appcontext
def reclassify_command(everything: bool) -> None:
    """Queue classification for items that have no labels yet (e.g. loaded before training)."""
    from sentinel.services import processing

    count = processing.requeue_unlabelled(everything=everything)
    db.session.commit()
    wait_for_in_process_jobs()
    click.echo(f"已安排重新分类 {count} 条留言")


def _create_app(*_: Any) -> Flask:
    from sentinel.app import create_app

    return create_app()


def main() -> None:
    """Entry point of ``sentinel``."""
    cli = FlaskGroup(
        create_app=_create_app,
        add_default_commands=True,
        add_version_option=False,
        help="sentinel 政务新媒体留言办理平台",
    )
    cli.main(prog_name="sentinel")
