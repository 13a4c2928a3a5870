"""Chinese retrieval for the FAQ knowledge base (咨询问答库): fielded BM25 over words and
character bigrams, fused with a character 2–3-gram TF-IDF cosine.

Pure library (no Flask, no database): :class:`FaqIndex` is built from ``(key, question,
answer)`` triples and answers :meth:`FaqIndex.search` with keys, best first.

Why this shape (figures: ``bench/faq_quality.py`` on the gov_replies held-out queries):

* Queries are a citizen's whole message; entries are a short question (留言主题 or a
  condensed question) and a long official answer that usually restates the question. The
  question is the sharper field, so it is weighted above the answer (BM25F-style sum of
  per-field BM25 scores).
* Terms are jieba words (search mode, so compounds also yield their parts) *and*
  character bigrams: words give precision on names of places and things, bigrams recall
  when segmentation splits a name differently in the query and the entry.
* Every field is a sparse matrix of saturated, idf-weighted term weights, so one query is
  one sparse matrix–vector product per field: tens of milliseconds at 50,000 entries.
* The BM25 top 100 are re-ranked with a character 2–3-gram TF-IDF cosine (the
  baseline's signal) added with a small weight; the two signals err on different entries,
  and computing the cosine for the candidates only keeps it cheap at 50,000 entries.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from classifiers.text import jieba_module

_ws = re.compile(r"\s+")
# Salutations, closings and boilerplate that every message and answer shares: they carry
# no information about which entry is meant.
_NOISE = re.compile(
    r"(尊敬的[^，,。！!]{0,12}[，,：:！!]?|您好[，,！!。]?|你好[，,！!。]?|谢谢[！!。]?|"
    r"感谢[^。！!]{0,20}[。！!]|请问[，,]?|领导[，,：:]?|网友[“\"][^”\"]{0,20}[”\"][：:]?)"
)
_PUNCT = re.compile(r"[^\w\u4e00-\u9fff]+")
_DIGITS = re.compile(r"\d+")

# Function words and high-frequency words of government messages (too common to rank).
_STOPWORDS_TEXT = (
    "的 了 是 在 和 与 及 或 也 都 就 而 并 对 把 被 让 给 从 向 到 于 为 以 等 等等 这 那 这个 "
    "那个 这些 那些 我 我们 你 你们 他 她 它 他们 有 没有 无 不 没 很 还 又 再 吗 呢 吧 啊 呀 "
    "么 什么 怎么 如何 为什么 哪里 多少 能 能否 可以 可否 是否 会 要 想 请 请问 希望 问题 "
    "情况 现在 目前 已经 一直 一个 一些 进行 相关 有关 关于 其 之 中 上 下 里 个 年 月 日 号 "
    "您好 你好 谢谢 感谢 尊敬 领导 您 反映 留言 回复 答复 如下 网友"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split(" "))


def clean(text: str) -> str:
    """Collapse whitespace and drop salutations and boilerplate."""
    text = _ws.sub(" ", text or "").strip()
    return _NOISE.sub(" ", text)


def words(text: str) -> list[str]:
    """jieba search-mode words without stopwords, punctuation or bare numbers."""
    jieba = jieba_module()
    out = []
    for w in jieba.cut_for_search(text):  # type: ignore[attr-defined]
        w = w.strip().lower()
        if not w or w in STOPWORDS or _PUNCT.fullmatch(w) or _DIGITS.fullmatch(w):
            continue
        if len(w) == 1 and not ("\u4e00" <= w <= "\u9fff"):
            continue
        out.append(w)
    return out


def bigrams(text: str) -> list[str]:
    """Character bigrams inside runs of CJK/letters/digits (never across punctuation)."""
    out: list[str] = []
    for run in _PUNCT.split(text.lower()):
        out.extend("#" + run[i : i + 2] for i in range(len(run) - 1))
    return out


def terms(text: str) -> list[str]:
    """The BM25 terms of a text: words plus character bigrams (bigrams marked with '#')."""
    text = clean(text)
    return words(text) + bigrams(text)


def char_ngrams(text: str, lo: int = 2, hi: int = 3) -> list[str]:
    """Character n-grams (lo..hi) of the cleaned text, whitespace removed."""
    text = _ws.sub("", clean(text).lower())
    return [text[i : i + n] for n in range(lo, hi + 1) for i in range(len(text) - n + 1)]


@dataclass(frozen=True)
class SearchSettings:
    """Tuned on the development half of the gov_replies queries (bench/faq_quality.py)."""

    k1: float = 1.2
    b: float = 0.75
    question_weight: float = 3.0
    answer_weight: float = 1.0
    # Only the start of a long answer is indexed: it restates the question; the rest is
    # procedure text shared by many answers (and costs memory and time at 50,000 entries).
    answer_chars: int = 400
    query_chars: int = 1500
    tfidf_weight: float = 0.3
    # How many BM25 candidates the TF-IDF cosine re-ranks.
    rerank: int = 100
    # The TF-IDF signal reads the question and the answer's opening only (its cost grows
    # with every character; the opening restates the question).
    tfidf_answer_chars: int = 150
    # Query terms found in more than this share of entries (and in more than
    # ``max_df_floor`` entries, so small knowledge bases lose nothing) are skipped: their
    # BM25 weight is near zero and their postings are the longest (most of a query's cost).
    max_df: float = 0.2
    max_df_floor: int = 500


def analyse(question: str, answer: str, settings: SearchSettings | None = None) -> str:
    """An entry's BM25 terms, serialised: question terms, a tab, answer terms.

    Stored beside the entry when it is written, so building the index never segments
    text again (jieba is most of the cost of indexing).
    """
    settings = settings or SearchSettings()
    q = " ".join(terms(question))
    a = " ".join(terms(clean(answer)[: settings.answer_chars]))
    return q + "\t" + a


@dataclass
class _Field:
    """One field's BM25 postings (terms × docs) with the statistics they were weighted by."""

    vocab: dict[str, int]
    df: np.ndarray
    idf: np.ndarray
    avgdl: float
    matrix: sparse.csr_matrix  # terms × docs: one row gathered per query term
    # Terms first seen in entries changed after the build, numbered after ``vocab``.
    # Only ever grows (shared by every index derived from this build), so an index made
    # earlier never finds a number beyond its own matrices' rows.
    extra: dict[str, int] = field(default_factory=dict)


