"""FAQ knowledge base (咨询问答库): suggestions from answered 咨询 cases, approval, search,
uses, periodic re-confirmation, import and export.

Search runs on an in-process index (``classifiers.faq_search.FaqIndex``) of every approved
entry, built from the database once and then updated entry by entry: every change writes a
``FaqVersion`` row, so the newest version id is the index's version, read with one
primary-key lookup per search (see "the search index" below for the rebuild policy).
Visibility and validity are filtered after scoring (an array mask), so one index serves
the public page, triage and the CLI alike.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from flask import Flask, current_app, has_request_context
from sqlalchemy import func, or_, select

from classifiers.faq_search import FaqIndex, analyse, clean, similarity
from classifiers.tabular import iter_dicts, read_table
from sentinel.auth.permissions import Actor
from sentinel.errors import InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Case, Reply, User, utcnow
from sentinel.models.faq import FAQ_VISIBILITIES, FaqEntry, FaqSource, FaqUse, FaqVersion
from sentinel.models.unit import Unit
from sentinel.services import audit, mailer
from sentinel.timefmt import to_local

log = logging.getLogger(__name__)

OBJECT = "faq_entry"
MAX_QUESTION = 500
MAX_ANSWER = 20000
CONSULTATION = "咨询"

# ----------------------------------------------------------------- settings


def _cfg(name: str) -> Any:
    return current_app.config[name]


def local_date(moment: datetime) -> date:
    """The calendar date of ``moment`` in the office's time zone."""
    local = to_local(moment)
    assert local is not None
    return local.date()


def today() -> date:
    """Today in the office's time zone (validity dates are calendar dates there)."""
    return local_date(utcnow())


# ----------------------------------------------------------------- condensing a question

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")
_QUESTION_MARK = re.compile(
    r"[？?]|吗|请问|咨询|如何|怎么|怎样|是否|能否|可否|可不可以|能不能|哪里|哪儿|哪些|"
    r"什么|多少|何时|几时|啥时候|什么时候"
)
_LEADING = re.compile(
    r"^(尊敬的[^，,：:]{0,12}[，,：:]|您好[，,！!]?|你好[，,！!]?|领导[，,：:]?)+"
)


def condense_question(texts: list[str], limit: int = 120) -> str:
    """The question of a consultation: the first sentence(s) that ask something.

    Salutations, whitespace and closing thanks are dropped; when no sentence asks (no
    question word or mark), the first sentence stands for the question. A question that
    is very short gets its preceding sentence as context.
    """
    sentences: list[str] = []
    for text in texts:
        flat = re.sub(r"\s+", " ", text or "").strip()
        for m in _SENTENCE.finditer(flat):
            s = _LEADING.sub("", m.group(0).strip()).strip(" ，,")
            if s and not re.fullmatch(r"(谢谢|感谢|麻烦了|辛苦了)[^。！!]*[。！!]?", s):
                sentences.append(s)
    if not sentences:
        return ""
    for i, s in enumerate(sentences):
        if _QUESTION_MARK.search(s):
            if len(s) < 8 and i > 0:
                s = sentences[i - 1] + s
            return s[:limit]
    return sentences[0][:limit]


# ----------------------------------------------------------------- the search index
#
# Every process keeps its own index (``_cache``), keyed by the database. It is kept
# current without full rebuilds:
#
# * every change writes a ``FaqVersion`` row; each search reads the newest version id
#   (one primary-key lookup) and, when it moved, applies just the entries changed since
#   (``FaqIndex.with_changes``: milliseconds). So every web and worker process sees a
#   change at its next search.
# * changed entries are weighted with the BM25/TF-IDF statistics of the last full build.
#   That staleness is bounded: once more than FAQ_INDEX_REFRESH_CHANGES entries (or
#   FAQ_INDEX_REFRESH_SHARE of the built ones) changed, or the build is older than
#   FAQ_INDEX_REFRESH_AFTER_S, a full build starts in a background thread; searches keep
#   using the current index until the new one replaces it.
# * a full build in the request happens only when the changes cannot be applied (no
#   index yet in this process, a reset database, a large import) and the knowledge base
#   is small (FAQ_INDEX_INLINE_MAX approved entries); otherwise it runs in the background
#   and searches use the index there is (none at first: they find nothing meanwhile,
#   ``index_ready``), or ``wait=True`` (the CLI, benchmarks) waits for it.
# * more than FAQ_INDEX_MAX_CHANGES changes at once (a large import) are not applied one
#   by one: the current index is served until a background build picks them up.


