"""Near-duplicate detection over recent items with MinHash LSH (datasketch).

Ingest attaches a new item to an existing case when the estimated Jaccard similarity of
their character 3-gram sets is at or above ``attach_threshold``, and suggests the match to
the duty officer between ``suggest_threshold`` and ``attach_threshold`` (both settings).
LSH finds candidates in sub-linear time; each candidate's similarity is then estimated
from the two MinHash signatures (``MinHash.jaccard``), so ``query`` returns a real score.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from classifiers.text import normalise

__all__ = ["NearDuplicateIndex", "shingles"]

SHINGLE = 3


def shingles(text: str, n: int = SHINGLE) -> set[bytes]:
    """Character n-gram set of a text as the index sees it (normalised, no spaces)."""
    t = prepare_full(text)
    if len(t) <= n:
        return {t.encode("utf-8")} if t else set()
    return {t[i : i + n].encode("utf-8") for i in range(len(t) - n + 1)}


def prepare_full(text: str) -> str:
    """Like :func:`classifiers.text.prepare` (normalised, lower-case, no spaces), untruncated
    up to 2,000 characters: duplicates often differ only near the end."""
    return normalise(text)[:2000].lower().replace(" ", "")


class NearDuplicateIndex:
    """A bounded MinHash LSH index of recent items.

    >>> idx = NearDuplicateIndex(attach_threshold=0.8, suggest_threshold=0.5)
    >>> idx.add("case-1", "A市A3区魏家坡小区脏乱差，多次向社区反映得不到解决")
    >>> idx.query("A市A3区魏家坡小区脏乱差，多次向社区反映都得不到解决")[0][0]
    'case-1'

    ``max_items`` bounds memory: the oldest items are dropped first (ingest only needs to
    match recent items). Thread-safe.
    """

    def __init__(
        self,
        *,
        attach_threshold: float = 0.8,
        suggest_threshold: float = 0.5,
        num_perm: int = 128,
        max_items: int | None = 50_000,
        seed: int = 1,
    ) -> None:
        from datasketch import MinHashLSH

        if not 0 < suggest_threshold <= attach_threshold <= 1:
            raise ValueError("need 0 < suggest_threshold <= attach_threshold <= 1")
        self.attach_threshold = attach_threshold
        self.suggest_threshold = suggest_threshold
        self.num_perm = num_perm
        self.seed = seed
        self.max_items = max_items
        # LSH is tuned to the lower threshold so that suggestions are found too.
        self._lsh = MinHashLSH(threshold=suggest_threshold, num_perm=num_perm)
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def minhash(self, text: str) -> Any:
        """The MinHash signature of ``text``."""
        from datasketch import MinHash

        m = MinHash(num_perm=self.num_perm, seed=self.seed)
        grams = shingles(text)
        if grams:
            m.update_batch(list(grams))
        return m

    def add(self, key: Hashable, text: str) -> None:
        """Index ``text`` under ``key`` (re-adding a key replaces its text)."""
        m = self.minhash(text)
        with self._lock:
            if key in self._items:
                self._lsh.remove(key)
                del self._items[key]
            self._lsh.insert(key, m)
            self._items[key] = m
            while self.max_items is not None and len(self._items) > self.max_items:
                old, _ = self._items.popitem(last=False)
                self._lsh.remove(old)

    def remove(self, key: Hashable) -> None:
        """Forget ``key`` (no error if absent)."""
        with self._lock:
            if key in self._items:
                self._lsh.remove(key)
                del self._items[key]

    def query(
        self, text: str, *, min_similarity: float | None = None
    ) -> list[tuple[Hashable, float]]:
        """Indexed items similar to ``text``: ``(key, similarity)`` best first.

        Only items at or above ``min_similarity`` (default: ``suggest_threshold``) are
        returned.
        """
        floor = self.suggest_threshold if min_similarity is None else min_similarity
        m = self.minhash(text)
        with self._lock:
            keys = self._lsh.query(m)
            scored = [(k, float(m.jaccard(self._items[k]))) for k in keys if k in self._items]
        scored = [(k, s) for k, s in scored if s >= floor]
        scored.sort(key=lambda ks: (-ks[1], str(ks[0])))
        return scored

    def decide(self, text: str) -> tuple[str, Hashable | None, float]:
        """``("attach" | "suggest" | "new", key, similarity)`` for a new item's text."""
        hits = self.query(text)
        if not hits:
            return "new", None, 0.0
        key, sim = hits[0]
        return ("attach" if sim >= self.attach_threshold else "suggest"), key, sim


def exact_jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of two texts' shingle sets (for evaluation)."""
    sa, sb = shingles(a), shingles(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def evaluate_pairs(
    texts: list[str],
    *,
    attach_threshold: float = 0.8,
    suggest_threshold: float = 0.5,
    num_perm: int = 128,
) -> dict[str, float]:
    """Precision/recall of the LSH index against exact Jaccard on all pairs of ``texts``.

    Ground truth: every pair whose exact 3-gram Jaccard is at or above a threshold (found
    by brute force with sparse products). Predicted: the pairs the index returns at or
    above the same threshold (each text queried against all the others).
    """
    import numpy as np
    import scipy.sparse as sp

    sets = [shingles(t) for t in texts]
    vocab: dict[bytes, int] = {}
    rows, cols = [], []
    for i, s in enumerate(sets):
        for g in s:
            rows.append(i)
            cols.append(vocab.setdefault(g, len(vocab)))
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocab)))
    sizes = np.asarray(x.sum(axis=1)).ravel()
    truth: dict[tuple[int, int], float] = {}
    for start in range(0, len(texts), 500):
        inter = (x[start : start + 500] @ x.T).toarray()
        for r in range(inter.shape[0]):
            i = start + r
            union = sizes[i] + sizes - inter[r]
            with np.errstate(divide="ignore", invalid="ignore"):
                jac = np.where(union > 0, inter[r] / union, 0.0)
            for j in np.nonzero(jac >= suggest_threshold)[0]:
                if j > i:
                    truth[(i, int(j))] = float(jac[j])
    index = NearDuplicateIndex(
        attach_threshold=attach_threshold,
        suggest_threshold=suggest_threshold,
        num_perm=num_perm,
        max_items=None,
    )
    for i, t in enumerate(texts):
        index.add(i, t)
    found: dict[tuple[int, int], float] = {}
    for i, t in enumerate(texts):
        for key, sim in index.query(t):
            other = int(key)  # type: ignore[call-overload]
            if other != i:
                found[(min(i, other), max(i, other))] = sim
    out: dict[str, float] = {"n_texts": float(len(texts))}
    for name, thr in (("attach", attach_threshold), ("suggest", suggest_threshold)):
        true_pairs = {p for p, s in truth.items() if s >= thr}
        pred_pairs = {p for p, s in found.items() if s >= thr}
        tp = len(true_pairs & pred_pairs)
        out[f"{name}_true_pairs"] = float(len(true_pairs))
        out[f"{name}_precision"] = tp / len(pred_pairs) if pred_pairs else 1.0
        out[f"{name}_recall"] = tp / len(true_pairs) if true_pairs else 1.0
    return out
