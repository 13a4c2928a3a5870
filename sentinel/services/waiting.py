"""What waits for a user: the counts the navigation shows, each linking to its list.

- duty officers: new cases in their queue (待认领);
- handlers: cases dispatched to their unit and 协办 tasks not yet acknowledged (待签收);
- approvers (the roles a deadline rule names): 延期/暂停 requests they decide (待审批);
- reviewers and leaders: replies at their review level (待我审核, services/review.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from sentinel.auth.permissions import Actor, can, case_scope, scope_unit_ids
from sentinel.extensions import db
from sentinel.models import Assignment, Case, User
from sentinel.models.case import OPEN_STATUSES
from sentinel.services import deadline_changes


@dataclass(frozen=True)
class Waiting:
    """Counts of what waits for one user (0 where the role has no such list)."""

    to_claim: int = 0
    to_acknowledge: int = 0
    to_decide: int = 0
    to_review: int = 0


def to_acknowledge(user: User) -> int:
    """Cases dispatched to the user's units plus their 协办 tasks awaiting 签收."""
    ids = scope_unit_ids(user)
    lead = select(func.count()).select_from(Case).where(Case.status == "dispatched")
    assists = (
        select(func.count())
        .select_from(Assignment)
        .join(Case, Case.id == Assignment.case_id)
        .where(
            Assignment.role == "assist",
            Assignment.status == "active",
            Case.status.in_(OPEN_STATUSES),
        )
    )
    if ids is not None:
        if not ids:
            return 0
        lead = lead.where(Case.unit_id.in_(ids))
        assists = assists.where(Assignment.unit_id.in_(ids))
    return (db.session.scalar(lead) or 0) + (db.session.scalar(assists) or 0)


def waiting_for(user: User) -> Waiting:
    """What waits for ``user``, by the lists their role has."""
    to_claim = 0
    if can(user, "case.claim"):
        to_claim = (
            db.session.scalar(
                select(func.count()).select_from(Case).where(case_scope(user), Case.status == "new")
            )
            or 0
        )
    ack = to_acknowledge(user) if can(user, "inbox.view") and user.role == "handler" else 0
    decide = 0
    if can(user, "deadline.decide"):
        decide = len(deadline_changes.pending_for(Actor.for_user(user)))
    from sentinel.services import review

    to_review = len(review.queue_for(user)) if can(user, "reply.review") else 0
    return Waiting(to_claim=to_claim, to_acknowledge=ack, to_decide=decide, to_review=to_review)
