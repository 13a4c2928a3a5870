"""FAQ knowledge base upkeep: remind units of entries past their review-by date."""

from __future__ import annotations

import logging
from typing import Any

from sentinel import queues
from sentinel.extensions import db
from sentinel.jobs.registry import job
from sentinel.models import utcnow
from sentinel.services import faq, mailer

log = logging.getLogger(__name__)

REVIEW_JOB = "faq_review_reminders"


@job(REVIEW_JOB, queue=queues.MAINTENANCE, timeout=300, max_attempts=1)
def faq_review_reminders() -> dict[str, Any]:
    """Remind units of approved entries past review-by (e-mail when SMTP is configured;
    the in-app list is the 待复核 page). Idempotent within FAQ_REMIND_EVERY_DAYS."""
    result = faq.remind_due_reviews(utcnow(), smtp=mailer.smtp_configured())
    db.session.commit()
    log.info("faq_review_reminders due=%s emailed=%s", result["due"], result["emailed"])
    return result
