"""The routing topics offices choose from: the active model's classes (data, not code)."""

from __future__ import annotations

from sqlalchemy import select

from sentinel.extensions import db
from sentinel.models import Case


def topic_choices() -> list[str]:
    """Topics of the active model bundle; without a model, the topics found on cases."""
    from sentinel.services.classification import pipeline_or_none

    pipeline = pipeline_or_none()
    if pipeline is not None:
        return list(pipeline.models.topic_classes)
    topics: list[str] = []
    seen: set[str] = set()
    for topic in db.session.scalars(select(Case.topic).where(Case.topic.is_not(None)).distinct()):
        if topic not in seen:
            topics.append(topic)
            seen.add(topic)
    return topics
