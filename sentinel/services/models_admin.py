"""Model bundle versions: list, activate (roll back), retrain with corrections."""

from __future__ import annotations

from typing import Any

from flask import current_app

from sentinel.auth.permissions import Actor
from sentinel.errors import Conflict, NotFound
from sentinel.extensions import db
from sentinel.services import audit, corrections


def versions() -> list[Any]:
    """Every trained bundle version, newest first, with its metrics."""
    from classifiers.bundle import list_versions

    return sorted(
        list_versions(current_app.config["MODELS_DIR"]), key=lambda v: v.trained_at, reverse=True
    )


def active() -> str | None:
    from classifiers.bundle import active_version

    return active_version(current_app.config["MODELS_DIR"])


def activate(actor: Actor, version: str) -> None:
    """Make ``version`` the active bundle (also the way to roll back); audited."""
    from classifiers.bundle import BundleError
    from classifiers.bundle import activate as activate_bundle

    previous = active()
    from classifiers.bundle import read_meta

    root = current_app.config["MODELS_DIR"]
    try:
        info = read_meta(root, version)
    except (BundleError, FileNotFoundError):
        raise NotFound(f"模型版本 {version} 不存在") from None
    if not info.compatible:
        raise Conflict(info.incompatibility)
    try:
        activate_bundle(root, version)
    except (BundleError, FileNotFoundError):
        raise NotFound(f"模型版本 {version} 不存在") from None
    audit.record(actor, "models.activate", "model", None, version=version, previous=previous)


def request_retrain(actor: Actor) -> None:
    """Queue a retrain with corrections (runs on the maintenance queue); audited."""
    from sentinel.jobqueue import enqueue

    run = enqueue("retrain_models")
    db.session.flush()
    audit.record(actor, "models.retrain_requested", "job_run", run.id)


def retrain(actor: Actor) -> dict[str, Any]:
    """Train a candidate with officers' corrections; it becomes active only if it is not
    worse on the fixed evaluation set. Returns the new version's summary."""
    from classifiers.cli import _default_gold, default_data_dir
    from classifiers.training import train_all

    rows = list(corrections.training_rows())
    info = train_all(
        current_app.config["MODELS_DIR"],
        data_dir=default_data_dir(),
        extra_rows=rows,
        progress=False,
        activate="if_not_worse",
        gold_path=_default_gold(),
        baselines=False,
    )
    audit.record(
        actor,
        "models.retrain",
        "model",
        None,
        version=info.version,
        corrections=len(rows),
        activated=bool(info.activated),
    )
    return {"version": info.version, "corrections": len(rows), "activated": bool(info.activated)}
