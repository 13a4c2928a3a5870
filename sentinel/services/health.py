"""Health: queue depths, job states and the last success of every periodic job."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from sentinel.extensions import db
from sentinel.jobs.registry import all_jobs
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
        from rq import Queue

        from sentinel.jobs.redis_conn import redis_connection

        try:
            conn = redis_connection(current_app)
            conn.ping()
            for name in sorted({s.queue for s in all_jobs().values()}):
                queue = Queue(name, connection=conn)
                depth = queue.count
                report.queues[name] = depth
                report.lines.append(
                    f"  队列 {name}：排队 {depth}，运行中 {queue.started_job_registry.count}，"
                    f"失败 {queue.failed_job_registry.count}"
                )
        except Exception as exc:
            report.problem(f"Redis 不可用：{type(exc).__name__}（新任务已记录，恢复后自动补发）")
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
        elif now - last > timedelta(seconds=periodic.stale_after_s):
            report.problem(
                f"定时任务 {periodic.name} 上次成功于 {format_local(last)}，已超过 "
                f"{periodic.stale_after_s // 60} 分钟"
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
