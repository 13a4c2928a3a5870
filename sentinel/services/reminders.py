"""The deadline sweep and the reminder ladder (催办 / 督办).

One sweep, run by RQ cron every few minutes (``jobs/schedule.py``) or by
``sentinel sweep``:

1. recomputes provisional deadlines whose years are now loaded;
2. marks open cases ``due_soon`` / ``overdue`` (set-based UPDATEs);
3. adds one ``Reminder`` per (case, rung, deadline round) with INSERT … SELECT … ON
   CONFLICT DO NOTHING — the unique key is what makes the sweep idempotent:
   催办 at T-1 working day, overdue at T, 《催办通知书》 (DOCX) at T+1, 通报 list at T+5
   (thresholds are settings, DESIGN §4); assisting units' sub-deadlines get a reminder too;
4. delivers undelivered reminders: in the app (the row itself, listed per unit; those
   with no other effect are marked delivered in one statement), by e-mail to the unit's
   users when SMTP is configured, and the 《催办通知书》 DOCX (written by a job enqueued
   after commit, at most ``SWEEP_MAX_DOCUMENTS`` per sweep). A reminder with side effects
   is committed as delivered one by one, so a crash mid-sweep never sends a committed
   one again (the one being sent when the process died may be sent again).

The sweep's last success is its JobRun; the watchdog alerts administrators and fails
``sentinel health`` when it is older than ``SWEEP_STALE_AFTER_S`` (10 minutes).
"""

from __future__ import annotations

import logging
import os
import smtplib
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from flask import current_app
from sqlalchemy import and_, exists, func, literal, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.dialects import postgresql, sqlite

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import Assignment, Case, JobRun, Reminder, Unit, User, utcnow
from sentinel.models.case import OPEN_STATUSES
from sentinel.models.deadline import REMINDER_KINDS
from sentinel.models.user import user_units
from sentinel.services import audit, sla, workcalendar
from sentinel.services.sla import DEADLINE_OBJECT
from sentinel.timefmt import SHANGHAI, format_local

log = logging.getLogger(__name__)

SWEEP_JOB = "deadline_sweep"
NOTICE_JOB = "render_reminder_notice"
SYSTEM = Actor.system("system:sweep")


@dataclass
class SweepResult:
    recomputed: int = 0
    due_soon: int = 0
    overdue: int = 0
    cleared: int = 0
    created: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    emails: int = 0
    documents: int = 0
    backlog: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "recomputed": self.recomputed,
            "due_soon": self.due_soon,
            "overdue": self.overdue,
            "cleared": self.cleared,
            "created": dict(self.created),
            "delivered": self.delivered,
            "emails": self.emails,
            "documents": self.documents,
            "backlog": self.backlog,
            "seconds": round(self.seconds, 3),
        }

    def describe(self) -> list[str]:
        created = "，".join(
            f"{REMINDER_KINDS.get(k, k)} {n} 条" for k, n in self.created.items() if n
        )
        return [
            f"重新计算临时时限 {self.recomputed} 件",
            f"新标记即将到期 {self.due_soon} 件，新标记超期 {self.overdue} 件，"
            f"解除标记 {self.cleared} 件",
            f"新增催办记录：{created or '无'}",
            f"已送达 {self.delivered} 条（邮件 {self.emails} 封，催办通知书 {self.documents} 份）"
            + (f"，待下次送达 {self.backlog} 条" if self.backlog else ""),
            f"用时 {self.seconds:.2f} 秒",
        ]


def _cfg(name: str, default: Any) -> Any:
    return current_app.config.get(name, default)