@dataclass
class _Built:
    version: tuple[int, datetime | None]  # the newest version applied
    built_version: tuple[int, datetime | None]  # the version of the full build
    built_at: float  # time.monotonic() of the full build
    index: FaqIndex
    ids: np.ndarray
    public: np.ndarray
    valid_from: np.ndarray  # date ordinals; 0 when unset
    review_by: np.ndarray  # date ordinals; a large number when unset
    # Per entry id: (public, valid_from, review_by) of entries changed since the build.
    changed_meta: dict[int, tuple[bool, int, int]] = field(default_factory=dict)
    n_built: int = 0


_cache: dict[str, _Built] = {}
_lock = threading.Lock()
_building: dict[str, threading.Thread] = {}
_NO_END = date.max.toordinal()
# Counters for tests and benchmarks: full builds done, incremental updates applied.
stats = {"builds": 0, "updates": 0, "background_builds": 0}


def index_version() -> tuple[int, datetime | None]:
    """The knowledge base's version: the newest version row (every change writes one).

    Its time is part of the version because ids can be reused once rows are deleted
    (a restored backup, a test database emptied between tests).
    """
    row = db.session.execute(
        select(FaqVersion.id, FaqVersion.created_at).order_by(FaqVersion.id.desc()).limit(1)
    ).first()
    return (row.id, row.created_at) if row is not None else (0, None)


def _cache_key() -> str:
    return str(db.engine.url)


_ROW_COLUMNS = (
    FaqEntry.id,
    FaqEntry.question,
    FaqEntry.answer,
    FaqEntry.search_terms,
    FaqEntry.status,
    FaqEntry.visibility,
    FaqEntry.valid_from,
    FaqEntry.review_by,
)


def _meta(row: Any) -> tuple[bool, int, int]:
    return (
        row.visibility == "public",
        row.valid_from.toordinal() if row.valid_from else 0,
        row.review_by.toordinal() if row.review_by else _NO_END,
    )


def _build(version: tuple[int, datetime | None]) -> _Built:
    """A full build over every approved entry (seconds to minutes: never in a request,
    except for a small knowledge base with no index yet)."""
    rows = db.session.execute(
        select(*_ROW_COLUMNS).where(FaqEntry.status == "approved").order_by(FaqEntry.id)
    ).all()
    index = FaqIndex.build((r.id, r.question, r.answer, r.search_terms) for r in rows)
    meta = [_meta(r) for r in rows]
    stats["builds"] += 1
    return _Built(
        version=version,
        built_version=version,
        built_at=time.monotonic(),
        index=index,
        ids=np.array([r.id for r in rows], dtype=np.int64),
        public=np.array([m[0] for m in meta], dtype=bool),
        valid_from=np.array([m[1] for m in meta], dtype=np.int64),
        review_by=np.array([m[2] for m in meta], dtype=np.int64),
        n_built=len(rows),
    )


def _catch_up(built: _Built, version: tuple[int, datetime | None]) -> _Built | None:
    """``built`` with the entries changed since its version applied; None when that is
    not possible here (the database was reset, or too many changes for one request)."""
    last_id, last_at = built.version
    if version[0] < last_id:
        return None
    if last_id:
        seen = db.session.scalar(select(FaqVersion.created_at).where(FaqVersion.id == last_id))
        if seen != last_at:
            return None
    limit = int(_cfg("FAQ_INDEX_MAX_CHANGES"))
    entry_ids = list(
        db.session.scalars(
            select(FaqVersion.entry_id).where(FaqVersion.id > last_id).distinct().limit(limit + 1)
        )
    )
    if len(entry_ids) > limit:
        return None
    rows = db.session.execute(select(*_ROW_COLUMNS).where(FaqEntry.id.in_(entry_ids))).all()
    upserts = [r for r in rows if r.status == "approved"]
    live = {r.id for r in upserts}
    removed = [i for i in entry_ids if i not in live]
    index = built.index.with_changes(
        ((r.id, r.question, r.answer, r.search_terms) for r in upserts), removed
    )
    changed_meta = dict(built.changed_meta)
    for i in removed:
        changed_meta.pop(i, None)
    for r in upserts:
        changed_meta.pop(r.id, None)  # same order as the index's changed rows
        changed_meta[r.id] = _meta(r)
    n = built.n_built
    seg = [changed_meta[k] for k in index.keys[n:]]  # type: ignore[index]
    stats["updates"] += 1
    return _Built(
        version=version,
        built_version=built.built_version,
        built_at=built.built_at,
        index=index,
        ids=np.concatenate([built.ids[:n], np.array(index.keys[n:], dtype=np.int64)]),
        public=np.concatenate([built.public[:n], np.array([m[0] for m in seg], dtype=bool)]),
        valid_from=np.concatenate(
            [built.valid_from[:n], np.array([m[1] for m in seg], dtype=np.int64)]
        ),
        review_by=np.concatenate(
            [built.review_by[:n], np.array([m[2] for m in seg], dtype=np.int64)]
        ),
        changed_meta=changed_meta,
        n_built=n,
    )


