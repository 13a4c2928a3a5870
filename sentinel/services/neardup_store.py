"""The near-duplicate index that every worker shares, kept in the database.

Each indexed case has its MinHash signature and one key per LSH band
(``classifiers.neardup``). A query looks up the band keys of a batch of new texts in one
statement, fetches the candidates' signatures in a second, and scores them; nothing is
rebuilt in a worker process, so the cost of a job no longer grows with the number of
recent cases. Entries change in the caller's transaction: a job that rolls back leaves
none behind, and other workers see a job's entries once it commits.

Entries older than ``NEARDUP_WINDOW_DAYS`` are ignored by queries and deleted by the
periodic ``neardup_maintain`` job, which also indexes recent open cases that have no entry
yet (cases from before this index existed, or from a changed LSH scheme).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import any_, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from sentinel.extensions import db
from sentinel.models import Case, Item, NearDupBand, NearDupSignature, utcnow
from sentinel.models.case import OPEN_STATUSES

NUM_PERM = 128
SEED = 1
MAINTAIN_JOB = "neardup_maintain"


@dataclass(frozen=True)
class Scheme:
    """How signatures are cut into LSH bands (depends on the suggest threshold)."""

    bands: int
    rows: int

    @property
    def name(self) -> str:
        return f"mh{NUM_PERM}s{SEED}:b{self.bands}r{self.rows}"


def scheme() -> Scheme:
    """The banding for the current ``NEARDUP_SUGGEST_THRESHOLD`` (the same as datasketch's)."""
    from classifiers.neardup import lsh_bands

    bands, rows = lsh_bands(float(current_app.config["NEARDUP_SUGGEST_THRESHOLD"]), NUM_PERM)
    return Scheme(bands, rows)


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from classifiers.neardup import MinHasher

    return MinHasher(NUM_PERM, SEED)


def signatures(texts: Sequence[str]) -> np.ndarray:
    """MinHash signatures of ``texts``, one row each."""
    return _hasher().signatures(texts)  # type: ignore[no-any-return]


def window_start() -> datetime:
    return utcnow() - timedelta(days=int(current_app.config["NEARDUP_WINDOW_DAYS"]))


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def in_values(column: Any, values: list[Any]) -> Any:
    """``column IN values``; on PostgreSQL one array parameter (no re-parsed placeholders)."""
    if not _postgresql():
        return column.in_(values)
    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))


