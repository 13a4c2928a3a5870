"""Classification of ingested items with the active model bundle, and near-duplicates.

Runs inside the ``process_items`` jobs. Labels go on the item and (from the case's first
item) on its case; rumour score and risk tier of a case are the highest of its items.
A new case whose text is a near-duplicate of an older open case above the attach
threshold is merged into it ("how many asked" goes up); between the suggest and attach
thresholds the match is only suggested to the duty officer.

Written for batches: the items arrive as plain rows, their cases are read (and locked) in
one statement, labels are written with one statement per table (``services.bulk``), and
near-duplicates are looked up in the shared index (``services.neardup_store``) in two.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import Case, Item, utcnow
from sentinel.models.case import OPEN_STATUSES
from sentinel.services import bulk, neardup_store, sla

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


@dataclass(frozen=True)
class ItemRow:
    """What classification needs of an item (a row, not an ORM object: nothing to flush)."""

    id: int
    case_id: int
    text: str  # the normalised text (items.text_normalised)
    extra: dict[str, Any] | None
    is_duplicate: bool


def load_rows(item_ids: Sequence[int]) -> list[ItemRow]:
    """The not yet processed items among ``item_ids``, in id order."""
    rows = db.session.execute(
        select(Item.id, Item.case_id, Item.text_normalised, Item.extra, Item.is_duplicate)
        .where(neardup_store.in_values(Item.id, list(item_ids)), Item.processed_at.is_(None))
        .order_by(Item.id)
    ).all()
    return [ItemRow(r.id, r.case_id, r.text_normalised, r.extra, r.is_duplicate) for r in rows]


# The label columns an item gets from a prediction, and the first item gives its case.
CASE_LABELS = ("topic", "topic_confidence", "sentiment", "sentiment_score", "request_type")


def classify_items(items: Sequence[ItemRow], *, processed_at: datetime | None = None) -> int:
    """Label ``items`` and their cases; attach near-duplicates. Returns how many were labelled
    (0 when no model is trained: the items stay unlabelled and the queue still works).

    With ``processed_at`` the items are also marked processed in the same write.
    """
    pipeline = pipeline_or_none()
    if pipeline is None:
        log.warning("classify_skipped reason=no_usable_model count=%s", len(items))
        return 0
    cfg = current_app.config
    predictions = pipeline.predict(
        [item.text for item in items],
        engagement=[item.extra or None for item in items],
        topic_threshold=cfg.get("TOPIC_THRESHOLD"),
        request_margin=cfg.get("REQUEST_TYPE_MARGIN"),
    )
    item_values: list[dict[str, Any]] = []
    for item, p in zip(items, predictions, strict=True):
        values: dict[str, Any] = {
            "id": item.id,
            "topic": p.topic or None,
            "topic_confidence": p.topic_confidence,
            "sentiment": p.sentiment,
            "sentiment_score": p.sentiment_score,
            "request_type": p.request_type,
            "rumour_score": p.rumour_score,
            "risk_tier": p.risk_tier,
            "model_version": p.model_version,
            "explanation": {
                "topic_terms": list(p.topic_terms),
                "sentiment_terms": list(p.sentiment_terms),
                "risk_reasons": list(p.risk_reasons),
                "pii": list(p.pii),
                "topic_needs_person": p.topic_needs_person,
                "request_type_confidence": round(p.request_type_confidence, 4),
                "request_type_candidates": unsure_request_types(p.request_type_alternatives),
                "rumour_signals": list(p.rumour_signals),
            },
        }
        if processed_at is not None:
            values["processed_at"] = processed_at
        item_values.append(values)
    originals = [item for item in items if not item.is_duplicate]
    matches = _find_near_duplicates(originals)  # reads only: before any lock is taken
    # Every older hit may become an attach target or a possible-duplicate link (whose
    # foreign keys take a KEY SHARE lock on it), so all of them are locked with the job's
    # own cases in one statement in id order: two workers never wait for each other in a
    # cycle (locking only the attach targets deadlocked two workers on the links).
    targets = {k for m in matches for k, _ in m.hits if k < m.item.case_id}
    batch_case_ids = {item.case_id for item in items}
    locked = _lock_cases(sorted(batch_case_ids | targets))
    cases = {case_id: locked[case_id] for case_id in batch_case_ids}
    case_before = {case_id: dict(c) for case_id, c in cases.items()}
    for item, values in zip(items, item_values, strict=True):
        _label_case(cases[item.case_id], item.is_duplicate, values, _needs_person(values))
    # One statement per table for the whole batch; no ORM objects to flush.
    bulk.update_rows(Item, item_values)
    now = utcnow()
    changed = [
        {**c, "updated_at": now} for case_id, c in cases.items() if c != case_before[case_id]
    ]
    if changed:
        bulk.update_rows(Case, [_case_update(c) for c in changed])
    _resolve_near_duplicates(matches, locked)
    return len(items)


_CASE_READ = (
    "id",
    "status",
    "ask_count",
    "created_at",
    "priority",
    "needs_person",
    "rumour_score",
    "risk_tier",
    "priority_manual",
    *CASE_LABELS,
)
_CASE_WRITE = ("id", "priority", "needs_person", "rumour_score", "risk_tier", *CASE_LABELS)


def _lock_cases(case_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The batch's cases as dicts, locked until commit (in id order, so two workers that
    touch the same cases never deadlock): rumour score and risk tier are maxima over the
    items, which two workers must not compute from the same stale row."""
    rows = db.session.execute(
        select(*(getattr(Case, name) for name in _CASE_READ))
        .where(neardup_store.in_values(Case.id, case_ids))
        .order_by(Case.id)
        .with_for_update()
    ).all()
    return {r.id: dict(r._mapping) for r in rows}