def _is_stale(built: _Built) -> bool:
    changed = built.index.changed_count
    if not changed and built.version == built.built_version:
        return False
    limit = max(
        int(_cfg("FAQ_INDEX_REFRESH_CHANGES")),
        int(float(_cfg("FAQ_INDEX_REFRESH_SHARE")) * built.n_built),
    )
    too_old = time.monotonic() - built.built_at > float(_cfg("FAQ_INDEX_REFRESH_AFTER_S"))
    return changed > limit or too_old


def _background_build(app: Flask, key: str) -> None:
    try:
        with app.app_context():
            try:
                fresh = _build(index_version())
            finally:
                db.session.remove()
        with _lock:
            # Changes since the fresh build's version are applied at the next search.
            _cache[key] = fresh
            stats["background_builds"] += 1
    except Exception:  # a failed build leaves the current index in use
        log.exception("faq_index_build_failed key=%s", key)


def _start_background_build(key: str) -> threading.Thread:
    """Start a full build in a thread (one per database and process) unless one runs."""
    running = _building.get(key)
    if running is not None and running.is_alive():
        return running
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=_background_build, args=(app, key), name="faq-index-build", daemon=True
    )
    _building[key] = thread
    thread.start()
    return thread


def wait_for_background_build(timeout: float | None = None) -> None:
    """Wait for this process's running background build of the index, if any."""
    thread = _building.get(_cache_key())
    if thread is not None:
        thread.join(timeout)


def _small_knowledge_base() -> bool:
    count = db.session.scalar(
        select(func.count()).select_from(FaqEntry).where(FaqEntry.status == "approved")
    )
    return int(count or 0) <= int(_cfg("FAQ_INDEX_INLINE_MAX"))


def current_index(*, wait: bool = False) -> _Built | None:
    """The index of approved entries, with every committed change applied.

    None only when this process has no index yet and the knowledge base is too large to
    build in the request (a background build is started); ``wait`` builds it here.
    """
    version = index_version()
    key = _cache_key()
    built = _cache.get(key)
    if built is not None and built.version == version:
        if _is_stale(built):
            _start_background_build(key)
        return built
    with _lock:
        built = _cache.get(key)
        if built is not None and built.version == version:
            return built
        running = _building.get(key)
        rebuilding = running is not None and running.is_alive()
        if built is not None:
            updated = _catch_up(built, version)
            if updated is not None:
                _cache[key] = built = updated
                if _is_stale(built):
                    _start_background_build(key)
                return built
        if wait or (not rebuilding and _small_knowledge_base()):
            _cache[key] = built = _build(version)
            return built
    # Too many changes at once, or a reset database: serve what there is (if anything)
    # while a full build runs in the background.
    thread = _start_background_build(key)
    if built is None and wait:
        thread.join()
        return _cache.get(key)
    return built


def index_ready() -> bool:
    """Whether searches in this process have an index (False during a first large build)."""
    return _cache.get(_cache_key()) is not None


def search_ids(
    query: str,
    top: int = 10,
    *,
    public_only: bool = False,
    min_share: float = 0.0,
    wait: bool = False,
) -> list[int]:
    """Approved entry ids for ``query``, best first (public and current only if asked).

    The one search behind the public page, triage suggestions and ``sentinel faq search``.
    ``min_share`` drops results scoring below that share of the best one (pages show
    only real matches; the CLI asks for the full top ``top``). ``wait``: wait for a
    first build of the index instead of finding nothing while it runs.
    """
    query = (query or "").strip()
    if not query or top <= 0:
        return []
    built = current_index(wait=wait)
    if built is None or not len(built.ids):
        return []
    scores = built.index.scores(query)
    if public_only:
        day = today().toordinal()
        mask = built.public & (built.valid_from <= day) & (built.review_by >= day)
        scores = np.where(mask, scores, 0.0)
    top = min(top, len(scores))
    part = np.argpartition(-scores, top - 1)[:top]
    order = part[np.argsort(-scores[part], kind="stable")]
    floor = max(0.0, float(scores[order[0]]) * min_share) if len(order) else 0.0
    return [int(built.ids[i]) for i in order if scores[i] > 0 and scores[i] >= floor]


