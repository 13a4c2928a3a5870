"""Roles, capabilities and unit scope: who may do what, and to which cases.

One table of capabilities; one scope rule; one helper that loads a case or fails.
Every view and API handler goes through these, never through ad-hoc role checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, request
from flask_login import current_user
from sqlalchemy import ColumnElement, false, func, or_, select, true

from sentinel.extensions import db
from sentinel.models import Assignment, Case, Unit, User
from sentinel.models.unit import tree_order

ALL_ROLES = frozenset({"admin", "duty_officer", "handler", "reviewer", "leader"})
OFFICE_ROLES = frozenset({"admin", "duty_officer"})
HANDLING_ROLES = frozenset({"admin", "handler"})

CAPABILITIES: dict[str, frozenset[str]] = {
    "triage.view": frozenset({"admin", "duty_officer", "leader", "reviewer"}),
    # Bulk claim / dispatch / noise: every bulk action is an office action.
    "triage.bulk": OFFICE_ROLES,
    "case.view": ALL_ROLES,
    "case.claim": OFFICE_ROLES,
    "case.dispatch": OFFICE_ROLES,
    "case.noise": OFFICE_ROLES,
    "case.merge": OFFICE_ROLES,
    "case.close": OFFICE_ROLES,
    "case.reopen": OFFICE_ROLES,
    "case.acknowledge": HANDLING_ROLES,
    "case.draft": HANDLING_ROLES,
    "case.answer": HANDLING_ROLES,
    # Reword the public 延期/暂停 notice draft: the office, or the lead unit's handler.
    "notice.edit": frozenset({"admin", "duty_officer", "handler"}),
    "case.correct": frozenset({"admin", "duty_officer", "handler"}),
    # 紧急/重要: duty officers raise or lower a case's priority (with a reason).
    "case.priority": OFFICE_ROLES,
    # 协办 tasks: the assisting unit acknowledges and finishes its part; the lead unit and
    # the office may also mark a part done.
    "case.assist": frozenset({"admin", "duty_officer", "handler"}),
    # 延期/暂停 decisions: the approver roles a deadline rule can name (services/sla.py);
    # the service checks the role the case's rule actually names.
    "deadline.decide": frozenset({"admin", "duty_officer", "leader"}),
    "inbox.view": HANDLING_ROLES,
    "import.run": OFFICE_ROLES,
    "admin.manage": frozenset({"admin"}),
    "jobs.view": frozenset({"admin"}),
    "models.manage": frozenset({"admin"}),
    # Reports (issue 14): generate, list and download, each limited to the user's subtree.
    "report.view": frozenset({"admin", "duty_officer", "leader"}),
    "report.generate": frozenset({"admin", "duty_officer", "leader"}),
    # FAQ knowledge base (咨询问答库): every staff role reads approved entries; the office
    # and reviewers approve suggestions, re-confirm, import and export, for their units.
    "faq.view": ALL_ROLES,
    "faq.approve": frozenset({"admin", "duty_officer", "reviewer"}),
    # Reply review (issue 13): 初审/复审 by reviewers and leaders (终审 of tier C replies by
    # a leader, checked by services/review.py); the office publishes on its accounts.
    "reply.review": frozenset({"admin", "reviewer", "leader"}),
    "reply.publish": OFFICE_ROLES,
    # 辟谣: the office and reviewers mark suspected rumours and record referrals; the
    # responsible (lead) unit verifies them.
    "rumour.view": ALL_ROLES,
    "rumour.mark": frozenset({"admin", "duty_officer", "reviewer", "leader"}),
    "rumour.verify": HANDLING_ROLES,
    # Hot events (issue 12): everyone sees the events touching their units; duty officers
    # correct them (merge, move out, rename, noise) and escalate them by hand.
    "event.view": ALL_ROLES,
    "event.manage": OFFICE_ROLES,
    # Issue 12: escalation alerts, 会商 consultations and the leaders' board.
    "alerts.view": ALL_ROLES,
    "alerts.manage": frozenset({"admin"}),
    "consult.view": ALL_ROLES,
    # Open, assess, name the responsible unit, invite, minutes, agreed line, decide, review.
    "consult.manage": frozenset({"admin", "duty_officer", "leader"}),
    # An invited unit confirms (确认参会); the office may record it for them.
    "consult.confirm": frozenset({"admin", "duty_officer", "leader", "handler"}),
    "board.view": frozenset({"admin", "duty_officer", "leader"}),
    # Dashboards (issue 14): the leaders' and unit dashboards, limited to the user's subtree.
    "dashboard.view": frozenset({"admin", "duty_officer", "leader"}),
}


def can(user: User | Any, capability: str) -> bool:
    """True when the user's role carries the capability (scope is checked separately)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.role in CAPABILITIES[capability]


F = TypeVar("F", bound=Callable[..., Any])


