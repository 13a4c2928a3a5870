"""Per-task TF-IDF weighting and linear models over the shared count matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["LinearHead", "sublinear", "top_terms"]


def sublinear(counts: sp.csr_matrix) -> sp.csr_matrix:
    """Return a copy with tf replaced by 1 + ln(tf) (shared by all heads)."""
    out = counts.copy()
    np.log(out.data, out=out.data)
    out.data += 1.0
    return out


class LinearHead:
    """One task's TF-IDF weights plus a fitted linear scikit-learn model.

    ``idf`` is zero for features that are rare in this task's training rows, so they
    neither score nor change the row norm.
    """

    def __init__(self, idf: np.ndarray, model: Any) -> None:
        self.idf = idf
        self.model = model

    @staticmethod
    def fit_idf(tf: sp.csr_matrix, *, min_df: int = 2) -> np.ndarray:
        """Smoothed idf (as scikit-learn's) from a sublinear tf matrix; 0 below ``min_df``."""
        n = tf.shape[0]
        df = np.bincount(tf.indices, minlength=tf.shape[1])
        idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        idf[df < min_df] = 0.0
        return idf

    @staticmethod
    def weigh(tf: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
        """Apply ``idf`` to a sublinear tf matrix and l2-normalise rows."""
        out = tf.copy()
        out.data *= idf[out.indices]
        sq = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
        sq[sq == 0] = 1.0
        out.data /= np.repeat(sq, np.diff(out.indptr))
        out.eliminate_zeros()
        return out

    def features(self, tf: sp.csr_matrix) -> sp.csr_matrix:
        """This head's TF-IDF matrix for sublinear tf rows."""
        return self.weigh(tf, self.idf)

    def coef_for(self, class_index: int) -> np.ndarray:
        """Linear weights of one class (binary models: class 1 positive, class 0 negated)."""
        coef = _linear_coef(self.model)
        if coef.shape[0] == 1:
            return coef[0] if class_index == 1 else -coef[0]
        return coef[class_index]


def _linear_coef(model: Any) -> np.ndarray:
    if hasattr(model, "coef_"):
        return np.asarray(model.coef_)
    # CalibratedClassifierCV(ensemble=False): one underlying estimator.
    cal = model.calibrated_classifiers_
    return np.mean([np.asarray(c.estimator.coef_) for c in cal], axis=0)


def top_terms(x: sp.csr_matrix, coef: np.ndarray, featurizer: Any, k: int = 5) -> tuple[str, ...]:
    """The ``k`` terms of row ``x`` (TF-IDF) that pushed hardest towards ``coef``'s class.

    Single characters are skipped (they explain nothing to an officer), and a term that is
    part of a longer term already listed is dropped.
    """
    idx = x.indices
    contrib = x.data * coef[idx]
    order = np.argsort(-contrib)
    out: list[str] = []
    for j in order:
        if contrib[j] <= 0 or len(out) >= k:
            break
        term = featurizer.term(int(idx[j]))
        if len(term) < 2 or any(term in t or t in term for t in out):
            continue
        out.append(term)
    return tuple(out)

