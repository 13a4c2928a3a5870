"""The 《催办通知书》 (reminder notice) DOCX of a ``notice`` reminder.

Written by the ``render_reminder_notice`` job (enqueued by the deadline sweep) under the
instance folder, and downloaded from the reminders page.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from flask import current_app

from sentinel.extensions import db
from sentinel.models import Case, Reminder, Unit
from sentinel.services import workcalendar
from sentinel.timefmt import SHANGHAI, format_local

NOTICE_JOB = "render_reminder_notice"


def document_dir() -> str:
    """The folder the 《催办通知书》 files live in (one sub-folder per case)."""
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