def _midnight_after(day: date) -> datetime:
    """Local midnight at the end of ``day``, as an aware datetime."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Cutoffs:
    now: datetime
    soon_before: datetime  # due before this: T-1 working day or later
    notice_before: datetime  # due on or before the working day ``notice_days`` ago
    report_before: datetime


def cutoffs(now: datetime) -> Cutoffs:
    """The ladder's thresholds as due-time cut-offs, on the working-day calendar."""
    snap = workcalendar.snapshot()
    today = now.astimezone(SHANGHAI).date()
    soon_day, _ = workcalendar.add_working_days(today, int(_cfg("REMINDER_DUE_SOON_DAYS", 1)), snap)
    notice_day, _ = workcalendar.add_working_days(
        today, -int(_cfg("REMINDER_NOTICE_AFTER_DAYS", 1)), snap
    )
    report_day, _ = workcalendar.add_working_days(
        today, -int(_cfg("REMINDER_REPORT_AFTER_DAYS", 5)), snap
    )
    return Cutoffs(
        now, _midnight_after(soon_day), _midnight_after(notice_day), _midnight_after(report_day)
    )


def _insert_ignore(table: Any) -> Any:
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {dialect}")


def _not_paused(now: datetime) -> Any:
    return or_(Case.paused_until.is_(None), Case.paused_until <= now)


# The ladder, in order. A case's ``deadline_state`` is the highest rung it reached in the
# current deadline round, so each sweep only touches cases that climb a rung.
RUNGS = ("due_soon", "overdue", "notice", "report")
COLUMNS = ["case_id", "kind", "round", "unit_id", "due_at", "created_at", "emailed"]


def _rung_conditions(c: Cutoffs) -> dict[str, Any]:
    return {
        "due_soon": and_(Case.due_at >= c.now, Case.due_at < c.soon_before),
        "overdue": Case.due_at < c.now,
        "notice": Case.due_at < c.notice_before,
        "report": Case.due_at < c.report_before,
    }


def _below(rung: str) -> Any:
    lower = RUNGS[: RUNGS.index(rung)]
    return or_(Case.deadline_state.is_(None), Case.deadline_state.in_(lower))


