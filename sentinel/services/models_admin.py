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


def request_type_report(all_versions: list[Any], active_version: str | None) -> dict[str, Any]:
    """The request-type figures of the active version (else the newest) for the models
    page: held-out gold accuracy with and without the subject, per-class recall, the two
    confusion matrices, cross-validation on the gold train split, and the previous model's
    figures on the same held-out rows when training measured them. {} when none."""
    chosen = next((v for v in all_versions if v.version == active_version), None)
    if chosen is None and all_versions:
        chosen = all_versions[0]
    if chosen is None:
        return {}
    r = dict((chosen.metrics or {}).get("request_type") or {})
    if not r.get("gold_confusion"):
        return {}
    matrices = []
    for key, title in (
        ("gold_confusion", "含主题（标题+正文）"),
        ("gold_confusion_body_only", "仅正文（无主题）"),
    ):
        cm = r.get(key) or {}
        labels = list(cm.get("labels") or [])
        rows = []
        for label, counts in zip(labels, cm.get("matrix") or [], strict=False):
            total = sum(counts)
            rows.append(
                {
                    "label": label,
                    "counts": counts,
                    "total": total,
                    "recall": (counts[labels.index(label)] / total) if total else None,
                }
            )
        matrices.append({"title": title, "labels": labels, "rows": rows})
    return {"version": chosen.version, "figures": r, "matrices": matrices}
