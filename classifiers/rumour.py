"""Rumour model helpers: near-duplicate groups, grouped folds, reactions, and signals.

CED holds many re-posts of the same rumour with a few characters changed, and its
non-rumours are ordinary posts while CHECKED's real posts come from official accounts; a
random split puts copies of one rumour on both sides and a model can score well by telling
the sources apart. Folds here are grouped by near-duplicate clusters (character 3-gram
MinHash, estimated Jaccard >= :data:`GROUP_THRESHOLD`, transitive) and stratified by source
and label, so each source is measured on its own.

Reactions (the first comments / reposts of a post) arrive in an item's metadata
(``Item.extra["reactions"]``: a list of strings or ``{"text": ...}`` dicts, and optionally
``reactions_total``); readers' doubt ("谣言", "假的", "辟谣") is the strongest signal when
a channel provides them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.text import normalise

__all__ = [
    "GROUP_THRESHOLD",
    "REACTIONS_FILE",
    "grouped_folds",
    "load_reactions",
    "near_duplicate_groups",
    "reaction_stats",
    "reaction_text",
]

#: Estimated Jaccard of character 3-grams from which two posts are one group.
GROUP_THRESHOLD = 0.5
REACTIONS_FILE = "reactions_first50.jsonl"
#: Words in reactions that express doubt about a post (counted as a signal).
DOUBT_WORDS = (
    "谣言",
    "辟谣",
    "假的",
    "假消息",
    "不实",
    "造谣",
    "传谣",
    "真的吗",
    "真的假的",
    "求证",
)
MAX_REACTIONS = 50


def near_duplicate_groups(texts: Sequence[str], threshold: float = GROUP_THRESHOLD) -> np.ndarray:
    """A group id per text: texts linked by estimated 3-gram Jaccard >= ``threshold``
    (through LSH candidates, then the signatures' own estimate) share a group."""
    from classifiers.neardup import MinHasher, band_keys, lsh_bands, similarity

    n = len(texts)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    hasher = MinHasher()
    sig = hasher.signatures([normalise(t) for t in texts])
    bands, rows = lsh_bands(threshold)
    keys = band_keys(sig, bands, rows)
    for b in range(bands):
        buckets: dict[int, list[int]] = {}
        for i, k in enumerate(keys[:, b].tolist()):
            buckets.setdefault(k, []).append(i)
        for members in buckets.values():
            if len(members) < 2:
                continue
            first = members[0]
            for j in members[1:]:
                a, c = find(first), find(j)
                if a != c and similarity(sig[first], sig[j]) >= threshold:
                    parent[c] = a
    return np.array([find(i) for i in range(n)])


def grouped_folds(
    groups: Sequence[int], strata: Sequence[str], k: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, test) index pairs: no group on both sides, strata balanced."""
    from sklearn.model_selection import StratifiedGroupKFold

    idx = np.arange(len(groups))
    splitter = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
    return list(splitter.split(idx, list(strata), list(groups)))


def load_reactions(data_dir: Path | str) -> dict[str, dict[str, Any]]:
    """``rumours/reactions_first50.jsonl`` as ``{post id: {"reactions": [...], "total": n}}``
    ({} when the file is absent)."""
    path = Path(data_dir) / "rumours" / REACTIONS_FILE
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            texts = [str(r.get("text") or "") for r in row.get("reactions") or []]
            out[str(row["id"])] = {"reactions": texts, "total": row.get("n_total")}
    return out


def _reaction_list(extra: Mapping[str, Any] | None) -> list[str] | None:
    if not extra:
        return None
    raw = extra.get("reactions")
    if not isinstance(raw, list):
        return None
    out = []
    for r in raw[:MAX_REACTIONS]:
        text = r.get("text") if isinstance(r, Mapping) else r
        if text:
            out.append(str(text))
    return out


def reaction_text(extra: Mapping[str, Any] | None) -> str | None:
    """The reactions joined into one text (``None`` when the channel gave none)."""
    texts = _reaction_list(extra)
    if texts is None:
        return None
    return "\n".join(texts)


def reaction_stats(extra: Mapping[str, Any] | None) -> list[float] | None:
    """[log1p(total reactions), share of reactions with a doubt word, log1p(doubt count)]."""
    texts = _reaction_list(extra)
    if texts is None:
        return None
    total = extra.get("reactions_total") if extra else None
    try:
        n_total = float(total) if total not in (None, "") else float(len(texts))
    except (TypeError, ValueError):
        n_total = float(len(texts))
    doubt = sum(any(w in t for w in DOUBT_WORDS) for t in texts)
    share = doubt / len(texts) if texts else 0.0
    return [math.log1p(max(n_total, 0.0)), share, math.log1p(doubt)]


def doubt_words_in(extra: Mapping[str, Any] | None) -> list[str]:
    """The doubt words that occur in the reactions (for the case page)."""
    texts = _reaction_list(extra) or []
    joined = "\n".join(texts)
    return [w for w in DOUBT_WORDS if w in joined]


def with_reactions(
    engagement: Iterable[Mapping[str, Any] | None], reactions: Sequence[Mapping[str, Any] | None]
) -> list[dict[str, Any]]:
    """Engagement dicts with the reactions (``reactions`` / ``reactions_total``) merged in."""
    out = []
    for e, r in zip(engagement, reactions, strict=True):
        d = dict(e or {})
        if r:
            d["reactions"] = list(r.get("reactions") or [])
            d["reactions_total"] = r.get("total")
        out.append(d)
    return out


#: Names of the dense columns of the reactions model (engagement, then reactions).
DENSE_NAMES = (
    "转发数",
    "评论数",
    "点赞数",
    "认证用户",
    "粉丝数",
    "有粉丝数",
    "互动总数",
    "质疑评论比例",
    "质疑评论数",
)
#: Dense columns are divided by these so that one L2 penalty suits them and the TF-IDF.
_DENSE_SCALE = np.array([10.0, 10.0, 10.0, 1.0, 15.0, 1.0, 10.0, 1.0, 4.0])
#: Regularisation of the text model and the reactions model (grouped 5-fold CV, see
#: bench/rumour_cv.py).
TEXT_C = 10.0
REACTION_C = 10.0


def dense_vector(extra: Mapping[str, Any] | None) -> np.ndarray:
    """Engagement and reaction statistics of one post (zeros where a field is missing)."""
    from classifiers.pipeline import engagement_vector

    eng = engagement_vector(extra) or [0.0] * 6
    reac = reaction_stats(extra) or [0.0] * 3
    return np.asarray([*eng, *reac], dtype=np.float64) / _DENSE_SCALE


class ReactionHead:
    """Logistic regression over [post TF-IDF | reactions TF-IDF | engagement and reaction
    statistics], used for posts whose channel gave reactions; the text model is used for
    the rest. Numpy only at run time (a :class:`classifiers.heads.LinearModel`)."""

    def __init__(self, text_idf: np.ndarray, reaction_idf: np.ndarray, model: Any) -> None:
        self.text_idf = text_idf
        self.reaction_idf = reaction_idf
        self.model = model

    def matrix(self, tf_text: Any, tf_reactions: Any, dense: np.ndarray) -> Any:
        """The feature matrix for sublinear tf rows of posts and of their reactions."""
        import scipy.sparse as sp

        from classifiers.heads import LinearHead

        return sp.hstack(
            [
                LinearHead.weigh(tf_text, self.text_idf),
                LinearHead.weigh(tf_reactions, self.reaction_idf),
                sp.csr_matrix(dense),
            ]
        ).tocsr()

    def signals(self, x: Any, featurizer: Any, top: int = 3) -> list[tuple[str, ...]]:
        """Per row, what raised the score: the reactions' and the dense features' positive
        contributions, and the post's strongest terms (Chinese, for the case page)."""
        coef = self.model.coef[0]
        n_text = len(self.text_idf)
        n_reac = len(self.reaction_idf)
        out: list[tuple[str, ...]] = []
        for i in range(x.shape[0]):
            row = x.getrow(i)
            contrib = row.data * coef[row.indices]
            cols = row.indices
            found: list[tuple[float, str]] = []
            text_mask = cols < n_text
            reac_mask = (cols >= n_text) & (cols < n_text + n_reac)
            text_sum = float(contrib[text_mask].sum())
            reac_sum = float(contrib[reac_mask].sum())
            if text_sum > 0.5:
                terms = _top_terms(cols[text_mask], contrib[text_mask], featurizer, 0, top)
                found.append((text_sum, "正文用语：" + "、".join(terms) if terms else "正文用语"))
            if reac_sum > 0.5:
                terms = _top_terms(cols[reac_mask], contrib[reac_mask], featurizer, n_text, top)
                label = "评论/转发内容：" + "、".join(terms) if terms else "评论/转发内容"
                found.append((reac_sum, label))
            for j, c in zip(
                cols[cols >= n_text + n_reac], contrib[cols >= n_text + n_reac], strict=True
            ):
                if c > 0.5:
                    found.append((float(c), DENSE_NAMES[j - n_text - n_reac]))
            found.sort(key=lambda t: -t[0])
            out.append(tuple(label for _, label in found))
        return out


def _top_terms(
    cols: np.ndarray, contrib: np.ndarray, featurizer: Any, offset: int, k: int
) -> list[str]:
    chosen: list[str] = []
    for j in np.argsort(-contrib):
        if contrib[j] <= 0:
            break
        term = featurizer.term(int(cols[j]) - offset)
        if len(term) < 2 or not term.isalnum() or any(term in t or t in term for t in chosen):
            continue
        chosen.append(term)
        if len(chosen) >= k:
            break
    return chosen


def fit_text_head(tf: Any, y: Sequence[int], c: float = TEXT_C) -> Any:
    """The text-only rumour model (a LinearHead over the shared n-gram features)."""
    from sklearn.linear_model import LogisticRegression

    from classifiers.heads import LinearHead, export_linear

    idf = LinearHead.fit_idf(tf)
    lr = LogisticRegression(C=c, solver="liblinear").fit(LinearHead.weigh(tf, idf), list(y))
    return LinearHead(idf, export_linear(lr))


def fit_reaction_head(
    text_idf: np.ndarray,
    tf_text: Any,
    tf_reactions: Any,
    dense: np.ndarray,
    y: Sequence[int],
    c: float = REACTION_C,
) -> ReactionHead:
    """Fit :class:`ReactionHead` on posts that have reactions."""
    from sklearn.linear_model import LogisticRegression

    from classifiers.heads import LinearHead, export_linear

    head = ReactionHead(text_idf, LinearHead.fit_idf(tf_reactions), None)
    x = head.matrix(tf_text, tf_reactions, dense)
    lr = LogisticRegression(C=c, solver="liblinear").fit(x, list(y))
    head.model = export_linear(lr)
    return head
