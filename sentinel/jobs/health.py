"""Health: workers, queues, the scheduler, job states and every periodic job's last success.

With RQ each queue must have a worker whose heartbeat is fresh, the oldest waiting job
must be younger than ``QUEUE_MAX_WAIT_S``, and a cron scheduler must have heartbeated
within ``HEARTBEAT_STALE_AFTER_S`` — so the check fails within that many seconds of the
last worker or the scheduler stopping. The periodic jobs' limits are the watchdog settings
(``PeriodicJob.stale_setting``) that the admin banner reads too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from sentinel.extensions import db
from sentinel.jobs import registry
from sentinel.jobs.schedule import PERIODIC
from sentinel.models import JobRun, utcnow
from sentinel.timefmt import format_local


@dataclass
class HealthReport:
    ok: bool = True
    lines: list[str] = field(default_factory=list)
    queues: dict[str, int] = field(default_factory=dict)
    periodic: list[dict[str, object]] = field(default_factory=list)

    def problem(self, line: str) -> None:
        self.ok = False
        self.lines.append("✗ " + line)


def check() -> HealthReport:
    """Check the database, the queue (Redis in production) and the periodic jobs."""
    report = HealthReport()
    mode = current_app.config["JOBS_MODE"]
    try:
        db.session.execute(select(1))
        report.lines.append(f"✓ 数据库可用（{db.engine.dialect.name}）")
    except Exception as exc:
        report.problem(f"数据库不可用：{type(exc).__name__}")
        return report
    report.lines.append(
        f"任务模式：{ {'rq': 'RQ + Redis', 'thread': '进程内线程', 'sync': '同步'}[mode] }"
    )
    if mode == "rq":
        _check_rq(report)
    states = dict(
        db.session.execute(select(JobRun.status, func.count()).group_by(JobRun.status)).all()
    )
    report.lines.append(
        "任务记录：" + "，".join(f"{k} {v}" for k, v in sorted(states.items()))
        if states
        else "任务记录：无"
    )
    now = utcnow()
    for periodic in PERIODIC:
        last = db.session.scalar(
            select(func.max(JobRun.finished_at)).where(
                JobRun.name == periodic.name, JobRun.status == "succeeded"
            )
        )
        entry: dict[str, object] = {"name": periodic.name, "last_success": last}
        report.periodic.append(entry)
        if last is None:
            report.lines.append(f"  定时任务 {periodic.name}：尚未成功运行过")
        elif now - last > timedelta(seconds=periodic.stale_after_s(current_app.config)):
            report.problem(
                f"定时任务 {periodic.name} 上次成功于 {format_local(last)}，已超过 "
                f"{_duration(periodic.stale_after_s(current_app.config))}"
            )
        else:
            report.lines.append(f"✓ 定时任务 {periodic.name}：上次成功 {format_local(last)}")
    _check_models(report)
    # issue 6 watchdog: a deadline sweep that never ran while deadlines exist also fails
    # (the stale case is the PERIODIC check above).
    from sentinel.services import watchdog

    never = watchdog.sweep_late_message(now, include_stale=False)
    if never:
        report.problem(never)
    return report


def _check_rq(report: HealthReport) -> None:
    """Redis, each queue's depth, live workers and oldest wait, and the cron scheduler."""
    from rq import Queue

    from sentinel.jobqueue import redis_connection
    from sentinel.jobs import liveness

    config = current_app.config
    stale_s = int(config["HEARTBEAT_STALE_AFTER_S"])
    max_wait_s = int(config["QUEUE_MAX_WAIT_S"])
    try:
        conn = redis_connection(current_app)
        conn.ping()
        for name in registry.queue_names():
            queue = Queue(name, connection=conn)
            depth = queue.count
            report.queues[name] = depth
            workers = liveness.live_workers(conn, name, stale_s)
            report.lines.append(
                f"  队列 {name}：排队 {depth}，运行中 {queue.started_job_registry.count}，"
                f"失败 {queue.failed_job_registry.count}，在线处理进程 {len(workers)}"
            )
            if not workers:
                report.problem(
                    f"队列 {name} 没有在线的处理进程（{stale_s} 秒内无心跳）："
                    f"请检查 sentinel worker"
                )
            waited = liveness.oldest_wait_s(conn, name)
            if waited is not None and waited > max_wait_s:
                report.problem(
                    f"队列 {name} 最早的任务已等待 {_duration(int(waited))}"
                    f"（上限 {_duration(max_wait_s)}）"
                )
        age = liveness.scheduler_heartbeat_age_s(conn)
        if age is None or age > stale_s:
            report.problem(
                "定时调度进程没有心跳"
                + ("" if age is None else f"（上次 {int(age)} 秒前）")
                + "：定时任务不会运行，请检查 sentinel cron"
            )
        else:
            report.lines.append(f"✓ 定时调度进程：{int(age)} 秒前有心跳")
    except Exception as exc:
        report.problem(f"Redis 不可用：{type(exc).__name__}（新任务已记录，恢复后自动补发）")


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} 秒"
    if seconds < 2 * 3600:
        return f"{seconds // 60} 分钟"
    return f"{seconds // 3600} 小时"


def _check_models(report: HealthReport) -> None:
    """The active model bundle: a version this code cannot load fails the check."""
    from classifiers.bundle import BundleError, active_version, read_meta

    root = current_app.config["MODELS_DIR"]
    version = active_version(root)
    if version is None:
        report.lines.append("分类模型：尚未训练（新留言暂不分类；运行 sentinel train）")
        return
    try:
        info = read_meta(root, version)
    except BundleError as exc:
        report.problem(f"分类模型不可用：{exc}")
        return
    if not info.compatible:
        report.problem(info.incompatibility)
    else:
        report.lines.append(f"✓ 分类模型：{version}")
