"""Text normalisation and the shared feature extraction used by every model.

``normalise`` is what ingest stores; the models see ``prepare(text)`` (normalised,
lower-cased, spaces dropped, truncated). Every model reads one sparse count matrix of
character 1..3-grams built once per batch by :class:`Featurizer`. Word segmentation
(jieba: about 2.5 ms per government message on this hardware, an Aho-Corasick longest
match: 0.5 ms) was measured and left out: the whole pipeline has a budget of 1 ms per item.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "MAX_MODEL_CHARS",
    "REQUEST_TAIL_CHARS",
    "Featurizer",
    "char_grams",
    "decode_key",
    "model_text",
    "normalise",
    "prepare",
    "prepare_tail",
]

# Full-width ASCII (U+FF01..U+FF5E) maps to U+0021..U+007E; ideographic space and
# no-break spaces become ordinary spaces, and collapse with the rest below.
_TRANSLATE: dict[int, int | None] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_TRANSLATE.update(
    {0x3000: 0x20, 0x00A0: 0x20, 0x2002: 0x20, 0x2003: 0x20, 0x200B: None, 0xFEFF: None}
)
_SPACES = re.compile(r"\s+")
# The characters _TRANSLATE changes, in runs: a message has a score of them (its ，（）：？),
# and translating only those runs costs half of ``str.translate`` over the whole text, which
# looks every character up in the dict (ingest normalises every item it receives).
_TRANSLATABLE = re.compile("[\uff01-\uff5e\u3000\u00a0\u2002\u2003\u200b\ufeff]+")


def _translate_run(match: re.Match[str]) -> str:
    return match.group().translate(_TRANSLATE)


#: Models read at most this many characters of an item: the request is stated at the top
#: of a message, and the bound keeps the per-item cost flat for 10,000-character letters.
MAX_MODEL_CHARS = 600


def normalise(text: str | None) -> str:
    """Return ``text`` with full-width ASCII made half-width and whitespace collapsed.

    Handles what government message boards leave behind: HTML entities (``&nbsp;``),
    ``\\n\\t\\t`` runs, ideographic spaces (U+3000), no-break and zero-width spaces.
    Chinese punctuation outside the full-width ASCII block (。、《》) is kept.
    ``None`` becomes ``""``.
    """
    if not text:
        return ""
    if "&" in text:
        text = html.unescape(text)
    text = _TRANSLATABLE.sub(_translate_run, text)
    # = _SPACES.sub(" ", text).strip(): str.split() and re's \s agree on every code point
    # (tests/test_text.py), and split/join is several times cheaper.
    return " ".join(text.split())


#: The request-type model also reads the last this many characters of an item: a letter
#: states its request at the end ("恳请领导帮忙…", "请相关部门查处…", "请问…"), and in the
#: 19 % of letters longer than MAX_MODEL_CHARS that closing is cut off otherwise (5-fold CV
#: on the request-type gold train split; see classifiers/training.py REQUEST_TAIL).
REQUEST_TAIL_CHARS = 150


def jieba_module() -> Any:
    """The jieba module with its dictionary loaded (once per process, quietly): word
    segmentation where a step needs words, not character grams."""
    import jieba

    if not getattr(jieba.dt, "initialized", False):
        import logging

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
    return jieba


def model_text(text: str | None) -> str:
    """Return the form the models read: normalised, lower-cased, truncated."""
    return normalise(text)[:MAX_MODEL_CHARS].lower()


def char_grams(text: str) -> list[str]:
    """Character unigrams and bigrams of an already prepared text (what SnowNLP's Bayes reads)."""
    return list(text) + [text[i : i + 2] for i in range(len(text) - 1)]


def prepare(text: str | None, *, normalised: bool = False) -> str:
    """Model text without spaces: the string the n-gram features are cut from.

    ``normalised=True`` skips :func:`normalise` for text that already went through it.
    """
    base = (text or "") if normalised else normalise(text)
    return base[:MAX_MODEL_CHARS].lower().replace(" ", "")


def prepare_tail(
    text: str | None, *, normalised: bool = False, chars: int = REQUEST_TAIL_CHARS
) -> str:
    """The last ``chars`` characters of the text, prepared as :func:`prepare` does."""
    base = (text or "") if normalised else normalise(text)
    return base[-chars:].lower().replace(" ", "") if chars > 0 else ""


# An n-gram of code points is packed into one int64 key; the offsets keep the three key
# ranges apart (unigram < bigram < trigram), so the sorted vocabulary is grouped by n.
_B = 21  # bits per code point (U+10FFFF < 2**21)


def _keys(texts: Sequence[str], max_n: int) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, key) of every 1..max_n-gram of the prepared ``texts``, vectorised."""
    lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    if lens.sum() == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cp = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), lens)
    docs = [doc]
    keys = [cp]
    if max_n >= 2:
        same = doc[:-1] == doc[1:]
        docs.append(doc[:-1][same])
        keys.append(((cp[:-1][same] + 1) << _B) | cp[1:][same])
    if max_n >= 3:
        same3 = doc[:-2] == doc[2:]
        docs.append(doc[:-2][same3])
        keys.append(((cp[:-2][same3] + 1) << (2 * _B)) | (cp[1:-1][same3] << _B) | cp[2:][same3])
    return np.concatenate(docs), np.concatenate(keys)


def decode_key(key: int) -> str:
    """The n-gram string of a feature key."""
    key = int(key)
    if key < (1 << _B):
        return chr(key)
    if key < (1 << (2 * _B)):
        return chr((key >> _B) - 1) + chr(key & ((1 << _B) - 1))
    return (
        chr((key >> (2 * _B)) - 1) + chr((key >> _B) & ((1 << _B) - 1)) + chr(key & ((1 << _B) - 1))
    )


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class KeyIndex:
    """Vectorised open-addressing hash table: int64 n-gram key → column (or -1).

    Replaces ``np.searchsorted`` over the sorted vocabulary (19 dependent random reads per
    lookup) by about 1.5 reads at load factor ≤ 0.5 — the feature lookup was the largest
    single cost of the pipeline.
    """

    def __init__(self, keys: np.ndarray) -> None:
        n = len(keys)
        self.bits = max(4, int(2 * n).bit_length())
        size = 1 << self.bits
        self.mask = size - 1
        self.table_keys = np.full(size, -1, dtype=np.int64)
        self.table_vals = np.full(size, -1, dtype=np.int64)
        home = self._hash(keys)
        pending = np.arange(n)
        probe = 0
        while pending.size:
            slots = (home[pending] + probe) & self.mask
            free = self.table_keys[slots] == -1
            cand, cslots = pending[free], slots[free]
            uniq, first = np.unique(cslots, return_index=True)
            winners = cand[first]
            self.table_keys[uniq] = keys[winners]
            self.table_vals[uniq] = winners
            placed = np.zeros(n, dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            probe += 1
        self.max_probe = probe

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            h = keys.astype(np.uint64) * _GOLDEN
        return (h >> np.uint64(64 - self.bits)).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Column of each key, -1 where the key is not in the vocabulary."""
        out = np.full(len(keys), -1, dtype=np.int64)
        home = self._hash(keys)
        pending = np.arange(len(keys))
        probe = 0
        while pending.size and probe <= self.max_probe:
            slots = (home[pending] + probe) & self.mask
            found_keys = self.table_keys[slots]
            hit = found_keys == keys[pending]
            out[pending[hit]] = self.table_vals[slots[hit]]
            pending = pending[~(hit | (found_keys == -1))]
            probe += 1
        return out


