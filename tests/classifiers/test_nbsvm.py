"""The routing-topic learner: macro-F1 class offsets and out-of-fold calibration."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import f1_score

from classifiers.nbsvm import fit_topic_model, macro_f1_of_codes, tune_class_offsets


def test_fast_macro_f1_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400)
    pred = np.where(rng.random(400) < 0.7, y, rng.integers(0, 5, 400))
    assert abs(macro_f1_of_codes(y, pred, 5) - f1_score(y, pred, average="macro")) < 1e-12


def test_offsets_recover_an_under_predicted_class() -> None:
    """Scores biased against class 2 (as one-vs-rest SVMs are against small classes): the
    tuned offset raises it, and macro-F1 on fresh rows from the same process improves."""
    rng = np.random.default_rng(1)

    def scores(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, n)
        s = rng.normal(0, 0.6, (n, 3))
        s[np.arange(n), y] += 1.0
        s[:, 2] -= 0.5
        return s, y

    s_fit, y_fit = scores(3000)
    offsets = tune_class_offsets(s_fit, y_fit)
    assert offsets[2] - max(offsets[0], offsets[1]) > 0.2
    s_new, y_new = scores(3000)
    before = macro_f1_of_codes(y_new, s_new.argmax(axis=1), 3)
    after = macro_f1_of_codes(y_new, (s_new + offsets).argmax(axis=1), 3)
    assert after > before + 0.02


def test_balanced_scores_keep_zero_offsets() -> None:
    s = np.eye(4)[np.arange(40) % 4] + 0.01
    assert np.array_equal(tune_class_offsets(s, np.arange(40) % 4), np.zeros(4))


def _toy(n_per_class: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse rows like TF-IDF: each class has its own 6 terms, plus shared noise terms."""
    rng = np.random.default_rng(2)
    rows, y = [], []
    for c in range(3):
        for _ in range(n_per_class):
            v = np.zeros(24)
            v[rng.choice(np.arange(c * 6, c * 6 + 6), 2, replace=False)] = 1.0
            v[rng.choice(np.arange(18, 24), 2, replace=False)] = 1.0
            if rng.random() < 0.1:  # a term of another class
                v[rng.integers(0, 18)] = 1.0
            rows.append(v / np.linalg.norm(v))
            y.append(f"类{c}")
    return sp.csr_matrix(np.array(rows)), np.array(y)


def test_fit_topic_model_is_calibrated_and_reports_what_it_learnt() -> None:
    x, y = _toy(60)
    model, info = fit_topic_model(x, y)
    assert info["inner_folds"] == 5 and set(info["class_offsets"]) == {"类0", "类1", "类2"}
    assert info["oof_macro_f1_offsets"] >= info["oof_macro_f1"] > 0.9
    proba = model.predict_proba(x)
    assert np.allclose(proba.sum(axis=1), 1.0)
    chosen = model.decision_function(x).argmax(axis=1)
    assert (model.classes_[chosen] == y).mean() > 0.95
    # Confident where right: the mean top probability is high but below 1.
    assert 0.6 < proba.max(axis=1).mean() < 1.0


def test_a_class_with_one_example_still_trains() -> None:
    """An office file with a singleton class: no inner CV, fixed confidence curve."""
    x, y = _toy(10)
    y = y.copy()
    y[0] = "新类"
    model, info = fit_topic_model(x, y)
    assert info["inner_folds"] == 1 and "oof_macro_f1" not in info
    assert list(model.classes_) == sorted(set(y))
    assert np.allclose(model.predict_proba(x).sum(axis=1), 1.0)