def _case_update(case: dict[str, Any]) -> dict[str, Any]:
    return {name: case[name] for name in (*_CASE_WRITE, "updated_at")}


def label_case_from_item(case: Case, item: Item) -> None:
    """Give ``case`` the labels of ``item``, its first item, and the priority they imply
    (a case split off by ``duplicates.unmerge`` keeps what its item was labelled)."""
    values = {name: getattr(case, name) for name in _CASE_READ}
    labels = {name: getattr(item, name) for name in (*CASE_LABELS, "rumour_score", "risk_tier")}
    _label_case(values, False, labels, _needs_person({"explanation": item.explanation}))
    for name in _CASE_WRITE:
        if name != "id":
            setattr(case, name, values[name])


def unsure_request_types(alternatives: Sequence[str]) -> list[str]:
    """The two request types the model could not tell apart, when they carry different
    deadlines (``sla.resolution_rules_differ``); else [] (an unsure pick between two
    13-day types changes nothing for the unit)."""
    if len(alternatives) < 2:
        return []
    first, second = alternatives[0], alternatives[1]
    return [first, second] if sla.resolution_rules_differ(first, second) else []


def _needs_person(item: dict[str, Any]) -> bool:
    explanation = item.get("explanation") or {}
    return bool(explanation.get("topic_needs_person") or explanation.get("request_type_candidates"))


def _label_case(
    case: dict[str, Any], is_duplicate: bool, item: dict[str, Any], needs_person: bool
) -> None:
    if not is_duplicate and case["topic"] is None:
        for name in CASE_LABELS:
            case[name] = item[name]
        case["needs_person"] = needs_person
    if item["rumour_score"] is not None:
        case["rumour_score"] = max(case["rumour_score"] or 0.0, item["rumour_score"])
    tier = item["risk_tier"]
    if tier and (case["risk_tier"] is None or TIER_ORDER[tier] > TIER_ORDER[case["risk_tier"]]):
        case["risk_tier"] = tier
    # Sensitive cases go to the top of the queue; officers can lower them again
    # (triage.set_priority), and their decision then stands.
    wanted = {"C": 2, "B": 1}.get(case["risk_tier"] or "A", 0)
    if (case["rumour_score"] or 0) >= current_app.config["RUMOUR_PRIORITY_THRESHOLD"]:
        wanted = max(wanted, 1)
    if (
        wanted > case["priority"]
        and case["status"] in OPEN_STATUSES
        and not case["priority_manual"]
    ):
        case["priority"] = wanted


# --- near-duplicates --------------------------------------------------------------------


@dataclass
class _Match:
    item: ItemRow
    signature: Any
    hits: list[tuple[int, float]]  # (case_id, similarity), best first


