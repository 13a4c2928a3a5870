"""Jobs on the classification models."""

from __future__ import annotations

from typing import Any

from flask import current_app

from sentinel import queues
from sentinel.auth.permissions import Actor
from sentinel.jobs.registry import job
from sentinel.services import models_admin


@job("retrain_models", queue=queues.BULK, timeout=1800, max_attempts=1, fork=True)
def retrain_models() -> dict[str, Any]:
    """Retrain with officers' corrections; the candidate is activated only if not worse."""
    return models_admin.retrain(Actor.system("retrain"))


@job("retrain_models_periodic", queue=queues.BULK, timeout=1800, max_attempts=1, fork=True)
def retrain_models_periodic() -> dict[str, Any]:
    """The scheduled retrain: does nothing unless SENTINEL_RETRAIN_ENABLED is true."""
    if not current_app.config["RETRAIN_ENABLED"]:
        return {"skipped": "disabled"}
    return models_admin.retrain(Actor.system("retrain"))
