"""The one way a page runs a service from a form: commit on success, flash either way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from sentinel.auth.permissions import get_case_or_404
from sentinel.errors import Forbidden, SentinelError
from sentinel.extensions import db
from sentinel.models import Case
from sentinel.web.links import same_site_path

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """A service call that went through and was committed; ``value`` is what it returned."""

    value: T


def submit(action: Callable[[], T], success: str | Callable[[T], str] | None) -> Done[T] | None:
    """Run ``action`` (a service call) and commit, then flash ``success``: a fixed message,
    a function of the action's return value, or ``None`` for no message (the page the
    caller redirects to shows the outcome). On ``SentinelError`` roll back and flash the
    service's Chinese error message instead. ``Forbidden`` (the actor may not do this)
    rolls back and propagates, so the page answers 403; other exceptions propagate too.

    Returns ``Done(value)`` on success and ``None`` on failure, so the result is truthy
    exactly when the call succeeded and ``.value`` is there for the success redirect."""
    try:
        value = action()
        db.session.commit()
    except Forbidden:
        # A refusal by role or relation to the case is not a form mistake to flash and
        # retry: the error page answers 403 with the service's message.
        db.session.rollback()
        raise
    except SentinelError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return None
    if success is not None:
        flash(success if isinstance(success, str) else success(value), "success")
    return Done(value)


def act_on_case(
    case_id: int,
    capability: str,
    action: Callable[[Case], T],
    success: str | Callable[[T], str],
    after_success: str | None = None,
) -> Response:
    """The one way a page runs an action on one case.

    Load the case or fail (404 outside the user's scope, 403 without ``capability``),
    run ``action(case)`` through :func:`submit` (``success``: a message that may use
    ``{id}``, or a function of the action's result), then
    redirect: to ``after_success`` when the action went through and one is given,
    else to the form's ``next`` when it is a path on this site, else to the case page.
    """
    case = get_case_or_404(case_id, capability)
    message = success.format(id=case.id) if isinstance(success, str) else success
    done = submit(lambda: action(case), message)
    target = (after_success if done else None) or same_site_path(request.form.get("next"))
    return redirect(target or url_for("cases.show", case_id=case.id))
