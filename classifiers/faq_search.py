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


def _jieba() -> object:
    import jieba

    if not getattr(jieba.dt, "initialized", False):
        import logging

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
    return jieba


def words(text: str) -> list[str]:
    """jieba search-mode words without stopwords, punctuation or bare numbers."""
    jieba = _jieba()
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
    vocab: dict[str, int]
    df: np.ndarray
    matrix: sparse.csr_matrix  # terms × docs: one row gathered per query term


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
    return _Field(vocab, df, matrix)


def _field_scores(field_: _Field, query_terms: list[str], n: int, max_df: int) -> np.ndarray:
    counts: dict[int, int] = {}
    for t in query_terms:
        i = field_.vocab.get(t)
        if i is not None and field_.df[i] <= max_df:
            counts[i] = counts.get(i, 0) + 1
    if not counts:
        return np.zeros(n, dtype=np.float32)
    idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    # Query term frequency saturates quickly: a word repeated in a rant is not 5× the evidence.
    qtf = np.fromiter((1 + math.log(c) for c in counts.values()), np.float32, len(counts))
    return np.asarray(field_.matrix[idx].T @ qtf).ravel()


@dataclass
class FaqIndex:
    """An in-memory index over FAQ entries; build once, search many times."""

    keys: list[object]
    settings: SearchSettings = field(default_factory=SearchSettings)
    _question: _Field | None = None
    _answer: _Field | None = None
    _tfidf: object | None = None
    _tfidf_docs: sparse.csr_matrix | None = None

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
            analysed = entry[3] if len(entry) > 3 else None  # type: ignore[misc]
            if not analysed or "\t" not in analysed:
                analysed = analyse(question, answer, settings)
            q_terms, a_terms = analysed.split("\t", 1)
            keys.append(key)
            q_docs.append(q_terms.split())
            a_docs.append(a_terms.split())
            texts.append(question + " " + clean(answer)[: settings.tfidf_answer_chars])
        index = cls(keys, settings)
        index._question = _bm25_field(q_docs, settings.k1, settings.b)
        index._answer = _bm25_field(a_docs, settings.k1, settings.b)
        if keys and settings.tfidf_weight:
            vec = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, dtype=np.float32)
            index._tfidf_docs = vec.fit_transform(texts).tocsr()  # docs × grams, L2-normalised
            index._tfidf = vec
        return index

    def __len__(self) -> int:
        return len(self.keys)

    def _max_df_count(self) -> int:
        return max(self.settings.max_df_floor, int(self.settings.max_df * len(self.keys)))

    def scores(self, query: str) -> np.ndarray:
        """One relevance score per indexed entry (same order as ``keys``)."""
        n = len(self.keys)
        if not n:
            return np.zeros(0, dtype=np.float32)
        s = self.settings
        query = query[: s.query_chars]
        q_terms = terms(query)
        assert self._question is not None and self._answer is not None
        max_df = self._max_df_count()
        bm25 = s.question_weight * _field_scores(self._question, q_terms, n, max_df)
        bm25 += s.answer_weight * _field_scores(self._answer, q_terms, n, max_df)
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
                vec = self._tfidf.transform([query])  # type: ignore[attr-defined]
                cos = (self._tfidf_docs[cands] @ vec.T).toarray().ravel()
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


def similarity(a: str, b: str) -> float:
    """Character bigram Dice similarity of two short texts (0..1), for duplicate checks."""
    ga, gb = set(bigrams(clean(a))), set(bigrams(clean(b)))
    if not ga or not gb:
        return 0.0
    return 2 * len(ga & gb) / (len(ga) + len(gb))