class Featurizer:
    """Maps texts to one sparse n-gram count matrix shared by all models.

    Columns are character 1..3-grams sorted by key, so unigrams come first
    (``[0, n_unigrams)``), then bigrams (up to ``n_unibi``), then trigrams. Extraction is
    vectorised with numpy (code points packed into int64 keys, looked up with
    ``searchsorted``); it costs a few microseconds per message instead of the ~2.5 ms of
    jieba segmentation.
    """

    def __init__(self, keys: np.ndarray, max_n: int = 3) -> None:
        self.keys = np.asarray(keys, dtype=np.int64)
        self.max_n = max_n
        self.n_unigrams = int(np.searchsorted(self.keys, 1 << _B))
        self.n_unibi = int(np.searchsorted(self.keys, 1 << (2 * _B)))
        self.index = KeyIndex(self.keys)

    @property
    def n_features(self) -> int:
        """Number of columns of :meth:`transform`'s matrix."""
        return len(self.keys)

    @classmethod
    def fit(
        cls, texts: Sequence[str], *, min_df: tuple[int, int, int] = (1, 2, 3), max_n: int = 3
    ) -> Featurizer:
        """Vocabulary of the raw ``texts``: n-grams with document frequency ≥ ``min_df[n-1]``."""
        doc, key = _keys([prepare(t) for t in texts], max_n)
        order = np.lexsort((key, doc))
        doc, key = doc[order], key[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = (doc[1:] != doc[:-1]) | (key[1:] != key[:-1])
        uniq, df = np.unique(key[first], return_counts=True)
        need = np.where(
            uniq < (1 << _B), min_df[0], np.where(uniq < (1 << (2 * _B)), min_df[1], min_df[2])
        )
        return cls(uniq[df >= need], max_n)

    def transform(self, texts: Sequence[str], *, prepared: bool = False) -> sp.csr_matrix:
        """Return the (n_texts × n_features) n-gram count matrix of ``texts``."""
        docs = list(texts) if prepared else [prepare(t) for t in texts]
        doc, key = _keys(docs, self.max_n)
        pos = self.index.lookup(key)
        hit = pos >= 0
        m = sp.csr_matrix(
            (np.ones(int(hit.sum())), (doc[hit], pos[hit])),
            shape=(len(docs), self.n_features),
        )
        m.sum_duplicates()
        return m

    def term(self, column: int) -> str:
        """The n-gram string of a column (memoised: explanations reuse the same terms)."""
        cache = self.__dict__.setdefault("_terms", {})
        term = cache.get(column)
        if term is None:
            term = cache[column] = decode_key(self.keys[column])
        return term

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_terms", None)
        return state

    def unibi_terms(self) -> set[str]:
        """All unigram and bigram strings in the vocabulary (the Bayes model's vocabulary)."""
        return {decode_key(k) for k in self.keys[: self.n_unibi]}
