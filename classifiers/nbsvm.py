"""One-vs-rest NB-SVM (Wang & Manning 2012) for the routing topic (training time only).

For each class k the TF-IDF features are scaled by |r_k|, the naive-Bayes log-count ratio
of feature presence in class k against the rest, and a linear SVM is trained on the scaled
features. Prediction is linear in the unscaled features with weights r_k ⊙ w_k, so the
exported model (:class:`classifiers.heads.LinearModel`) costs nothing extra at run time.

:func:`fit_topic_model` adds what a routing queue needs on top: out-of-fold scores from an
inner cross-validation give (1) one offset per class, chosen to maximise macro-F1 — a plain
one-vs-rest SVM under-predicts the small classes (交通运输 loses a fifth of its letters to
城乡建设) — and (2) the per-class sigmoid calibration of the confidence. Measured by 5-fold
cross-validation on the routing data: plain linear SVM on the same features 0.904, NB-SVM
0.909, NB-SVM with tuned offsets 0.915 macro-F1 (TF-IDF over jieba words + LinearSVC: 0.892).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import LinearSVC

from classifiers.heads import LinearModel

__all__ = ["NBSVMOvR", "fit_topic_model", "macro_f1_of_codes", "tune_class_offsets"]


class NBSVMOvR(ClassifierMixin, BaseEstimator):
    """Multi-class NB-SVM; exposes ``coef_`` / ``intercept_`` like a linear model."""

    def __init__(
        self, C: float = 1.0, alpha: float = 1.0, power: float = 1.0, class_weight: Any = "balanced"
    ) -> None:
        self.C = C
        self.alpha = alpha
        self.power = power
        self.class_weight = class_weight

    def fit(self, X: sp.csr_matrix, y: Any) -> NBSVMOvR:
        """Fit one scaled linear SVM per class."""
        X = sp.csr_matrix(X)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 3:
            raise ValueError("NBSVMOvR needs at least three classes")
        presence = X.copy()
        presence.data[:] = 1.0
        coefs, intercepts = [], []
        for k in self.classes_:
            mask = y == k
            pos = np.asarray(presence[mask].sum(axis=0)).ravel() + self.alpha
            neg = np.asarray(presence[~mask].sum(axis=0)).ravel() + self.alpha
            r = np.log((pos / pos.sum()) / (neg / neg.sum()))
            scale = np.abs(r) ** self.power
            xk = X.copy()
            xk.data *= scale[xk.indices]
            svm = LinearSVC(C=self.C, class_weight=self.class_weight).fit(xk, mask.astype(int))
            coefs.append(svm.coef_[0] * scale)
            intercepts.append(svm.intercept_[0])
        self.coef_ = np.vstack(coefs)
        self.intercept_ = np.asarray(intercepts)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: sp.csr_matrix) -> np.ndarray:
        """One score per class."""
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict(self, X: sp.csr_matrix) -> np.ndarray:
        """The best-scoring class."""
        return self.classes_[self.decision_function(X).argmax(axis=1)]


def macro_f1_of_codes(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Macro-F1 of integer class codes (a fast ``f1_score(average="macro")``)."""
    tp = np.bincount(y[pred == y], minlength=n_classes).astype(np.float64)
    support = np.bincount(y, minlength=n_classes)
    predicted = np.bincount(pred, minlength=n_classes)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(n_classes), where=denom > 0)
    return float(f1[support > 0].mean())


def tune_class_offsets(
    scores: np.ndarray, y: np.ndarray, *, span: float = 0.6, steps: int = 25, rounds: int = 3
) -> np.ndarray:
    """Per-class offsets added to ``scores`` (n × k) that maximise macro-F1 on codes ``y``.

    Coordinate ascent over a grid in [−span, span]; an offset only moves when it strictly
    improves the score, so classes that are already balanced keep 0.
    """
    k = scores.shape[1]
    grid = np.linspace(-span, span, steps)
    offsets = np.zeros(k)
    best = macro_f1_of_codes(y, scores.argmax(axis=1), k)
    for _ in range(rounds):
        moved = False
        for c in range(k):
            for g in grid:
                trial = offsets.copy()
                trial[c] = g
                score = macro_f1_of_codes(y, (scores + trial).argmax(axis=1), k)
                if score > best + 1e-12:
                    best, offsets, moved = score, trial, True
        if not moved:
            break
    return offsets


def _platt(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid p = σ(−(a·f + b)) fitted to one class's scores (as scikit-learn's)."""
    from sklearn.linear_model import LogisticRegression

    if positive.all() or not positive.any():
        return 0.0, -10.0 if positive.all() else 10.0
    lr = LogisticRegression(C=1e4).fit(scores.reshape(-1, 1), positive.astype(int))
    return -float(lr.coef_[0, 0]), -float(lr.intercept_[0])


def fit_topic_model(
    X: sp.csr_matrix, y: Any, *, C: float = 1.0, folds: int = 5, seed: int = 0
) -> tuple[LinearModel, dict[str, Any]]:
    """Fit the routing-topic model: NB-SVM + macro-F1 class offsets + sigmoid calibration.

    Returns the numpy-only model and what was learnt about it (offsets, out-of-fold
    macro-F1 before and after the offsets). With fewer than two examples in some class
    there is no inner cross-validation: no offsets, and a fixed sigmoid for confidence.
    """
    from sklearn.model_selection import StratifiedKFold

    X = sp.csr_matrix(X)
    y = np.asarray(y)
    classes, codes = np.unique(y, return_inverse=True)
    k = len(classes)
    n_folds = min(folds, int(np.bincount(codes).min()))
    info: dict[str, Any] = {"inner_folds": n_folds}
    offsets = np.zeros(k)
    a = np.ones(k)
    b = np.zeros(k)
    if n_folds >= 2:
        oof = np.zeros((len(y), k))
        for tr, te in StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(X, codes):
            oof[te] = NBSVMOvR(C=C).fit(X[tr], y[tr]).decision_function(X[te])
        offsets = tune_class_offsets(oof, codes)
        shifted = oof + offsets
        for c in range(k):
            a[c], b[c] = _platt(shifted[:, c], codes == c)
        info["oof_macro_f1"] = macro_f1_of_codes(codes, oof.argmax(axis=1), k)
        info["oof_macro_f1_offsets"] = macro_f1_of_codes(codes, shifted.argmax(axis=1), k)
    else:
        a[:] = -2.0  # σ(2f): a margin of 1 reads as 0.88
    final = NBSVMOvR(C=C).fit(X, y)
    info["class_offsets"] = {
        str(c): round(float(o), 3) for c, o in zip(classes, offsets, strict=True)
    }
    model = LinearModel("sigmoid-ovr", final.coef_, final.intercept_ + offsets, list(classes), a, b)
    return model, info
