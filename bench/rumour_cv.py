"""Rumour model vs a plain TF-IDF + logistic regression, on grouped, de-duplicated folds.

Run from the repository root::

    python bench/rumour_cv.py [--data-dir data] [--folds 5] [--threshold 0.5]

Posts are de-duplicated on normalised text, then clustered into near-duplicate groups
(character 3-gram MinHash, estimated Jaccard >= ``--threshold``, transitive); the folds are
``StratifiedGroupKFold`` by source x label, so no cluster is on both sides. Within each fold
every model is fitted on the training part only (the n-gram vocabulary too, from the
posts). Printed per fold and as the mean, overall and per source (ced / checked):

- ``baseline``: TF-IDF of character 1-2-grams + LogisticRegression (scikit-learn defaults),
  the plain baseline of the issue;
- ``text``: the shipped text model (shared character 1-3-gram features, task idf,
  logistic regression C=TEXT_C);
- ``source_separability_auc``: how well the baseline tells CED from CHECKED by the text
  alone (the distribution shift; why pooled AUCs flatter and figures are per source);
- ``reactions``: the shipped reactions model (post + first 50 reactions + engagement
  counts), on the posts that have reactions (all but 37).

``--random`` uses plain stratified folds instead (the leaky split, for comparison).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifiers.data import load_rumours  # noqa: E402
from classifiers.heads import sublinear  # noqa: E402
from classifiers.rumour import (  # noqa: E402
    TEXT_C,
    dense_vector,
    fit_reaction_head,
    fit_text_head,
    grouped_folds,
    load_reactions,
    near_duplicate_groups,
    reaction_text,
    with_reactions,
)
from classifiers.text import Featurizer, prepare  # noqa: E402


def auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if len(set(y.tolist())) == 2 else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--text-c", type=float, default=TEXT_C)
    ap.add_argument("--random", action="store_true", help="plain stratified folds (leaky)")
    args = ap.parse_args()
    started = time.perf_counter()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    rows = load_rumours(args.data_dir)
    reactions = load_reactions(args.data_dir)
    texts = [r.text for r in rows]
    y = np.array([r.label for r in rows])
    source = np.array([r.source for r in rows])
    strata = [f"{r.source}{r.label}" for r in rows]
    extras = with_reactions([r.engagement for r in rows], [reactions.get(r.id) for r in rows])
    reac_texts = [reaction_text(e) or "" for e in extras]
    has_reac = np.array([reaction_text(e) is not None for e in extras])
    dense = np.vstack([dense_vector(e) for e in extras])

    groups = near_duplicate_groups(texts, args.threshold)
    _, inverse = np.unique(groups, return_inverse=True)
    sizes = np.bincount(inverse)
    labels_per_group = [set() for _ in sizes]
    for g, label in zip(inverse, y, strict=True):
        labels_per_group[g].add(int(label))
    mixed = sum(len(s) > 1 for s in labels_per_group)
    print(
        f"posts={len(rows)} groups={len(sizes)} in_groups_of_2+={int(sizes[sizes > 1].sum())} "
        f"largest_group={int(sizes.max())} groups_with_both_labels={mixed} "
        f"reactions={int(has_reac.sum())}"
    )
    if args.random:
        folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(texts, strata))
        print("folds=stratified (random, leaky)")
    else:
        folds = grouped_folds(groups, strata, args.folds)
        print(f"folds=grouped by near-duplicate cluster (Jaccard>={args.threshold}), stratified")

    names = ("baseline", "text", "reactions")
    scores = {n: np.full(len(rows), np.nan) for n in names}
    per_fold: list[dict[str, float | None]] = []
    for k, (tr, te) in enumerate(folds):
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2))
        base = LogisticRegression(max_iter=2000).fit(
            vec.fit_transform([prepare(texts[i]) for i in tr]), y[tr]
        )
        scores["baseline"][te] = base.decision_function(
            vec.transform([prepare(texts[i]) for i in te])
        )
        # The shipped vocabulary comes from posts (and the other tasks' texts), not reactions.
        feat = Featurizer.fit([texts[i] for i in tr])
        tf_t = sublinear(feat.transform(texts))
        tf_r = sublinear(feat.transform(reac_texts))
        head = fit_text_head(tf_t[tr], y[tr], args.text_c)
        scores["text"][te] = head.model.decision_function(head.features(tf_t[te]))
        tr_r = tr[has_reac[tr]]
        rh = fit_reaction_head(head.idf, tf_t[tr_r], tf_r[tr_r], dense[tr_r], y[tr_r])
        te_r = te[has_reac[te]]
        scores["reactions"][te_r] = rh.model.decision_function(
            rh.matrix(tf_t[te_r], tf_r[te_r], dense[te_r])
        )
        fold: dict[str, float | None] = {}
        for n in names:
            for src in ("all", "ced", "checked"):
                idx = te if src == "all" else te[source[te] == src]
                idx = idx[~np.isnan(scores[n][idx])]
                fold[f"{n}_{src}"] = auc(y[idx], scores[n][idx])
        per_fold.append(fold)
        print(
            f"fold {k + 1}: n_test={len(te)} "
            + " ".join(f"{key}={v:.4f}" for key, v in fold.items() if v is not None)
        )
    # How far the sources differ (distribution shift): can the text alone tell CED from
    # CHECKED? A pooled AUC over both sources rewards that, so figures are per source.
    src_y = (source == "checked").astype(int)
    src_oof = np.zeros(len(rows))
    for tr, te in folds:
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2))
        lr = LogisticRegression(max_iter=2000).fit(
            vec.fit_transform([prepare(texts[i]) for i in tr]), src_y[tr]
        )
        src_oof[te] = lr.decision_function(vec.transform([prepare(texts[i]) for i in te]))
    print(
        f"source_separability_auc (text -> ced/checked, baseline model)={auc(src_y, src_oof):.4f}"
    )
    print("mean over folds:")
    for key in per_fold[0]:
        vals = [f[key] for f in per_fold if f[key] is not None]
        print(f"  {key}={np.mean(vals):.4f} (sd {np.std(vals):.4f})")
    print(f"seconds={time.perf_counter() - started:.0f}")


if __name__ == "__main__":
    main()
