"""The demo office shows the review flow (issue 13): answers waiting for review, published
answers, and one clarified rumour with its deliveries."""

from __future__ import annotations

from sqlalchemy import func, select

from sentinel.extensions import db
from sentinel.models import Reply, Rumour, RumourDelivery
from sentinel.services import demo, review


def test_demo_has_replies_in_review_published_and_a_rumour(app):
    demo.seed(item_count=200)
    db.session.commit()
    statuses = dict(
        db.session.execute(
            select(Reply.status, func.count()).where(Reply.kind == "answer").group_by(Reply.status)
        ).all()
    )
    assert statuses.get("final", 0) >= 1 and statuses.get("review", 0) >= 1, statuses
    for reply in db.session.scalars(select(Reply).where(Reply.status == "final")):
        assert reply.published_hash == review.text_hash(reply.body)
        assert review.publish_refusal(reply) is not None  # final: nothing left to publish
    rumour = db.session.scalars(select(Rumour)).one()
    assert rumour.status == "clarified" and rumour.verified_at is not None
    assert db.session.scalar(select(func.count()).select_from(RumourDelivery)) >= 3
