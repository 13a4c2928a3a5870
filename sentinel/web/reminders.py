"""In-app reminders (催办) for the user's units, and the 《催办通知书》 downloads."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, abort, render_template, send_from_directory
from flask_login import current_user

from sentinel.auth.permissions import can, get_case_or_404, require, scope_unit_ids
from sentinel.extensions import db
from sentinel.models import Reminder
from sentinel.services import notice_docx, reminder_ladder, watchdog

bp = Blueprint("reminders", __name__)


@bp.route("/reminders")
@require("case.view")
def my_reminders() -> Any:
    """In-app reminders for the units in the user's scope (all units for admins)."""
    return render_template(
        "deadlines/reminders.html",
        reminders=reminder_ladder.reminders_for_units(scope_unit_ids(current_user)),
        late=watchdog.sweep_late_message() if can(current_user, "admin.manage") else None,
    )


@bp.route("/reminders/<int:reminder_id>/document")
@require("case.view")
def reminder_document(reminder_id: int) -> Any:
    reminder = db.session.get(Reminder, reminder_id)
    if reminder is None or not reminder.document_path:
        abort(404)
    get_case_or_404(reminder.case_id)  # scope check: 404 outside the user's units
    return send_from_directory(
        notice_docx.document_dir(),
        reminder.document_path,
        as_attachment=True,
        download_name=os.path.basename(reminder.document_path),
    )