def _bm25_field(docs: Sequence[list[str]], k1: float, b: float) -> _Field:
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    tfs: list[int] = []
    lengths = np.fromiter((len(d) for d in docs), dtype=np.float64, count=len(docs))
    avgdl = float(lengths.mean()) if len(docs) and lengths.sum() else 1.0
    for j, doc in enumerate(docs):
        counts = Counter(doc)
        ids = [vocab.setdefault(t, len(vocab)) for t in counts]
        rows.extend(ids)
        cols.extend([j] * len(ids))
        tfs.extend(counts.values())
    n = len(docs)
    r = np.array(rows, dtype=np.int64)
    c = np.array(cols, dtype=np.int64)
    tf = np.array(tfs, dtype=np.float32)
    df = np.bincount(r, minlength=len(vocab)) if len(r) else np.zeros(len(vocab), np.int64)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = (k1 * (1 - b + b * lengths / avgdl)).astype(np.float32)
    data = tf * (k1 + 1) / (tf + norm[c]) * idf[r] if len(r) else tf
    matrix = sparse.csr_matrix((data, (r, c)), shape=(len(vocab), n), dtype=np.float32)
    return _Field(vocab, df, idf, avgdl, matrix)


def _doc_weights(
    field_: _Field, doc: list[str], n: int, k1: float, b: float
) -> tuple[np.ndarray, np.ndarray]:
    """BM25 weights (term numbers, weights) of one entry added after ``field_`` was built,
    with the build's (frozen) statistics: its idf and average length; a term the build
    never saw counts as occurring in this one entry."""
    counts = Counter(doc)
    norm = k1 * (1 - b + b * len(doc) / (field_.avgdl or 1.0))
    new_idf = math.log(1 + (n + 0.5) / 1.5)
    ids: list[int] = []
    weights: list[float] = []
    base = len(field_.vocab)
    for t, tf in counts.items():
        i = field_.vocab.get(t)
        if i is None:
            i = field_.extra.setdefault(t, base + len(field_.extra))
            idf = new_idf
        else:
            idf = float(field_.idf[i])
        ids.append(i)
        weights.append(tf * (k1 + 1) / (tf + norm) * idf)
    return np.array(ids, dtype=np.int64), np.array(weights, dtype=np.float32)


