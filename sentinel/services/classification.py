"""Classification of ingested items with the active model bundle, and near-duplicates.

Runs inside the ``process_items`` job. Labels go on the item and (from the case's first
item) on its case; rumour score and risk tier of a case are the highest of its items.
A new case whose text is a near-duplicate of an older open case above the attach
threshold is merged into it ("how many asked" goes up); between the suggest and attach
thresholds the match is only suggested to the duty officer.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import Case, Item, utcnow
from sentinel.models.case import OPEN_STATUSES

log = logging.getLogger(__name__)
TIER_ORDER = {"A": 0, "B": 1, "C": 2}
SYSTEM = Actor.system("classifier")


def pipeline_or_none() -> Any:
    """The active pipeline, or None when no model has been trained yet."""
    from classifiers.bundle import BundleError
    from classifiers.pipeline import get_pipeline

    try:
        return get_pipeline(current_app.config["MODELS_DIR"])
    except BundleError:
        # No model yet, or one trained by an older code version: items stay unlabelled
        # (``sentinel reclassify`` labels them after training); health shows the reason.
        return None


def classify_items(items: list[Item]) -> int:
    """Label ``items`` and their cases; attach near-duplicates. Returns how many were labelled
    (0 when no model is trained: the items stay unlabelled and the queue still works)."""
    pipeline = pipeline_or_none()
    if pipeline is None:
        log.warning("classify_skipped reason=no_usable_model count=%s", len(items))
        return 0
    cfg = current_app.config
    predictions = pipeline.predict(
        [item.text for item in items],
        engagement=[item.extra or None for item in items],
        topic_threshold=cfg.get("TOPIC_THRESHOLD"),
    )
    for item, p in zip(items, predictions, strict=True):
        item.topic = p.topic or None
        item.topic_confidence = p.topic_confidence
        item.sentiment = p.sentiment
        item.sentiment_score = p.sentiment_score
        item.request_type = p.request_type
        item.rumour_score = p.rumour_score
        item.risk_tier = p.risk_tier
        item.model_version = p.model_version
        item.explanation = {
            "topic_terms": list(p.topic_terms),
            "sentiment_terms": list(p.sentiment_terms),
            "risk_reasons": list(p.risk_reasons),
            "pii": list(p.pii),
            "topic_needs_person": p.topic_needs_person,
            "request_type_confidence": round(p.request_type_confidence, 4),
        }
        _label_case(item.case, item, p.topic_needs_person)
    db.session.flush()
    _near_duplicates([i for i in items if not i.is_duplicate])
    return len(items)


def _label_case(case: Case, item: Item, needs_person: bool) -> None:
    if not item.is_duplicate and case.topic is None:
        case.topic = item.topic
        case.topic_confidence = item.topic_confidence
        case.needs_person = needs_person
        case.sentiment = item.sentiment
        case.sentiment_score = item.sentiment_score
        case.request_type = item.request_type
    if item.rumour_score is not None:
        case.rumour_score = max(case.rumour_score or 0.0, item.rumour_score)
    if item.risk_tier and (
        case.risk_tier is None or TIER_ORDER[item.risk_tier] > TIER_ORDER[case.risk_tier]
    ):
        case.risk_tier = item.risk_tier
    # Sensitive cases go to the top of the queue; officers can lower them again
    # (triage.set_priority), and their decision then stands.
    wanted = {"C": 2, "B": 1}.get(case.risk_tier or "A", 0)
    if (case.rumour_score or 0) >= current_app.config["RUMOUR_PRIORITY_THRESHOLD"]:
        wanted = max(wanted, 1)
    if wanted > case.priority and case.status in OPEN_STATUSES and not case.priority_manual:
        case.priority = wanted


# --- near-duplicates --------------------------------------------------------------------


@dataclass
class _IndexState:
    index: Any = None
    settings: tuple[float, float] = (0.0, 0.0)
    max_case_id: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _IndexState()


def _index() -> Any:
    """The per-process MinHash index of recent open cases, brought up to date."""
    from classifiers.neardup import NearDuplicateIndex

    cfg = current_app.config
    settings = (cfg["NEARDUP_ATTACH_THRESHOLD"], cfg["NEARDUP_SUGGEST_THRESHOLD"])
    with _state.lock:
        if _state.index is None or _state.settings != settings:
            _state.index = NearDuplicateIndex(
                attach_threshold=settings[0],
                suggest_threshold=settings[1],
                max_items=cfg["NEARDUP_MAX_CASES"],
            )
            _state.settings = settings
            _state.max_case_id = 0
        since = utcnow() - timedelta(days=cfg["NEARDUP_WINDOW_DAYS"])
        rows = db.session.execute(
            select(Case.id, Item.text)
            .join(Item, Item.case_id == Case.id)
            .where(
                Case.id > _state.max_case_id,
                Case.created_at >= since,
                Item.is_duplicate.is_(False),
            )
            .order_by(Case.id)
            .limit(cfg["NEARDUP_MAX_CASES"])
        ).all()
        for case_id, text in rows:
            _state.index.add(case_id, text)
            _state.max_case_id = max(_state.max_case_id, case_id)
        return _state.index


def reset_index() -> None:
    """Forget the in-memory index (tests; settings changes rebuild it anyway)."""
    with _state.lock:
        _state.index = None
        _state.max_case_id = 0


def _near_duplicates(items: list[Item]) -> None:
    if not items:
        return
    from sentinel.services import triage

    index = _index()
    for item in items:
        case = item.case
        if case.status != "new" or case.ask_count != 1:
            continue
        hits = [(k, s) for k, s in index.query(item.text) if k != case.id and k < case.id]
        if not hits:
            continue
        target_id, similarity = hits[0]
        target = db.session.get(Case, target_id)
        if target is None or not target.is_open:
            continue
        if similarity >= index.attach_threshold:
            triage.merge(SYSTEM, case, target, similarity=round(similarity, 3))
            index.remove(case.id)
        else:
            item.suggested_case_id = target.id
            item.suggested_similarity = round(similarity, 3)
    db.session.flush()
