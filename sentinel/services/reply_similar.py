"""Similar past published answers, shown while drafting (issue 13).

Character n-gram TF-IDF (1–3 characters: Chinese needs no word segmentation for this)
over the published answers the user may see, cosine similarity to the draft. Fitted per
request over at most ``SIMILAR_MAX_CORPUS`` recent answers: cheap at office scale and
never stale.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from sentinel.auth.permissions import case_scope
from sentinel.extensions import db
from sentinel.models import Case, Reply, User

SIMILAR_MAX_CORPUS = 3000


@dataclass(frozen=True)
class Similar:
    reply: Reply
    score: float


def similar_published(
    user: User, text: str, *, exclude_case_id: int | None = None, limit: int | None = None
) -> list[Similar]:
    """Published answers in ``user``'s scope most similar to ``text``, best first."""
    text = (text or "").strip()
    if not text:
        return []
    stmt = (
        select(Reply)
        .join(Case, Case.id == Reply.case_id)
        .where(Reply.status == "final", Reply.kind == "answer", case_scope(user))
        .order_by(Reply.published_at.desc().nulls_last(), Reply.id.desc())
        .limit(SIMILAR_MAX_CORPUS)
    )
    if exclude_case_id is not None:
        stmt = stmt.where(Reply.case_id != exclude_case_id)
    corpus = db.session.scalars(stmt).all()
    if not corpus:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    matrix = vectorizer.fit_transform([r.body for r in corpus])
    query = vectorizer.transform([text])
    scores = (matrix @ query.T).toarray().ravel()
    floor = float(current_app.config["SIMILAR_ANSWERS_MIN_SCORE"])
    count = limit or int(current_app.config["SIMILAR_ANSWERS_COUNT"])
    order = scores.argsort()[::-1][:count]
    return [Similar(corpus[i], float(scores[i])) for i in order if scores[i] >= floor]
