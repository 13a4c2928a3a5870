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
* The final ranking adds a character 2–3-gram TF-IDF cosine (the same signal as the
  baseline) with a small weight; the two signals err on different entries.
"""

from __future__ import annotations

import math
import re
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


@dataclass
class _Field:
    vocab: dict[str, int]
    idf: np.ndarray
    matrix: sparse.csr_matrix  # terms × docs: one row gathered per query term


def _bm25_field(docs: Sequence[list[str]], k1: float, b: float) -> _Field:
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lengths = np.array([len(d) for d in docs], dtype=np.float64)
    avgdl = float(lengths.mean()) if len(docs) and lengths.sum() else 1.0
    df: dict[int, int] = {}
    for j, doc in enumerate(docs):
        counts: dict[int, int] = {}
        for t in doc:
            i = vocab.setdefault(t, len(vocab))
            counts[i] = counts.get(i, 0) + 1
        norm = k1 * (1 - b + b * lengths[j] / avgdl)
        for i, tf in counts.items():
            rows.append(i)
            cols.append(j)
            vals.append(tf * (k1 + 1) / (tf + norm))
            df[i] = df.get(i, 0) + 1
    n = len(docs)
    idf = np.zeros(len(vocab), dtype=np.float32)
    for i, d in df.items():
        idf[i] = math.log(1 + (n - d + 0.5) / (d + 0.5))
    data = np.array(vals, dtype=np.float32) * idf[np.array(rows, dtype=np.int64)] if rows else []
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(vocab), n), dtype=np.float32)
    return _Field(vocab, idf, matrix)


def _query_vector(field_: _Field, query_terms: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    counts: dict[int, int] = {}
    for t in query_terms:
        i = field_.vocab.get(t)
        if i is not None:
            counts[i] = counts.get(i, 0) + 1
    idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    # Query term frequency saturates quickly: a word repeated in a rant is not 5× the evidence.
    qtf = np.fromiter((1 + math.log(c) for c in counts.values()), np.float32, len(counts))
    return idx, qtf


def _field_scores(field_: _Field, query_terms: list[str], n: int) -> np.ndarray:
    idx, qtf = _query_vector(field_, query_terms)
    if not len(idx):
        return np.zeros(n, dtype=np.float32)
    return np.asarray(field_.matrix[idx].T @ qtf).ravel()


@dataclass
class FaqIndex:
    """An in-memory index over FAQ entries; build once, search many times."""

    keys: list[object]
    settings: SearchSettings = field(default_factory=SearchSettings)
    _question: _Field | None = None
    _answer: _Field | None = None
    _tfidf: object | None = None
    _tfidf_matrix: sparse.csr_matrix | None = None

    @classmethod
    def build(
        cls,
        entries: Iterable[tuple[object, str, str]],
        settings: SearchSettings | None = None,
    ) -> FaqIndex:
        """Index ``(key, question, answer)`` triples."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        settings = settings or SearchSettings()
        keys: list[object] = []
        q_docs: list[list[str]] = []
        a_docs: list[list[str]] = []
        texts: list[str] = []
        for key, question, answer in entries:
            answer = clean(answer)[: settings.answer_chars]
            keys.append(key)
            q_docs.append(terms(question))
            a_docs.append(terms(answer))
            texts.append(question + " " + answer)
        index = cls(keys, settings)
        index._question = _bm25_field(q_docs, settings.k1, settings.b)
        index._answer = _bm25_field(a_docs, settings.k1, settings.b)
        if keys and settings.tfidf_weight:
            vec = TfidfVectorizer(
                analyzer=char_ngrams, sublinear_tf=True, min_df=1, dtype=np.float32
            )
            index._tfidf_matrix = vec.fit_transform(texts).T.tocsr()  # grams × docs
            index._tfidf = vec
        return index

    def __len__(self) -> int:
        return len(self.keys)

    def scores(self, query: str) -> np.ndarray:
        """One relevance score per indexed entry (same order as ``keys``)."""
        n = len(self.keys)
        if not n:
            return np.zeros(0, dtype=np.float32)
        s = self.settings
        query = query[: s.query_chars]
        q_terms = terms(query)
        assert self._question is not None and self._answer is not None
        bm25 = s.question_weight * _field_scores(self._question, q_terms, n)
        bm25 += s.answer_weight * _field_scores(self._answer, q_terms, n)
        top = float(bm25.max()) if n else 0.0
        if top > 0:
            bm25 /= top
        if self._tfidf is not None and self._tfidf_matrix is not None:
            vec = self._tfidf.transform([query])  # type: ignore[attr-defined]
            if vec.nnz:
                cos = np.asarray(
                    self._tfidf_matrix[vec.indices].T @ vec.data.astype(np.float32)
                ).ravel()
                # Rows of the matrix are L2-normalised per document already (TfidfVectorizer).
                cmax = float(cos.max())
                if cmax > 0:
                    bm25 += s.tfidf_weight * cos / cmax
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