def _entries_in_order(ids: list[int]) -> list[FaqEntry]:
    if not ids:
        return []
    found = {e.id: e for e in db.session.scalars(select(FaqEntry).where(FaqEntry.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


# Pages show results scoring at least this share of the best match.
PAGE_MIN_SHARE = 0.5


def search(
    query: str, top: int = 10, *, public_only: bool = False, min_share: float = PAGE_MIN_SHARE
) -> list[FaqEntry]:
    """Approved entries for ``query``, best first (weak matches left out, see search_ids)."""
    return _entries_in_order(search_ids(query, top, public_only=public_only, min_share=min_share))


def case_query(case: Case) -> str:
    """What a case asks, as a search query: its items' normalised texts."""
    return "\n".join((i.text_normalised or i.text or "") for i in case.items[:5])


def suggestions_for_case(case: Case, top: int = 3) -> list[FaqEntry]:
    """The best matching approved entries for a case (triage and drafting)."""
    return search(case_query(case), top)


def is_current(entry: FaqEntry, day: date | None = None) -> bool:
    """Valid today: valid_from <= today <= review_by (either may be unset)."""
    day = day or today()
    return (entry.valid_from is None or entry.valid_from <= day) and (
        entry.review_by is None or day <= entry.review_by
    )


def public_entries(topic: str | None = None, limit: int = 200) -> list[FaqEntry]:
    """Public, approved, current entries (the public page without a query)."""
    day = today()
    stmt = (
        select(FaqEntry)
        .where(
            FaqEntry.status == "approved",
            FaqEntry.visibility == "public",
            or_(FaqEntry.valid_from.is_(None), FaqEntry.valid_from <= day),
            or_(FaqEntry.review_by.is_(None), FaqEntry.review_by >= day),
        )
        .order_by(FaqEntry.use_count.desc(), FaqEntry.id.desc())
        .limit(limit)
    )
    if topic:
        stmt = stmt.where(FaqEntry.topic == topic)
    return list(db.session.scalars(stmt))


def public_topics() -> list[tuple[str, int]]:
    """Topics of public current entries with their counts."""
    day = today()
    rows = db.session.execute(
        select(FaqEntry.topic, func.count())
        .where(
            FaqEntry.status == "approved",
            FaqEntry.visibility == "public",
            FaqEntry.topic.is_not(None),
            or_(FaqEntry.valid_from.is_(None), FaqEntry.valid_from <= day),
            or_(FaqEntry.review_by.is_(None), FaqEntry.review_by >= day),
        )
        .group_by(FaqEntry.topic)
        .order_by(func.count().desc())
    ).all()
    return [(t, n) for t, n in rows]


# ----------------------------------------------------------------- changes


def _snapshot(entry: FaqEntry, change: str, actor: Actor) -> None:
    """Write the entry's search terms and a version row (every change goes through here)."""
    entry.search_terms = analyse(entry.question, entry.answer)
    db.session.flush()  # the entry's id
    db.session.add(
        FaqVersion(
            entry_id=entry.id,
            version=entry.version,
            question=entry.question,
            answer=entry.answer,
            topic=entry.topic,
            visibility=entry.visibility,
            status=entry.status,
            change=change,
            actor_id=actor.user_id,
        )
    )
    db.session.flush()


def _clean_text(question: str, answer: str) -> tuple[str, str]:
    question = re.sub(r"\s+", " ", question or "").strip()
    answer = (answer or "").strip()
    if not question:
        raise ValidationFailed("问题不能为空")
    if not answer:
        raise ValidationFailed("答案不能为空")
    if len(question) > MAX_QUESTION:
        raise ValidationFailed(f"问题不能超过 {MAX_QUESTION} 字")
    if len(answer) > MAX_ANSWER:
        raise ValidationFailed(f"答案不能超过 {MAX_ANSWER} 字")
    return question, answer


def find_close_match(question: str, answer: str = "") -> tuple[FaqEntry, float] | None:
    """The approved entry this question duplicates, with its similarity, if any is close.

    Candidates come from the search; the decision is the character-bigram similarity of
    the questions (or of the answers, for two wordings of one question answered alike),
    against ``FAQ_DUPLICATE_THRESHOLD``.
    """
    threshold = float(_cfg("FAQ_DUPLICATE_THRESHOLD"))
    best: tuple[FaqEntry, float] | None = None
    # A job or the CLI may wait for a first build of a large index; a web request does not
    # (while a process's first build runs, its suggestions are not matched: 新问答).
    wait = not has_request_context()
    ids = search_ids(question + "\n" + answer[:200], 5, wait=wait)
    for entry in _entries_in_order(ids):
        sim = similarity(question, entry.question)
        if answer:
            sim = max(sim, similarity(clean(answer)[:300], clean(entry.answer)[:300]))
        if sim >= threshold and (best is None or sim > best[1]):
            best = (entry, sim)
    return best


def suggest_from_answer(case: Case, reply: Reply, actor: Actor) -> FaqEntry | None:
    """Make a pending suggestion from a final answer to a 咨询 case (once per case).

    The question is condensed from the case's items, the answer is the reply. A close
    match with an approved entry becomes a suggestion to update that entry instead.
    Nothing is visible anywhere until someone with ``faq.approve`` approves it.
    """
    if case.request_type != CONSULTATION or reply.kind != "answer" or not reply.body.strip():
        return None
    exists = db.session.scalar(select(FaqSource.id).where(FaqSource.case_id == case.id))
    if exists is not None:
        return None
    # The question is shown to people: condensed from the received (verbatim) text.
    question = condense_question([i.text or i.text_normalised for i in case.items])
    if not question:
        return None
    answer = reply.body.strip()[:MAX_ANSWER]
    match = find_close_match(question, answer)
    entry = FaqEntry(
        question=question[:MAX_QUESTION],
        answer=answer,
        topic=case.topic,
        unit_id=case.unit_id or case.owner_unit_id,
        visibility="draft",
        status="pending",
        updates_id=match[0].id if match else None,
        similarity=round(match[1], 3) if match else None,
        created_by_id=actor.user_id,
    )
    db.session.add(entry)
    db.session.flush()
    db.session.add(FaqSource(entry_id=entry.id, case_id=case.id, reply_id=reply.id))
    _snapshot(entry, "suggested", actor)
    audit.record(
        actor,
        "faq.suggest",
        OBJECT,
        entry.id,
        case_id=case.id,
        updates_id=entry.updates_id,
    )
    return entry


def _require_pending(entry: FaqEntry) -> None:
    if entry.status != "pending":
        raise InvalidTransition("该条目不在待审核状态")


def approve(
    actor: Actor,
    entry: FaqEntry,
    *,
    question: str | None = None,
    answer: str | None = None,
    visibility: str = "internal",
    topic: str | None = None,
    review_by: date | None = None,
) -> FaqEntry:
    """Approve a pending suggestion (optionally edited); returns the entry that is live.

    A suggestion to update an existing entry writes its text onto that entry as a new
    version and is itself closed as merged (状态“已并入”).
    """
    _require_pending(entry)
    if visibility not in ("internal", "public"):
        raise ValidationFailed("请选择公开范围（内部或公开）")
    q, a = _clean_text(
        entry.question if question is None else question,
        entry.answer if answer is None else answer,
    )
    now = utcnow()
    review_by = review_by or today() + timedelta(days=int(_cfg("FAQ_REVIEW_DAYS")))
    target = entry
    if entry.updates_id is not None:
        target = db.session.get(FaqEntry, entry.updates_id)  # type: ignore[assignment]
        if target is None or target.status != "approved":
            raise InvalidTransition("要更新的条目已不存在或已停用")
        target.version += 1
        for source in entry.sources:
            if not any(s.case_id == source.case_id for s in target.sources):
                db.session.add(
                    FaqSource(entry_id=target.id, case_id=source.case_id, reply_id=source.reply_id)
                )
        entry.status = "merged"
        _snapshot(entry, "merged", actor)
    target.question, target.answer = q, a
    target.visibility = visibility
    if topic is not None:
        target.topic = topic.strip()[:60] or None
    target.status = "approved"
    target.approved_by_id = actor.user_id
    target.approved_at = now
    target.valid_from = target.valid_from or today()
    target.review_by = review_by
    target.review_reminded_at = None
    _snapshot(target, "approved" if target is entry else "updated", actor)
    audit.record(actor, "faq.approve", OBJECT, target.id, suggestion_id=entry.id)
    return target


def reject(actor: Actor, entry: FaqEntry, reason: str = "") -> None:
    """Reject a pending suggestion; it stays in the history, never visible."""
    _require_pending(entry)
    entry.status = "rejected"
    _snapshot(entry, "rejected", actor)
    audit.record(actor, "faq.reject", OBJECT, entry.id, reason=reason.strip()[:200])


def reconfirm(actor: Actor, entry: FaqEntry) -> None:
    """The unit confirms an approved entry is still right: review-by moves on."""
    if entry.status != "approved":
        raise InvalidTransition("只能复核已通过的条目")
    entry.review_by = today() + timedelta(days=int(_cfg("FAQ_REVIEW_DAYS")))
    entry.review_reminded_at = None
    _snapshot(entry, "reconfirmed", actor)
    audit.record(actor, "faq.reconfirm", OBJECT, entry.id, review_by=entry.review_by.isoformat())


def retire(actor: Actor, entry: FaqEntry) -> None:
    """Take an approved entry out of use (no longer searched or shown)."""
    if entry.status != "approved":
        raise InvalidTransition("只能停用已通过的条目")
    entry.status = "retired"
    _snapshot(entry, "retired", actor)
    audit.record(actor, "faq.retire", OBJECT, entry.id)


def edit(
    actor: Actor,
    entry: FaqEntry,
    *,
    question: str,
    answer: str,
    topic: str | None,
    unit_id: int | None,
    visibility: str,
    review_by: date | None,
    allowed_units: set[int] | None = None,
) -> list[str]:
    """Edit an approved entry in place (a new version); returns the changed field names.

    ``review_by`` is the end of validity (有效期至): the public page stops showing the entry
    after it and its unit is asked to re-confirm; empty means FAQ_REVIEW_DAYS from today.
    ``allowed_units`` (None: any) limits the unit an editor may move the entry to. The
    audit event names the changed fields only (the text is in the version row). Nothing
    changed: no version, no audit event.
    """
    if entry.status != "approved":
        raise InvalidTransition("只能编辑已通过的条目")
    if visibility not in ("internal", "public"):
        raise ValidationFailed("请选择公开范围（内部或公开）")
    q, a = _clean_text(question, answer)
    topic = (topic or "").strip()[:60] or None
    if unit_id is not None and db.session.get(Unit, unit_id) is None:
        raise ValidationFailed("所选单位不存在")
    if allowed_units is not None and unit_id not in allowed_units:
        raise ValidationFailed("只能把条目归到本人所在的单位")
    review_by = review_by or today() + timedelta(days=int(_cfg("FAQ_REVIEW_DAYS")))
    if entry.valid_from is not None and review_by < entry.valid_from:
        raise ValidationFailed("有效期至不能早于有效期起")
    new = {
        "question": q,
        "answer": a,
        "topic": topic,
        "unit_id": unit_id,
        "visibility": visibility,
        "review_by": review_by,
    }
    changed = [name for name, value in new.items() if getattr(entry, name) != value]
    if not changed:
        return []
    for name in changed:
        setattr(entry, name, new[name])
    if "review_by" in changed:
        entry.review_reminded_at = None
    entry.version += 1
    _snapshot(entry, "edited", actor)
    audit.record(actor, "faq.edit", OBJECT, entry.id, fields=changed, version=entry.version)
    return changed


def use_answer(actor: Actor, entry: FaqEntry, case: Case) -> Reply:
    """Put an approved entry's answer into the case's draft and count the use.

    The draft is saved through ``triage.save_draft`` (same state and unit checks); an
    existing draft keeps its text and gets the answer appended, never overwritten.
    """
    from sentinel.services import triage

    if entry.status != "approved":
        raise InvalidTransition("该条目未通过审核，不能使用")
    draft = next(
        (r for r in reversed(case.replies) if r.kind == "answer" and r.status == "draft"), None
    )
    body = (
        entry.answer
        if draft is None or not draft.body.strip()
        else (draft.body.rstrip() + "\n\n" + entry.answer)
    )
    reply = triage.save_draft(actor, case, body)
    entry.use_count += 1
    db.session.add(FaqUse(entry_id=entry.id, case_id=case.id, user_id=actor.user_id))
    audit.record(actor, "faq.use", OBJECT, entry.id, case_id=case.id)
    db.session.flush()
    return reply


# ----------------------------------------------------------------- lists


def pending(unit_ids: set[int] | None) -> list[FaqEntry]:
    """Pending suggestions for the given units (None: all), oldest first."""
    stmt = select(FaqEntry).where(FaqEntry.status == "pending").order_by(FaqEntry.id)
    if unit_ids is not None:
        stmt = stmt.where(FaqEntry.unit_id.in_(unit_ids or {-1}))
    return list(db.session.scalars(stmt.limit(500)))


def due_for_review(unit_ids: set[int] | None, day: date | None = None) -> list[FaqEntry]:
    """Approved entries past their review-by date, for their unit to re-confirm."""
    day = day or today()
    stmt = (
        select(FaqEntry)
        .where(FaqEntry.status == "approved", FaqEntry.review_by < day)
        .order_by(FaqEntry.review_by, FaqEntry.id)
    )
    if unit_ids is not None:
        stmt = stmt.where(FaqEntry.unit_id.in_(unit_ids or {-1}))
    return list(db.session.scalars(stmt.limit(500)))


def entry_in_units(entry: FaqEntry, unit_ids: set[int] | None) -> bool:
    """True when the entry's unit is in ``unit_ids`` (None: every unit)."""
    return unit_ids is None or entry.unit_id in unit_ids


def get_entry(entry_id: int) -> FaqEntry:
    entry = db.session.get(FaqEntry, entry_id)
    if entry is None:
        raise NotFound("条目不存在")
    return entry


# ----------------------------------------------------------------- review reminders


def remind_due_reviews(now: datetime, smtp: bool) -> dict[str, int]:
    """Remind units of entries past review-by (once per ``FAQ_REMIND_EVERY_DAYS``).

    E-mails the unit's active users who may approve FAQ entries (when SMTP is set up);
    the in-app list is the "待复核" page. Returns counts; the caller commits.
    """
    from sentinel.auth.permissions import CAPABILITIES

    every = timedelta(days=int(_cfg("FAQ_REMIND_EVERY_DAYS")))
    due = [
        e
        for e in due_for_review(None, local_date(now))
        if e.review_reminded_at is None or e.review_reminded_at <= now - every
    ]
    by_unit: dict[int | None, list[FaqEntry]] = {}
    for entry in due:
        by_unit.setdefault(entry.unit_id, []).append(entry)
    emailed = 0
    roles = CAPABILITIES["faq.approve"]
    for unit_id, entries in by_unit.items():
        recipients: list[str] = []
        if smtp and unit_id is not None:
            from sentinel.models.user import user_units

            members = db.session.scalars(
                select(User).join(user_units).where(user_units.c.unit_id == unit_id)
            )
            recipients = sorted(
                {u.email for u in members if u.email and u.is_active and u.role in roles}
            )
        if recipients:
            lines = [f"- {e.question[:60]}（复核期限 {e.review_by}）" for e in entries]
            mailer.send_email(
                recipients,
                f"咨询问答库：{len(entries)} 条问答已过复核期限",
                "以下问答已过复核期限，请登录系统确认或修改：\n" + "\n".join(lines),
            )
            emailed += len(recipients)
        for entry in entries:
            entry.review_reminded_at = now
            audit.record(Actor.system("faq-review"), "faq.review_reminder", OBJECT, entry.id)
    db.session.flush()
    return {"due": len(due), "emailed": emailed}


# ----------------------------------------------------------------- import / export

IMPORT_COLUMNS = {
    "编号": "ref",
    "问题": "question",
    "答案": "answer",
    "主题": "topic",
    "单位": "unit",
}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def _cell(value: Any) -> str:
    """A cell as text; a spreadsheet's whole number (编号 2549.0) reads as 2549."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value if value is not None else "").strip()


def import_table(actor: Actor, data: bytes, filename: str) -> ImportResult:
    """Import a CSV/XLSX Q&A list (编号, 问题, 答案, optional 主题, 单位).

    Rows become approved internal entries with 编号 as external reference; a 编号 seen
    before updates its entry (a new version) instead of adding a duplicate. Rows with a
    missing field are reported and skipped; the caller commits.
    """
    table = read_table(data, filename)
    header = set(table.columns)
    missing = [c for c in ("编号", "问题", "答案") if c not in header]
    if missing:
        raise ValidationFailed("缺少列：" + "、".join(missing))
    units = {u.name: u.id for u in db.session.scalars(select(Unit))}
    existing = {
        e.external_ref: e
        for e in db.session.scalars(select(FaqEntry).where(FaqEntry.external_ref.is_not(None)))
    }
    result = ImportResult()
    review_by = today() + timedelta(days=int(_cfg("FAQ_REVIEW_DAYS")))
    seen: set[str] = set()
    for n, row in enumerate(iter_dicts(table), start=2):
        values = {k: _cell(row.get(c)) for c, k in IMPORT_COLUMNS.items()}
        ref = values["ref"]
        if not ref or not values["question"] or not values["answer"]:
            result.errors.append(f"第 {n} 行：编号、问题、答案不能为空")
            continue
        if ref in seen:
            result.errors.append(f"第 {n} 行：编号 {ref} 在文件中重复")
            continue
        seen.add(ref)
        try:
            question, answer = _clean_text(values["question"], values["answer"])
        except ValidationFailed as exc:
            result.errors.append(f"第 {n} 行：{exc}")
            continue
        unit_id = units.get(values["unit"]) if values["unit"] else None
        if values["unit"] and unit_id is None:
            result.errors.append(f"第 {n} 行：单位“{values['unit']}”不存在，已导入但未设单位")
        topic = values["topic"][:60] or None
        entry = existing.get(ref)
        if entry is None:
            entry = FaqEntry(
                question=question,
                answer=answer,
                topic=topic,
                unit_id=unit_id,
                visibility="internal",
                status="approved",
                valid_from=today(),
                review_by=review_by,
                external_ref=ref[:64],
                created_by_id=actor.user_id,
                approved_by_id=actor.user_id,
                approved_at=utcnow(),
            )
            db.session.add(entry)
            existing[ref] = entry
            _snapshot(entry, "imported", actor)
            result.created += 1
            continue
        if (entry.question, entry.answer, entry.topic, entry.unit_id, entry.status) == (
            question,
            answer,
            topic or entry.topic,
            unit_id or entry.unit_id,
            "approved",
        ):
            result.unchanged += 1
            continue
        entry.question, entry.answer = question, answer
        entry.topic = topic or entry.topic
        entry.unit_id = unit_id or entry.unit_id
        entry.status = "approved"
        entry.version += 1
        _snapshot(entry, "reimported", actor)
        result.updated += 1
    audit.record(
        actor,
        "faq.import",
        OBJECT,
        None,
        created=result.created,
        updated=result.updated,
        errors=len(result.errors),
    )
    return result


EXPORT_HEADER = [
    "编号",
    "问题",
    "答案",
    "主题",
    "单位",
    "公开范围",
    "状态",
    "有效期起",
    "复核期限",
    "使用次数",
]


def export_rows(unit_ids: set[int] | None) -> list[list[Any]]:
    """Approved entries as rows under ``EXPORT_HEADER`` (编号 = external ref or F<id>)."""
    stmt = select(FaqEntry).where(FaqEntry.status == "approved").order_by(FaqEntry.id)
    if unit_ids is not None:
        stmt = stmt.where(FaqEntry.unit_id.in_(unit_ids or {-1}))
    names = {u.id: u.name for u in db.session.scalars(select(Unit))}
    return [
        [
            e.external_ref or f"F{e.id}",
            e.question,
            e.answer,
            e.topic or "",
            names.get(e.unit_id, "") if e.unit_id else "",
            FAQ_VISIBILITIES.get(e.visibility, e.visibility),
            e.status_label,
            e.valid_from.isoformat() if e.valid_from else "",
            e.review_by.isoformat() if e.review_by else "",
            e.use_count,
        ]
        for e in db.session.scalars(stmt)
    ]


def export_bytes(rows: list[list[Any]], fmt: str) -> bytes:
    """CSV (UTF-8 with BOM, so spreadsheet programs read Chinese) or XLSX bytes."""
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("问答库")
        ws.append(EXPORT_HEADER)
        for row in rows:
            ws.append(row)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(EXPORT_HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def entry_key(entry_id: int) -> str:
    """What ``sentinel faq search`` prints for an entry: its 编号, else its id."""
    ref = db.session.scalar(select(FaqEntry.external_ref).where(FaqEntry.id == entry_id))
    return ref or str(entry_id)


__all__ = [
    "ImportResult",
    "User",
    "approve",
    "condense_question",
    "due_for_review",
    "edit",
    "export_bytes",
    "export_rows",
    "find_close_match",
    "import_table",
    "pending",
    "reconfirm",
    "reject",
    "remind_due_reviews",
    "retire",
    "search",
    "search_ids",
    "suggest_from_answer",
    "suggestions_for_case",
    "use_answer",
]
