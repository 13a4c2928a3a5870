"""Answer a case the way the product does now (issue 13): draft → review → publish.

Tests that need an answered case used the one-step ``triage.answer``; they now go
through the real flow with the office's users (``tests/conftest.Office``)."""

from __future__ import annotations

from typing import Any

from sentinel.extensions import db
from sentinel.services import review, triage, users
from tests.conftest import PASSWORD, SEED_ACTOR

# Reviewers for each level of the tier (level 3 of tier C is the leader's 终审).
REVIEWERS = {
    "A": ["reviewer"],
    "B": ["reviewer", "reviewer2"],
    "C": ["reviewer", "reviewer2", "leader"],
}


def ensure_reviewer2(office: Any) -> None:
    """A second reviewer at the county office (复审 needs a different person)."""
    if "reviewer2" not in office.users:
        office.users["reviewer2"] = users.create_user(
            SEED_ACTOR, "reviewer2", PASSWORD, "reviewer", [office.root]
        )
        db.session.flush()


def approve_all(office: Any, reply: Any) -> None:
    """Every level the reply's tier needs approves it, one person per level."""
    ensure_reviewer2(office)
    for name in REVIEWERS[reply.tier or "A"][len(review.approvals(reply)) :]:
        review.approve(office.actor(name), reply, "同意")


def publish_answer(
    office: Any, case: Any, body: str, handler: str = "edu_handler", link: str = ""
) -> Any:
    """The lead unit's handler submits ``body``; reviewers approve; the duty officer
    records the publication. Returns the published reply (the caller commits)."""
    reply = triage.submit_answer(office.actor(handler), case, body)
    approve_all(office, reply)
    review.publish(office.actor("duty"), reply, link or "https://weibo.com/1234567890/demo")
    db.session.flush()
    return reply
