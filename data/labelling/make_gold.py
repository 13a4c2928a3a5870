"""Build the final request-type gold set from the two passes and the adjudication.

Run from the repository root::

    python data/labelling/make_gold.py

The label of a message is the one both passes gave; where they disagreed it is the
``final`` column of ``adjudication.csv`` (every disagreement must be adjudicated, and only
disagreements may be). A fixed 70/30 ``split`` (train/heldout) is drawn per label
(stratified, ``SEED``), so each class keeps ~30 % of its messages held out; the held-out
part is for evaluation only and is never tuned on. Writes ``request_type_gold.csv``:
id, source, topic, subject, text, label, split.
"""

from __future__ import annotations

import csv
import random
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261202
HELDOUT_SHARE = 0.30


def _read(name: str) -> list[dict[str, str]]:
    with open(HERE / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def final_labels() -> dict[str, str]:
    """``id -> label`` after adjudication; refuses gaps and stray adjudications."""
    a = {r["id"]: r["label"] for r in _read("request_type_pass_a.csv")}
    b = {r["id"]: r["label"] for r in _read("request_type_pass_b.csv")}
    if set(a) != set(b):
        raise SystemExit("the passes do not cover the same messages")
    adj = {r["id"]: r for r in _read("adjudication.csv")}
    disagree = {i for i in a if a[i] != b[i]}
    if set(adj) != disagree:
        missing, stray = disagree - set(adj), set(adj) - disagree
        raise SystemExit(f"adjudication mismatch: missing {len(missing)}, stray {len(stray)}")
    for i, row in adj.items():
        if (row["pass_a"], row["pass_b"]) != (a[i], b[i]):
            raise SystemExit(f"adjudication row {i} does not match the passes")
    return {i: (adj[i]["final"] if i in adj else a[i]) for i in a}


def split(labels: dict[str, str]) -> dict[str, str]:
    """Stratified 70/30 train/heldout assignment, deterministic."""
    rng = random.Random(SEED)
    by_label: dict[str, list[str]] = defaultdict(list)
    for i, lab in labels.items():
        by_label[lab].append(i)
    out: dict[str, str] = {}
    for lab in sorted(by_label):
        ids = sorted(by_label[lab])
        rng.shuffle(ids)
        n_held = round(len(ids) * HELDOUT_SHARE)
        for k, i in enumerate(ids):
            out[i] = "heldout" if k < n_held else "train"
    return out


def main() -> None:
    labels = final_labels()
    parts = split(labels)
    sample = _read("request_type_sample.csv")
    if {r["id"] for r in sample} != set(labels):
        raise SystemExit("labels do not cover the sample")
    with open(HERE / "request_type_gold.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "source", "topic", "subject", "text", "label", "split"])
        for r in sample:
            i = r["id"]
            w.writerow([i, r["source"], r["topic"], r["subject"], r["text"], labels[i], parts[i]])
    counts = Counter((labels[i], parts[i]) for i in labels)
    print(f"{len(labels)} messages")
    for lab in sorted(
        {lab for lab, _ in counts}, key=lambda k: -sum(v for (x, _), v in counts.items() if x == k)
    ):
        tr, ho = counts[(lab, "train")], counts[(lab, "heldout")]
        print(f"{lab}: {tr + ho} (train {tr}, heldout {ho})")


if __name__ == "__main__":
    main()
