"""The one way a page runs a service from a form: commit on success, flash either way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash

from sentinel.errors import SentinelError
from sentinel.extensions import db


def submit(action: Callable[[], Any], success: str) -> bool:
    """Run ``action`` (a service call); commit and flash ``success``, or roll back and
    flash the service's Chinese error message. Returns whether it succeeded."""
    try:
        action()
        db.session.commit()
    except SentinelError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return False
    flash(success, "success")
    return True