def _find_near_duplicates(items: list[ItemRow]) -> list[_Match]:
    """Each new case's matches among the older cases in the shared index and the earlier
    ones of this batch (matched in memory), at or above the suggest threshold."""
    if not items:
        return []
    floor = float(current_app.config["NEARDUP_SUGGEST_THRESHOLD"])
    sigs = neardup_store.signatures([item.text for item in items])
    stored_hits = neardup_store.query(sigs, floor=floor)
    batch_hits = neardup_store.query_within(sigs, floor=floor)
    return [
        _Match(
            item,
            sig,
            sorted(
                stored + [(items[j].case_id, sim) for j, sim in earlier],
                key=lambda cs: (-cs[1], cs[0]),
            ),
        )
        for item, sig, stored, earlier in zip(items, sigs, stored_hits, batch_hits, strict=True)
    ]


def _resolve_near_duplicates(matches: list[_Match], cases: dict[int, dict[str, Any]]) -> None:
    """Attach or suggest each new case (``cases``: the locked rows), then index the cases
    that stay in the shared index."""
    if not matches:
        return
    attach_threshold = float(current_app.config["NEARDUP_ATTACH_THRESHOLD"])
    from sentinel.services import duplicates

    with_hits = [m for m in matches if m.hits]
    # Held here: the session's identity map only keeps objects something refers to.
    preloaded = _load_cases(
        {m.item.case_id for m in with_hits} | {k for m in with_hits for k, _ in m.hits}
    )
    items_by_id = _load_items({m.item.id for m in with_hits})
    merged: set[int] = set()
    grown: set[int] = set()  # targets that took a merge in this batch: no longer single asks
    for m in matches:
        case_id = m.item.case_id
        case = cases[case_id]
        if case["status"] != "new" or case["ask_count"] != 1 or case_id in grown:
            continue
        hits = [(k, sim) for k, sim in m.hits if k < case_id and k not in merged]
        if not hits:
            continue
        item = items_by_id[m.item.id]
        new_case = db.session.get(Case, case_id)
        assert new_case is not None
        # issue 10: attach only where duplicates.may_auto_attach allows (open, same owning
        # unit, time window, no person's decision); otherwise link the best match for a
        # person. Every target above the attach threshold was locked up front.
        best: tuple[Case, float, str] | None = None
        for target_id, similarity in hits:
            target = db.session.get(Case, target_id)
            if target is None or target.status in ("merged", "noise"):
                continue
            decision = duplicates.item_decision(target, item)
            if decision.reason == "person":
                best = None
                break  # a person decided where this item belongs
            if (
                similarity >= attach_threshold
                and decision
                and _attach_near_duplicate(new_case, target, round(similarity, 3))
            ):
                merged.add(case_id)
                grown.add(target_id)
                best = None
                break
            if best is None:
                best = (target, similarity, decision.reason or "similarity")
        if best is not None:
            target, similarity, reason = best
            item.suggested_case_id = target.id
            item.suggested_similarity = round(similarity, 3)
            duplicates.link_possible_duplicate(SYSTEM, new_case, target, similarity, reason)
    # Merged cases are not indexed: nothing can attach to them any more.
    neardup_store.add(
        [
            (m.item.case_id, cases[m.item.case_id]["created_at"], m.signature)
            for m in matches
            if m.item.case_id not in merged
        ]
    )
    db.session.flush()
    del preloaded


def _load_cases(case_ids: set[int]) -> list[Case]:
    """Load the cases a merge may need in one query (later ``session.get`` calls hit the
    identity map), fresh from the database (labels were just written around the ORM)."""
    if not case_ids:
        return []
    return list(
        db.session.scalars(
            select(Case)
            .where(neardup_store.in_values(Case.id, sorted(case_ids)))
            .execution_options(populate_existing=True)
        )
    )


def _load_items(item_ids: set[int]) -> dict[int, Item]:
    """The items whose cases may merge, in one query (with their sources, for the unit)."""
    if not item_ids:
        return {}
    from sqlalchemy.orm import selectinload

    return {
        item.id: item
        for item in db.session.scalars(
            select(Item)
            .where(neardup_store.in_values(Item.id, sorted(item_ids)))
            .options(selectinload(Item.source))
            .execution_options(populate_existing=True)
        )
    }


def _attach_near_duplicate(case: Case, target: Case, similarity: float) -> bool:
    """THE attach point: merge new ``case`` into the older ``target`` (similarity at or
    above the attach threshold, allowed by ``duplicates.may_auto_attach``). Returns whether
    it was merged (the target must still be open)."""
    from sentinel.services import triage

    if not target.is_open:
        return False
    triage.merge(SYSTEM, case, target, similarity=similarity, automatic=True)
    return True