def add(entries: Sequence[tuple[int, datetime, np.ndarray]]) -> None:
    """Index ``(case_id, created_at, signature)`` entries; an indexed case is left as it is."""
    if not entries:
        return
    from classifiers.neardup import band_keys

    s = scheme()
    sigs = np.stack([sig for _, _, sig in entries])
    keys = band_keys(sigs, s.bands, s.rows)
    sig_rows = [
        {
            "case_id": case_id,
            "created_at": created_at,
            "scheme": s.name,
            "signature": sig.astype("<u4").tobytes(),
        }
        for case_id, created_at, sig in entries
    ]
    case_ids = [case_id for case_id, _, _ in entries]
    band_case_ids = np.repeat(np.asarray(case_ids, dtype=np.int64), s.bands).tolist()
    band_keys_flat = keys.reshape(-1).tolist()
    if _postgresql():
        from sqlalchemy.dialects.postgresql import insert

        db.session.execute(insert(NearDupSignature).on_conflict_do_nothing(), sig_rows)
        # One statement for every band row of the batch (thousands of rows).
        db.session.execute(
            text(
                "INSERT INTO neardup_bands (key, case_id) "
                "SELECT * FROM unnest(CAST(:keys AS BIGINT[]), CAST(:ids AS INTEGER[])) "
                "ON CONFLICT DO NOTHING"
            ),
            {"keys": band_keys_flat, "ids": band_case_ids},
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        db.session.execute(sqlite_insert(NearDupSignature).on_conflict_do_nothing(), sig_rows)
        db.session.execute(
            sqlite_insert(NearDupBand).on_conflict_do_nothing(),
            [{"key": k, "case_id": c} for k, c in zip(band_keys_flat, band_case_ids, strict=True)],
        )


def query(sigs: np.ndarray, *, floor: float) -> list[list[tuple[int, float]]]:
    """For each signature, the indexed cases of the window at or above ``floor`` similarity,
    as ``(case_id, similarity)`` best first (ties: older case first)."""
    if len(sigs) == 0:
        return []
    from classifiers.neardup import band_keys

    s = scheme()
    keys = band_keys(sigs, s.bands, s.rows)
    if _postgresql():
        return _query_pg(sigs, keys, s, floor)
    by_key: dict[int, list[int]] = {}
    for key, case_id in db.session.execute(
        select(NearDupBand.key, NearDupBand.case_id).where(
            in_values(NearDupBand.key, sorted(set(keys.reshape(-1).tolist())))
        )
    ):
        by_key.setdefault(key, []).append(case_id)
    wanted = {case_id for ids in by_key.values() for case_id in ids}
    stored: dict[int, np.ndarray] = {}
    if wanted:
        for case_id, blob in db.session.execute(
            select(NearDupSignature.case_id, NearDupSignature.signature).where(
                in_values(NearDupSignature.case_id, sorted(wanted)),
                NearDupSignature.created_at >= window_start(),
                NearDupSignature.scheme == s.name,
            )
        ):
            stored[case_id] = np.frombuffer(blob, dtype="<u4")
    out: list[list[tuple[int, float]]] = []
    for row_keys, sig in zip(keys, sigs, strict=True):
        found = {c for k in row_keys.tolist() for c in by_key.get(k, ())}
        scored = []
        for case_id in found:
            other = stored.get(case_id)
            if other is None:
                continue
            sim = float(np.count_nonzero(other == sig)) / len(sig)
            if sim >= floor:
                scored.append((case_id, sim))
        scored.sort(key=lambda cs: (-cs[1], cs[0]))
        out.append(scored)
    return out


def _query_pg(
    sigs: np.ndarray, keys: np.ndarray, s: Scheme, floor: float
) -> list[list[tuple[int, float]]]:
    """One statement: the distinct (batch row, candidate case) pairs that share a band key,
    with the candidate's signature — not one row per shared band."""
    rows = db.session.execute(
        text(
            "SELECT DISTINCT v.i, b.case_id, s.signature "
            "FROM unnest(CAST(:keys AS BIGINT[]), CAST(:idx AS INTEGER[])) AS v(key, i) "
            "JOIN neardup_bands b ON b.key = v.key "
            "JOIN neardup_signatures s ON s.case_id = b.case_id "
            "WHERE s.created_at >= :since AND s.scheme = :scheme"
        ),
        {
            "keys": keys.reshape(-1).tolist(),
            "idx": np.repeat(np.arange(len(sigs)), keys.shape[1]).tolist(),
            "since": window_start(),
            "scheme": s.name,
        },
    ).all()
    out: list[list[tuple[int, float]]] = [[] for _ in range(len(sigs))]
    for i, case_id, blob in rows:
        sim = float(np.count_nonzero(np.frombuffer(blob, dtype="<u4") == sigs[i])) / sigs.shape[1]
        if sim >= floor:
            out[i].append((case_id, sim))
    for scored in out:
        scored.sort(key=lambda cs: (-cs[1], cs[0]))
    return out


def query_within(sigs: np.ndarray, *, floor: float) -> list[list[tuple[int, float]]]:
    """For each signature, the *earlier* signatures of the same batch at or above ``floor``:
    ``(index, similarity)``. A batch's own cases are matched here, in memory, instead of
    being written first and read back."""
    from classifiers.neardup import band_keys

    s = scheme()
    seen: dict[int, list[int]] = {}
    out: list[list[tuple[int, float]]] = []
    for i, row_keys in enumerate(band_keys(sigs, s.bands, s.rows).tolist()):
        found = {j for k in row_keys for j in seen.get(k, ())}
        scored = []
        for j in found:
            sim = float(np.count_nonzero(sigs[j] == sigs[i])) / sigs.shape[1]
            if sim >= floor:
                scored.append((j, sim))
        out.append(scored)
        for k in row_keys:
            seen.setdefault(k, []).append(i)
    return out


def remove(case_ids: Sequence[int]) -> None:
    """Forget these cases (merged away: they are no longer a case to attach to)."""
    if not case_ids:
        return
    ids = list(case_ids)
    db.session.execute(delete(NearDupBand).where(in_values(NearDupBand.case_id, ids)))
    db.session.execute(delete(NearDupSignature).where(in_values(NearDupSignature.case_id, ids)))


def prune(limit: int = 20_000) -> int:
    """Delete up to ``limit`` entries older than the window; returns how many."""
    old = list(
        db.session.scalars(
            select(NearDupSignature.case_id)
            .where(NearDupSignature.created_at < window_start())
            .limit(limit)
        )
    )
    remove(old)
    return len(old)


def backfill(limit: int = 5_000) -> int:
    """Index up to ``limit`` processed, open cases of the window that have no entry of the
    current scheme (cases from before the index, or after a threshold change); returns
    how many were indexed."""
    s = scheme()
    current = select(NearDupSignature.case_id).where(NearDupSignature.scheme == s.name)
    rows = db.session.execute(
        select(Case.id, Case.created_at, Item.text_normalised.label("text"))
        .join(Item, Item.case_id == Case.id)
        .where(
            Case.created_at >= window_start(),
            Case.status.in_(OPEN_STATUSES),
            Case.merged_into_id.is_(None),
            Item.is_duplicate.is_(False),
            Item.processed_at.is_not(None),
            Case.id.not_in(current),
        )
        .order_by(Case.id.desc())
        .limit(limit)
    ).all()
    if not rows:
        return 0
    # An entry of an older scheme is replaced, not kept next to the new one.
    remove([r.id for r in rows])
    sigs = signatures([r.text for r in rows])
    add([(r.id, r.created_at, sig) for r, sig in zip(rows, sigs, strict=True)])
    return len(rows)


def maintain() -> dict[str, int]:
    """Prune entries older than the window, then index recent cases that lack one."""
    return {"pruned": prune(), "indexed": backfill()}