def require(capability: str) -> Callable[[F], F]:
    """View decorator: 401 → login for anonymous users, 403 without the capability."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                from sentinel.extensions import login_manager

                return login_manager.unauthorized()
            if not can(current_user, capability):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def scope_unit_ids(user: User) -> set[int] | None:
    """Unit ids the user may see: their units and every unit below. None means all."""
    if user.role == "admin":
        return None
    cache = g.setdefault("_scope_cache", {})
    if user.id in cache:
        return cache[user.id]
    paths = [u.path for u in user.units]
    ids: set[int] = set()
    if paths:
        conditions = [Unit.path.startswith(p) for p in paths]
        ids = set(db.session.scalars(select(Unit.id).where(or_(*conditions))))
    cache[user.id] = ids
    return ids


def case_scope(user: User) -> ColumnElement[bool]:
    """SQL condition limiting cases to the user's scope.

    Handlers see the cases dispatched to their units; office roles also see what
    arrived on their units' accounts before it was dispatched.
    """
    ids = scope_unit_ids(user)
    if ids is None:
        return true()
    if not ids:
        return false()
    if user.role == "handler":
        # Their units' cases, and cases on which one of their units assists (协办).
        return or_(Case.unit_id.in_(ids), Case.id.in_(_assisted_case_ids(ids)))
    if _covers_every_unit(ids):
        # An office at the top of the tree sees everything: no per-row unit test, so the
        # queue's status index serves the page directly.
        return true()
    return or_(Case.unit_id.in_(ids), Case.owner_unit_id.in_(ids))


def _covers_every_unit(ids: set[int]) -> bool:
    total = g.get("_unit_total")
    if total is None:
        total = g._unit_total = db.session.scalar(select(func.count()).select_from(Unit)) or 0
    return len(ids) >= total


def case_in_scope(user: User, case: Case) -> bool:
    """True when the user may see ``case`` (any relation: lead, assisting, office)."""
    ids = scope_unit_ids(user)
    if ids is None:
        return True
    if user.role == "handler":
        return case.unit_id in ids or any(
            a.role == "assist" and a.status != "withdrawn" and a.unit_id in ids
            for a in case.assignments
        )
    return case.unit_id in ids or case.owner_unit_id in ids


def is_lead_unit(user: User, case: Case) -> bool:
    """True when the case's lead (主办) unit is in the user's scope (always for admins).

    Lead-unit actions — 签收, drafting and submitting the answer, 退单, asking for 延期/暂停 —
    need this relation; seeing the case (``case_in_scope``) is not enough, because an
    assisting unit sees the case too.
    """
    ids = scope_unit_ids(user)
    return ids is None or (case.unit_id is not None and case.unit_id in ids)


def own_assists(user: User, case: Case) -> list[Assignment]:
    """The case's live 协办 assignments whose unit is in the user's scope."""
    ids = scope_unit_ids(user)
    return [
        a
        for a in case.assignments
        if a.role == "assist" and a.status != "withdrawn" and (ids is None or a.unit_id in ids)
    ]


def units_in_scope(user: User, active_only: bool = True) -> list[Unit]:
    """Units the user may pick (dispatch targets, filters), in tree order.

    The one way to build a unit picker: every page that lists units for a user goes
    through here, so scope and order are the same everywhere.
    """
    stmt = select(Unit)
    if active_only:
        stmt = stmt.where(Unit.is_active)
    ids = scope_unit_ids(user)
    return tree_order(u for u in db.session.scalars(stmt) if ids is None or u.id in ids)


def _assisted_case_ids(unit_ids: set[int]) -> Any:
    return select(Assignment.case_id).where(
        Assignment.unit_id.in_(unit_ids),
        Assignment.role == "assist",
        Assignment.status != "withdrawn",
    )


def get_case_or_404(case_id: int, capability: str = "case.view") -> Case:
    """Load a case the current user may act on: 404 if absent or out of scope, 403 if
    the role lacks the capability. Out-of-scope is 404 so ids do not leak."""
    case = db.session.get(Case, case_id)
    if case is None or not case_in_scope(current_user, case):
        abort(404)
    if not can(current_user, capability):
        abort(403)
    return case


def unit_in_scope(user: User, unit_id: int) -> bool:
    ids = scope_unit_ids(user)
    return ids is None or unit_id in ids


@dataclass(frozen=True)
class Actor:
    """Who is acting, for services and the audit log."""

    label: str
    user_id: int | None = None
    ip: str | None = None
    user: User | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label=label)

    @classmethod
    def for_user(cls, user: User, ip: str | None = None) -> Actor:
        return cls(label=f"user:{user.id}", user_id=user.id, ip=ip, user=user)


def current_actor() -> Actor:
    """The actor of the current request: the logged-in user, with the client IP."""
    if getattr(current_user, "is_authenticated", False):
        return Actor.for_user(current_user._get_current_object(), request.remote_addr)
    return Actor(label="anonymous", ip=request.remote_addr)