def _ladder(c: Cutoffs, result: SweepResult, loud: Any) -> None:
    """Climb every case that reached a new rung: add its Reminder, record the rung.

    ``loud`` is a SQL condition on ``Reminder`` columns for rungs with a side effect
    (e-mail); the others are in-app only and are stored as delivered right away.
    """
    is_open = Case.status.in_(OPEN_STATUSES)
    not_paused = _not_paused(c.now)
    for rung, condition in _rung_conditions(c).items():
        quiet = rung != "notice" and loud is None
        source = select(
            Case.id,
            literal(rung),
            Case.deadline_round,
            Case.unit_id,
            Case.due_at,
            literal(c.now, Reminder.created_at.type),
            literal(0),
            literal(c.now if quiet else None, Reminder.sent_at.type),
        ).where(is_open, condition, not_paused, _below(rung))
        # The unique (case, kind, round) key keeps this idempotent even if states were reset.
        stmt = (
            _insert_ignore(Reminder.__table__)
            .from_select([*COLUMNS, "sent_at"], source)
            .on_conflict_do_nothing()
            .returning(Reminder.id)
        )
        result.created[rung] = len(db.session.execute(stmt).all())
        if quiet:
            result.delivered += result.created[rung]
    result.due_soon = result.created["due_soon"]
    result.overdue = result.created["overdue"]
    # One pass: every case near or past its deadline moves to its highest rung.
    target = sql_case(
        (Case.due_at < c.report_before, "report"),
        (Case.due_at < c.notice_before, "notice"),
        (Case.due_at < c.now, "overdue"),
        else_="due_soon",
    )
    db.session.execute(
        update(Case)
        .where(is_open, Case.due_at < c.soon_before, not_paused)
        .where(or_(Case.deadline_state.is_(None), Case.deadline_state != target))
        .values(deadline_state=target, updated_at=Case.updated_at)
        .execution_options(synchronize_session=False)
    )
    # Extended, paused or re-dispatched cases that are no longer near their deadline.
    result.cleared = db.session.execute(
        update(Case)
        .where(is_open, Case.deadline_state.in_(RUNGS))
        .where(
            or_(
                Case.due_at.is_(None),
                Case.due_at >= c.soon_before,
                and_(Case.paused_until.is_not(None), Case.paused_until > c.now),
            )
        )
        .values(deadline_state=None, updated_at=Case.updated_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    # 协办: an assisting unit past its own sub-deadline (``round`` holds the assignment id).
    assist = (
        select(
            Assignment.case_id,
            literal("assist_overdue"),
            Assignment.id,
            Assignment.unit_id,
            Assignment.due_at,
            literal(c.now, Reminder.created_at.type),
            literal(0),
        )
        .join(Case, Case.id == Assignment.case_id)
        .where(
            Assignment.role == "assist",
            Assignment.status != "done",
            Assignment.due_at < c.now,
            Case.status.in_(OPEN_STATUSES),
            ~exists().where(
                Reminder.case_id == Assignment.case_id,
                Reminder.kind == "assist_overdue",
                Reminder.round == Assignment.id,
            ),
        )
    )
    stmt = _insert_ignore(Reminder.__table__).from_select(COLUMNS, assist)
    result.created["assist_overdue"] = len(
        db.session.execute(stmt.on_conflict_do_nothing().returning(Reminder.id)).all()
    )


def _recompute_provisional() -> int:
    """Recompute provisional deadlines that a newly loaded year can now settle."""
    has_any = db.session.scalar(
        select(Case.id).where(Case.due_provisional, Case.status.in_(OPEN_STATUSES)).limit(1)
    )
    if has_any is None:
        return 0
    snap = workcalendar.snapshot()
    today = utcnow().astimezone(SHANGHAI).date()
    year = today.year - 1
    while snap.is_loaded(year):
        year += 1
    horizon = datetime(year, 1, 1, tzinfo=SHANGHAI)
    changed = 0
    for case in db.session.scalars(
        select(Case).where(
            Case.due_provisional, Case.status.in_(OPEN_STATUSES), Case.due_at < horizon
        )
    ):
        old = case.due_at
        if sla.recompute(case):
            changed += 1
            audit.record(
                SYSTEM,
                "case.deadline_recomputed",
                DEADLINE_OBJECT,
                case.id,
                old_due_at=old.isoformat() if old else None,
                due_at=case.due_at.isoformat() if case.due_at else None,
                provisional=case.due_provisional,
            )
    return changed


# --------------------------------------------------------------------------- delivery


def smtp_configured() -> bool:
    return bool(_cfg("SMTP_HOST", None))


def _recipients(reminder: Reminder) -> list[str]:
    if reminder.unit_id is None:
        return []
    stmt = (
        select(User.email)
        .join(user_units, user_units.c.user_id == User.id)
        .where(user_units.c.unit_id == reminder.unit_id, User.active, User.email.is_not(None))
    )
    emails = set(db.session.scalars(stmt))
    if reminder.kind == "report":
        emails |= set(
            db.session.scalars(
                select(User.email).where(
                    User.role == "leader", User.active, User.email.is_not(None)
                )
            )
        )
    return sorted(e for e in emails if e)


def _message(reminder: Reminder, case: Case) -> tuple[str, str]:
    due = format_local(reminder.due_at)
    label = REMINDER_KINDS.get(reminder.kind, reminder.kind)
    subject = f"【{label}】工单 #{case.id} 办理时限 {due}"
    body = (
        f"工单 #{case.id}：{case.title}\n"
        f"办理时限：{due}\n"
        f"提醒：{label}\n\n"
        "请登录政务新媒体留言办理平台及时办理。\n"
    )
    return subject, body


def send_email(recipients: list[str], subject: str, body: str) -> None:
    """Send one plain-text e-mail through the configured SMTP server."""
    message = EmailMessage()
    message["From"] = _cfg("SMTP_FROM", "sentinel@localhost")
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(body)
    host = _cfg("SMTP_HOST", None)
    port = int(_cfg("SMTP_PORT", 25))
    with smtplib.SMTP(host, port, timeout=float(_cfg("SMTP_TIMEOUT", 10))) as smtp:
        if _cfg("SMTP_STARTTLS", False):
            smtp.starttls()
        if _cfg("SMTP_USERNAME", None):
            smtp.login(_cfg("SMTP_USERNAME", ""), _cfg("SMTP_PASSWORD", ""))
        smtp.send_message(message)


def document_dir() -> str:
    return os.path.join(current_app.instance_path, "reminders")


def write_notice(reminder: Reminder, case: Case, issued: datetime) -> str:
    """Write the 《催办通知书》 DOCX; returns its path relative to the reminders folder."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    snap = workcalendar.snapshot()
    today = issued.astimezone(SHANGHAI).date()
    due_day = reminder.due_at.astimezone(SHANGHAI).date() if reminder.due_at else today
    late_days = 0
    day = due_day
    while day < today:
        day += timedelta(days=1)
        late_days += snap.is_working_day(day)
    unit = db.session.get(Unit, reminder.unit_id) if reminder.unit_id else None
    doc = Document()
    title = doc.add_heading("催办通知书", level=1)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    number = doc.add_paragraph(f"催字〔{today.year}〕第 {reminder.id} 号")
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(f"{unit.name if unit else '承办单位'}：")
    doc.add_paragraph(
        f"    工单 #{case.id}《{case.title}》的办理时限为 {format_local(reminder.due_at)}，"
        f"截至 {today.strftime('%Y年%m月%d日')} 已超期 {late_days} 个工作日。"
        "请接到本通知后抓紧办理，于 1 个工作日内答复留言人并在平台反馈办理结果；"
        "确有特殊情况的，请按程序申请延期。逾期未办结的，将列入通报。"
    )
    signature = doc.add_paragraph(f"政务新媒体留言办理平台\n{today.strftime('%Y年%m月%d日')}")
    signature.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    folder = os.path.join(document_dir(), str(case.id))
    os.makedirs(folder, exist_ok=True)
    name = f"催办通知书-{case.id}-{reminder.round}.docx"
    doc.save(os.path.join(folder, name))
    return f"{case.id}/{name}"


def _units_with_email() -> set[int]:
    stmt = (
        select(user_units.c.unit_id)
        .join(User, User.id == user_units.c.user_id)
        .where(User.active, User.email.is_not(None), User.email != "")
        .distinct()
    )
    return set(db.session.scalars(stmt))


def _loud() -> Any | None:
    """SQL condition for reminders that will be e-mailed; None when none will be."""
    if not smtp_configured():
        return None
    loud: list[Any] = []
    units = _units_with_email()
    if units:
        loud.append(Reminder.unit_id.in_(units))
    leaders = db.session.scalar(
        select(User.id).where(User.role == "leader", User.active, User.email.is_not(None))
    )
    if leaders is not None:
        loud.append(Reminder.kind == "report")
    return or_(*loud) if loud else None


def _deliver(now: datetime, result: SweepResult, loud: Any | None) -> None:
    from sentinel.jobqueue import enqueue

    pending = Reminder.sent_at.is_(None)
    smtp = loud is not None
    # Reminders with no side effect (in-app only) are marked delivered in one statement.
    quiet = [pending, Reminder.kind != "notice"]
    if loud is not None:
        quiet.append(~loud)
    result.delivered += db.session.execute(
        update(Reminder)
        .where(*quiet)
        .values(sent_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    # E-mails and 《催办通知书》, one by one: a crash never repeats a committed one. The
    # DOCX is written by a job (enqueued after commit) so the sweep stays fast.
    batch = int(_cfg("SWEEP_DELIVERY_BATCH", 500))
    max_documents = int(_cfg("SWEEP_MAX_DOCUMENTS", 50))
    by_id = select(Reminder.id).order_by(Reminder.id)
    ids = set(db.session.scalars(by_id.where(pending, Reminder.kind != "notice").limit(batch)))
    ids |= set(
        db.session.scalars(by_id.where(pending, Reminder.kind == "notice").limit(max_documents))
    )
    for reminder_id in sorted(ids):
        reminder = db.session.get(Reminder, reminder_id)
        if reminder is None or reminder.sent_at is not None:
            continue
        case = db.session.get(Case, reminder.case_id)
        assert case is not None
        recipients = _recipients(reminder) if smtp else []
        if recipients:
            subject, body = _message(reminder, case)
            deliver_email(recipients, subject, body)
            reminder.emailed = len(recipients)
            result.emails += 1
        if reminder.kind == "notice" and reminder.document_path is None:
            enqueue(NOTICE_JOB, reminder_id=reminder.id)
            result.documents += 1
        reminder.sent_at = now
        audit.record(
            SYSTEM,
            "case.reminder",
            DEADLINE_OBJECT,
            case.id,
            kind=reminder.kind,
            round=reminder.round,
            emailed=reminder.emailed,
        )
        db.session.commit()
        result.delivered += 1
    result.backlog = (
        db.session.scalar(select(func.count()).select_from(Reminder).where(pending)) or 0
    )


def render_notice(reminder_id: int) -> str | None:
    """Write the 《催办通知书》 of a notice reminder once (idempotent); returns its path."""
    reminder = db.session.get(Reminder, reminder_id)
    if reminder is None or reminder.kind != "notice":
        return None
    if reminder.document_path is None:
        case = db.session.get(Case, reminder.case_id)
        assert case is not None
        reminder.document_path = write_notice(reminder, case, reminder.created_at)
        db.session.flush()
    return reminder.document_path


def deliver_email(recipients: list[str], subject: str, body: str) -> None:
    """Indirection for tests (a crash between two e-mails)."""
    send_email(recipients, subject, body)


def sweep(now: datetime | None = None) -> SweepResult:
    """Run one deadline sweep (see the module docstring). Commits as it goes."""
    started = time.monotonic()
    now = now or utcnow()
    result = SweepResult()
    result.recomputed = _recompute_provisional()
    db.session.commit()
    loud = _loud()
    _ladder(cutoffs(now), result, loud)
    db.session.commit()
    _deliver(now, result, loud)
    result.seconds = time.monotonic() - started
    log.info(
        "deadline_sweep due_soon=%s overdue=%s created=%s delivered=%s emails=%s documents=%s "
        "backlog=%s seconds=%.2f",
        result.due_soon,
        result.overdue,
        sum(result.created.values()),
        result.delivered,
        result.emails,
        result.documents,
        result.backlog,
        result.seconds,
    )
    return result


# --------------------------------------------------------------------------- watchdog


def last_success() -> datetime | None:
    return db.session.scalar(
        select(func.max(JobRun.finished_at)).where(
            JobRun.name == SWEEP_JOB, JobRun.status == "succeeded"
        )
    )


def sweep_late_message(now: datetime | None = None, *, include_stale: bool = True) -> str | None:
    """Why the sweep is late, or None. Never run is late only when there are deadlines."""
    now = now or utcnow()
    stale_after = int(_cfg("SWEEP_STALE_AFTER_S", 600))
    last = last_success()
    if last is None:
        has_deadlines = db.session.scalar(
            select(Case.id).where(Case.status.in_(OPEN_STATUSES), Case.due_at.is_not(None)).limit(1)
        )
        if has_deadlines is None:
            return None
        return (
            "时限巡检从未成功运行：超期工单不会被标记和催办。"
            "请检查定时任务（sentinel cron / sentinel serve）。"
        )
    if include_stale and now - last > timedelta(seconds=stale_after):
        minutes = int((now - last).total_seconds() // 60)
        return (
            f"时限巡检已 {minutes} 分钟未成功运行（上次成功 {format_local(last)}）："
            "超期工单可能未被催办。"
        )
    return None


def reminders_for_units(unit_ids: set[int] | None, limit: int = 200) -> list[Reminder]:
    """Recent reminders for the given units (None: all), newest first (in-app list)."""
    stmt = select(Reminder).order_by(Reminder.id.desc()).limit(limit)
    if unit_ids is not None:
        if not unit_ids:
            return []
        stmt = stmt.where(Reminder.unit_id.in_(unit_ids))
    return list(db.session.scalars(stmt))
