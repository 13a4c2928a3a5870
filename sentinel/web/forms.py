"""The one way a page runs a service from a form: commit on success, flash either way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import flash

from sentinel.errors import SentinelError
from sentinel.extensions import db

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """A service call that went through and was committed; ``value`` is what it returned."""

    value: T


def submit(action: Callable[[], T], success: str | Callable[[T], str] | None) -> Done[T] | None:
    """Run ``action`` (a service call) and commit, then flash ``success``: a fixed message,
    a function of the action's return value, or ``None`` for no message (the page the
    caller redirects to shows the outcome). On ``SentinelError`` roll back and flash the
    service's Chinese error message instead; other exceptions propagate.

    Returns ``Done(value)`` on success and ``None`` on failure, so the result is truthy
    exactly when the call succeeded and ``.value`` is there for the success redirect."""
    try:
        value = action()
        db.session.commit()
    except SentinelError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return None
    if success is not None:
        flash(success if isinstance(success, str) else success(value), "success")
    return Done(value)
