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
    """One task's TF-IDF weights plus a fitted linear model (a :class:`LinearModel`).

    ``idf`` is zero for features that are rare in this task's training rows, so they
    neither score nor change the row norm.
    """

    def __init__(self, idf: np.ndarray, model: Any, post_scale: np.ndarray | None = None) -> None:
        self.idf = idf
        self.model = model
        self.post_scale = post_scale

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
        """This head's TF-IDF matrix for sublinear tf rows (times ``post_scale`` if set)."""
        x = self.weigh(tf, self.idf)
        if self.post_scale is not None:
            x.data *= self.post_scale[x.indices]
        return x


class LinearModel:
    """A fitted linear classifier reduced to numpy arrays (no scikit-learn at run time).

    ``kind`` is ``"logistic"`` (binary: P(class 1) = σ(x·w + b)) or ``"sigmoid-ovr"``
    (scikit-learn's ``CalibratedClassifierCV(method="sigmoid")`` over a one-vs-rest linear
    SVM: per class p_k = σ(−(a_k f_k + b_k)) with f_k = x·w_k + b_k, then normalised).
    :func:`export_linear` builds one from the scikit-learn estimator, and training checks
    that both give the same probabilities.
    """

    def __init__(
        self,
        kind: str,
        coef: np.ndarray,
        intercept: np.ndarray,
        classes: list[Any],
        calib_a: np.ndarray | None = None,
        calib_b: np.ndarray | None = None,
    ) -> None:
        self.kind = kind
        self.coef = np.ascontiguousarray(coef, dtype=np.float64)
        self.coef_t = np.ascontiguousarray(self.coef.T)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.classes_ = np.asarray(classes)
        self.calib_a = calib_a
        self.calib_b = calib_b

    def decision_function(self, x: sp.csr_matrix) -> np.ndarray:
        """Raw scores: (n,) for binary models, (n, n_classes) otherwise."""
        if not sp.issparse(x):
            x = np.asarray(x, dtype=np.float64)
        z = np.asarray(x @ self.coef_t) + self.intercept
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, x: sp.csr_matrix) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        z = self.decision_function(x)
        if self.kind == "logistic":
            p1 = _expit(z)
            return np.column_stack([1.0 - p1, p1])
        assert self.calib_a is not None and self.calib_b is not None
        p = _expit(-(self.calib_a * z + self.calib_b))
        total = p.sum(axis=1, keepdims=True)
        uniform = np.full_like(p, 1.0 / p.shape[1])
        return np.divide(p, total, out=uniform, where=total != 0)

    def class_matrix(self) -> np.ndarray:
        """(n_classes × n_features) weights towards each class (binary: [−w, w])."""
        cached = getattr(self, "_class_matrix", None)
        if cached is None:
            cached = (
                np.vstack([-self.coef[0], self.coef[0]]) if self.coef.shape[0] == 1 else self.coef
            )
            self._class_matrix = cached
        return cached


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def export_linear(model: Any) -> LinearModel:
    """Reduce a fitted ``LogisticRegression`` / ``LinearSVC`` or a sigmoid
    ``CalibratedClassifierCV(ensemble=False)`` over a linear model to a :class:`LinearModel`."""
    classes = list(model.classes_)
    if hasattr(model, "calibrated_classifiers_"):
        (cal,) = model.calibrated_classifiers_
        est = cal.estimator
        a = np.array([c.a_ for c in cal.calibrators], dtype=np.float64)
        b = np.array([c.b_ for c in cal.calibrators], dtype=np.float64)
        if len(classes) == 2:
            raise ValueError("binary calibrated models are not supported")
        return LinearModel("sigmoid-ovr", est.coef_, est.intercept_, classes, a, b)
    if len(classes) != 2:
        raise ValueError("multi-class models must be calibrated (sigmoid)")
    return LinearModel("logistic", model.coef_, model.intercept_, classes)


def top_terms(
    x: sp.csr_matrix, coef: np.ndarray, classes: np.ndarray, featurizer: Any, k: int = 5
) -> list[tuple[str, ...]]:
    """Per row of ``x`` (TF-IDF), the ``k`` terms that pushed hardest towards its class.

    ``coef`` is (n_classes × n_features) and ``classes[i]`` the row's class index. Single
    characters and n-grams with punctuation are skipped (they explain nothing to an
    officer), and a term that overlaps one already listed (社保 / 保卡) is dropped. The
    contributions of the whole batch are computed and sorted at once.
    """
    n = x.shape[0]
    rows = np.repeat(np.arange(n), np.diff(x.indptr))
    cols = x.indices
    contrib = x.data * coef[classes[rows], cols]
    keep = (cols >= featurizer.n_unigrams) & (contrib > 0)
    rows, cols, contrib = rows[keep], cols[keep], contrib[keep]
    # One float sort instead of a lexsort: row number plus a fraction that falls as the
    # contribution grows keeps rows together, best first.
    order = np.argsort(rows + 0.5 - 0.5 * contrib / (contrib.max() + 1e-12) if len(rows) else rows)
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, np.arange(n + 1))
    out: list[tuple[str, ...]] = []
    cols_list = cols.tolist()
    for i in range(n):
        chosen: list[str] = []
        for j in cols_list[starts[i] : min(starts[i + 1], starts[i] + 4 * k)]:
            term = featurizer.term(j)
            if not term.isalnum() or any(_overlaps(term, t) for t in chosen):
                continue
            chosen.append(term)
            if len(chosen) >= k:
                break
        out.append(tuple(chosen))
    return out


def _overlaps(a: str, b: str) -> bool:
    """Whether two n-grams are likely pieces of the same word (社保 / 保卡 / 社保卡)."""
    if a in b or b in a:
        return True
    return a[1:] == b[:-1] or b[1:] == a[:-1] or a[-1] == b[0] or b[-1] == a[0]
