"""FAQ search quality on the gov_replies data: precision@3 of our search vs the baseline.

Entries: 留言主题 as the question, 答复意见 as the answer (one entry per distinct subject).
Queries: 留言详情, the citizen's full message; the right answer is the entry made from the
same row. Queries are split by a hash of 留言编号 into a development half (used to tune
``SearchSettings``) and a held-out half (reported). Every query searches all entries.

Baseline (the issue's): character 2–3-gram TF-IDF cosine over question + answer.

    .venv/bin/python bench/faq_quality.py [--split test|dev|all]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from classifiers.faq_search import FaqIndex, SearchSettings, char_ngrams  # noqa: E402

DATA = os.path.join(ROOT, "data", "gov_replies", "messages_with_replies.csv")


def load(path: str = DATA) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(entries, queries): entries (key, question, answer); queries (id, text, split)."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    entries: list[tuple[str, str, str]] = []
    by_subject: dict[str, str] = {}
    queries: list[tuple[str, str, str]] = []
    for row in rows:
        subject = row["留言主题"].strip()
        key = by_subject.get(subject)
        if key is None:
            key = by_subject[subject] = row["留言编号"].strip()
            entries.append((key, subject, row["答复意见"]))
        digest = hashlib.sha256(row["留言编号"].encode()).digest()[0]
        split = "test" if digest % 2 else "dev"
        queries.append((key, row["留言详情"], split))
    return entries, queries


def precision_at(rankings: list[list[str]], truth: list[str], k: int = 3) -> float:
    """Share of queries whose own entry is among the first ``k`` results."""
    hits = sum(1 for r, t in zip(rankings, truth, strict=True) if t in r[:k])
    return hits / len(truth) if truth else 0.0


def baseline_rankings(entries, queries, k: int = 3) -> list[list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True)
    m = vec.fit_transform([q + " " + a for _, q, a in entries])
    qm = vec.transform([" ".join(t.split()) for _, t, _ in queries])
    sims = (qm @ m.T).toarray()
    keys = [e[0] for e in entries]
    return [[keys[i] for i in np.argsort(-row)[:k]] for row in sims]


def our_rankings(entries, queries, settings: SearchSettings | None = None, k: int = 3):
    index = FaqIndex.build(entries, settings)
    return [[key for key, _ in index.search(t, k)] for _, t, _ in queries]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="test", choices=["test", "dev", "all"])
    args = parser.parse_args()
    entries, queries = load()
    if args.split != "all":
        queries = [q for q in queries if q[2] == args.split]
    truth = [q[0] for q in queries]
    t0 = time.perf_counter()
    base = precision_at(baseline_rankings(entries, queries), truth)
    t1 = time.perf_counter()
    ours = precision_at(our_rankings(entries, queries), truth)
    t2 = time.perf_counter()
    print(f"entries={len(entries)} queries={len(queries)} split={args.split}")
    print(f"baseline_char23_tfidf_p_at_3={base:.4f} ({t1 - t0:.1f}s)")
    print(f"faq_search_p_at_3={ours:.4f} ({t2 - t1:.1f}s)")


if __name__ == "__main__":
    _ = char_ngrams  # the analyzer the index uses, imported so a rename breaks this bench
    main()