@dataclass
class _Segment:
    """Entries added or changed since the build, weighted with the build's statistics:
    one small terms × docs matrix per field, stacked from the entries' stored weights."""

    q_matrix: sparse.csr_matrix
    a_matrix: sparse.csr_matrix
    tfidf: sparse.csr_matrix | None  # docs × grams


@dataclass(frozen=True)
class _DocVec:
    """One changed entry, weighted with the build's statistics."""

    q_ids: np.ndarray
    q_weights: np.ndarray
    a_ids: np.ndarray
    a_weights: np.ndarray
    tfidf: tuple[np.ndarray, np.ndarray] | None  # (gram columns, values)


def _stack_columns(columns: list[tuple[np.ndarray, np.ndarray]], n_rows: int) -> sparse.csr_matrix:
    """A terms × docs matrix from each doc's (term numbers, weights)."""
    if not columns:
        return sparse.csr_matrix((n_rows, 0), dtype=np.float32)
    rows = np.concatenate([c[0] for c in columns])
    data = np.concatenate([c[1] for c in columns])
    cols = np.repeat(np.arange(len(columns)), [len(c[0]) for c in columns])
    return sparse.csr_matrix((data, (rows, cols)), shape=(n_rows, len(columns)), dtype=np.float32)


def _stack_rows(rows: list[tuple[np.ndarray, np.ndarray]], n_cols: int) -> sparse.csr_matrix:
    """A docs × grams matrix from each doc's (gram columns, values)."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r[0]) for r in rows])
    indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
    data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), n_cols))


def _field_rows(
    field_: _Field, query: dict[str, float], max_df: int, extra: bool
) -> list[tuple[int, float]]:
    """(matrix row, query weight) of the query's terms in a field; terms in more than
    ``max_df`` built entries are skipped; ``extra``: also terms first seen after the build."""
    out: list[tuple[int, float]] = []
    for t, qw in query.items():
        i = field_.vocab.get(t)
        if i is not None:
            if field_.df[i] <= max_df:
                out.append((i, qw))
        elif extra:
            j = field_.extra.get(t)
            if j is not None:
                out.append((j, qw))
    return out


def _gather(parts: list[tuple[sparse.csr_matrix, list[tuple[int, float]], float]]) -> np.ndarray:
    """Σ field weight × query weight × posting weight per doc, over ``(matrix, rows,
    field weight)`` parts with the same docs: the query terms' rows gathered (C code) and
    multiplied by their weights. (Measured: 3× faster than summing the concatenated
    posting lists with ``np.bincount``, whose per-term Python loop dominates.)"""
    n = parts[0][0].shape[1]
    out = np.zeros(n, dtype=np.float32)
    for matrix, rows, weight in parts:
        n_rows = matrix.shape[0]
        kept = [(i, qw) for i, qw in rows if i < n_rows]
        if not kept or not n:
            continue
        idx = np.fromiter((i for i, _ in kept), np.int64, len(kept))
        qtf = np.fromiter((qw * weight for _, qw in kept), np.float32, len(kept))
        out += np.asarray(matrix[idx].T @ qtf).ravel()
    return out


def _query_tf(query_terms: list[str]) -> dict[str, float]:
    # Query term frequency saturates quickly: a word repeated in a rant is not 5× the evidence.
    return {t: 1 + math.log(c) for t, c in Counter(query_terms).items()}


@dataclass
class FaqIndex:
    """An in-memory index over FAQ entries: built once over all entries, then changed one
    entry at a time with :meth:`with_changes` (milliseconds), searched many times.

    An index is never modified in place: :meth:`with_changes` returns a new index that
    shares the built part, so a search running in another thread keeps a consistent view.
    Rows are the built entries followed by the changed ones (``keys``); ``alive`` is False
    for a built row that was changed or removed since.
    """

    keys: list[object]
    settings: SearchSettings = field(default_factory=SearchSettings)
    alive: np.ndarray | None = None
    n_built: int = 0
    _question: _Field | None = None
    _answer: _Field | None = None
    _tfidf: object | None = None
    _tfidf_docs: sparse.csr_matrix | None = None
    _built_pos: dict[object, int] = field(default_factory=dict)
    _changed: dict[object, _DocVec] = field(default_factory=dict)
    _segment: _Segment | None = None

    @classmethod
    def build(
        cls,
        entries: Iterable[tuple[object, str, str] | tuple[object, str, str, str | None]],
        settings: SearchSettings | None = None,
    ) -> FaqIndex:
        """Index ``(key, question, answer)`` or ``(key, question, answer, analysed)``
        tuples (``analysed`` from :func:`analyse`; computed here when missing)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        settings = settings or SearchSettings()
        keys: list[object] = []
        q_docs: list[list[str]] = []
        a_docs: list[list[str]] = []
        texts: list[str] = []
        for entry in entries:
            key, question, answer = entry[0], entry[1], entry[2]
            q_terms, a_terms = _split_analysed(entry, settings)
            keys.append(key)
            q_docs.append(q_terms)
            a_docs.append(a_terms)
            texts.append(_tfidf_text(question, answer, settings))
        index = cls(keys, settings, np.ones(len(keys), dtype=bool), len(keys))
        index._built_pos = {k: i for i, k in enumerate(keys)}
        index._question = _bm25_field(q_docs, settings.k1, settings.b)
        index._answer = _bm25_field(a_docs, settings.k1, settings.b)
        if keys and settings.tfidf_weight:
            vec = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, dtype=np.float32)
            index._tfidf_docs = vec.fit_transform(texts).tocsr()  # docs × grams, L2-normalised
            index._tfidf = vec
        return index

    def with_changes(
        self,
        upserts: Iterable[tuple[object, str, str] | tuple[object, str, str, str | None]] = (),
        removed: Iterable[object] = (),
    ) -> FaqIndex:
        """A new index with entries added or replaced (``upserts``, same tuples as
        :meth:`build`) and entries taken out (``removed`` keys).

        Changed entries are weighted with the statistics of the build (idf, average
        length, the TF-IDF vocabulary and idf): exact for the terms the build saw, an
        estimate for new ones, until the next :meth:`build`. Cost: the changed entries
        only (no segmentation when ``analysed`` is given). Not for concurrent callers:
        the caller serialises changes (searches may run concurrently).
        """
        assert self._question is not None and self._answer is not None
        s = self.settings
        removed_keys = set(removed)
        changed = dict(self._changed)
        for key in removed_keys:
            changed.pop(key, None)
        for entry in upserts:
            key = entry[0]
            q_terms, a_terms = _split_analysed(entry, s)
            tfidf = None
            if self._tfidf is not None:
                tfidf = self._tfidf_row(_tfidf_text(entry[1], entry[2], s))
            changed.pop(key, None)  # re-inserted last: rows keep the order of change
            changed[key] = _DocVec(
                *_doc_weights(self._question, q_terms, self.n_built, s.k1, s.b),
                *_doc_weights(self._answer, a_terms, self.n_built, s.k1, s.b),
                tfidf,
            )
        alive = (
            self.alive[: self.n_built].copy()
            if self.alive is not None
            else np.ones(self.n_built, dtype=bool)
        )
        dead = [self._built_pos[k] for k in (*changed, *removed_keys) if k in self._built_pos]
        if dead:
            alive[np.array(dead, dtype=np.int64)] = False
        seg_keys = list(changed)
        docs = list(changed.values())
        qf, af = self._question, self._answer
        segment = _Segment(
            _stack_columns([(d.q_ids, d.q_weights) for d in docs], len(qf.vocab) + len(qf.extra)),
            _stack_columns([(d.a_ids, d.a_weights) for d in docs], len(af.vocab) + len(af.extra)),
            _stack_rows([d.tfidf for d in docs if d.tfidf is not None], self._n_grams())
            if self._tfidf is not None
            else None,
        )
        return FaqIndex(
            self.keys[: self.n_built] + seg_keys,
            s,
            np.concatenate([alive, np.ones(len(seg_keys), dtype=bool)]),
            self.n_built,
            qf,
            af,
            self._tfidf,
            self._tfidf_docs,
            self._built_pos,
            changed,
            segment,
        )

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def changed_count(self) -> int:
        """Entries changed since the build (weighted with the build's statistics)."""
        return len(self._changed)

    def _max_df_count(self) -> int:
        return max(self.settings.max_df_floor, int(self.settings.max_df * self.n_built))

    def _n_grams(self) -> int:
        return len(self._tfidf.vocabulary_)  # type: ignore[attr-defined]

    def _tfidf_row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """A text's TF-IDF row (gram columns sorted, values): sublinear tf × idf,
        L2-normalised, as the fitted vectorizer computes it, without its per-call cost."""
        vec = self._tfidf
        vocabulary: dict[str, int] = vec.vocabulary_  # type: ignore[attr-defined]
        idf: np.ndarray = vec.idf_  # type: ignore[attr-defined]
        cols: list[int] = []
        tfs: list[float] = []
        for gram, c in Counter(char_ngrams(text)).items():
            j = vocabulary.get(gram)
            if j is not None:
                cols.append(j)
                tfs.append(1 + math.log(c))
        col = np.array(cols, dtype=np.int64)
        order = np.argsort(col)
        col = col[order]
        val = (np.array(tfs, dtype=np.float64)[order] * idf[col]) if cols else np.zeros(0)
        norm = float(np.sqrt((val * val).sum())) if cols else 0.0
        if norm:
            val /= norm
        return col, val.astype(np.float32)

    def scores(self, query: str) -> np.ndarray:
        """One relevance score per row (same order as ``keys``; 0 for rows not alive)."""
        n = len(self.keys)
        if not n:
            return np.zeros(0, dtype=np.float32)
        s = self.settings
        query = query[: s.query_chars]
        qtf = _query_tf(terms(query))
        assert self._question is not None and self._answer is not None
        max_df = self._max_df_count()
        qf, af = self._question, self._answer
        seg = self._segment
        q_rows = _field_rows(qf, qtf, max_df, extra=seg is not None)
        a_rows = _field_rows(af, qtf, max_df, extra=seg is not None)
        qw, aw = s.question_weight, s.answer_weight
        # Rows past a field's built vocabulary are terms first seen after the build: only
        # the changed entries' segment has them (_gather skips them for the built part).
        bm25 = _gather([(qf.matrix, q_rows, qw), (af.matrix, a_rows, aw)])
        if seg is not None:
            more = _gather([(seg.q_matrix, q_rows, qw), (seg.a_matrix, a_rows, aw)])
            bm25 = np.concatenate([bm25, more])
        if self.alive is not None and not self.alive.all():
            bm25[~self.alive] = 0.0
        top = float(bm25.max())
        if top > 0:
            bm25 /= top
        if self._tfidf is not None and self._tfidf_docs is not None:
            # Re-rank the BM25 candidates with the TF-IDF cosine: computed for those rows
            # only, it costs the same at 50,000 entries as at 500.
            k = min(s.rerank, n)
            cands = np.argpartition(-bm25, k - 1)[:k]
            cands = cands[bm25[cands] > 0]
            if len(cands):
                col, val = self._tfidf_row(query)
                qvec = np.zeros(self._n_grams(), dtype=np.float32)
                qvec[col] = val
                cos = np.zeros(len(cands), dtype=np.float32)
                built = cands < self.n_built
                if built.any():
                    cos[built] = self._tfidf_docs[cands[built]] @ qvec
                if seg is not None and seg.tfidf is not None and (~built).any():
                    cos[~built] = seg.tfidf[cands[~built] - self.n_built] @ qvec
                cmax = float(cos.max()) if len(cos) else 0.0
                if cmax > 0:
                    bm25[cands] += s.tfidf_weight * cos / cmax
        return bm25

    def search(self, query: str, top: int = 10) -> list[tuple[object, float]]:
        """The ``top`` best ``(key, score)`` pairs, best first; entries scoring 0 are left out."""
        sc = self.scores(query)
        if not len(sc):
            return []
        top = min(top, len(sc))
        part = np.argpartition(-sc, top - 1)[:top]
        order = part[np.argsort(-sc[part], kind="stable")]
        return [(self.keys[i], float(sc[i])) for i in order if sc[i] > 0]


def _split_analysed(
    entry: tuple[object, str, str] | tuple[object, str, str, str | None], settings: SearchSettings
) -> tuple[list[str], list[str]]:
    analysed = entry[3] if len(entry) > 3 else None  # type: ignore[misc]
    if not analysed or "\t" not in analysed:
        analysed = analyse(entry[1], entry[2], settings)
    q_terms, a_terms = analysed.split("\t", 1)
    return q_terms.split(), a_terms.split()


def _tfidf_text(question: str, answer: str, settings: SearchSettings) -> str:
    return question + " " + clean(answer)[: settings.tfidf_answer_chars]


def similarity(a: str, b: str) -> float:
    """Character bigram Dice similarity of two short texts (0..1), for duplicate checks."""
    ga, gb = set(bigrams(clean(a))), set(bigrams(clean(b)))
    if not ga or not gb:
        return 0.0
    return 2 * len(ga & gb) / (len(ga) + len(gb))
