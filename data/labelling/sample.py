"""Draw the request-type (诉求类型) gold-set sample — deterministic, seed fixed.

Run from the repository root::

    python data/labelling/sample.py

Reads the three government-message files shipped in ``data/`` (with
``classifiers.tabular.read_table``), de-duplicates them (exact, then near-duplicates by
MinHash over character 3-grams, ``classifiers.neardup``), drops every text already in
``tests/classifiers/data/request_type_gold.csv`` (exactly or nearly the same), and draws
``SAMPLE_SIZE`` messages stratified by source x topic, with a modest over-sampling of
messages whose subject or body carries a 求助 or 举报 cue (see ``CUE_WEIGHTS``), so that
the rare classes get enough held-out examples. Writes:

- ``data/labelling/request_type_sample.csv``: id, source, topic, subject, text
- ``data/labelling/request_type_sample_meta.csv``: id, stratum, topic_origin, cue, weight,
  inclusion weight inputs for anyone who wants to re-weight estimates to the population
- ``data/labelling/batches/batch_NN.txt``: 100 messages each, ``id | subject | body[:500]``

``topic``: the 一级标签 for ``gov_topic`` rows (``topic_origin=label``); the other two sources
carry no topic, so a TF-IDF + logistic regression trained on ``gov_topic`` guesses one for
stratification only (``topic_origin=predicted``). That guess is never a label.
"""

from __future__ import annotations

import csv
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from classifiers.data import dedupe_key  # noqa: E402
from classifiers.neardup import MinHasher, band_keys, lsh_bands, similarity  # noqa: E402
from classifiers.tabular import iter_dicts, read_table  # noqa: E402
from classifiers.text import normalise  # noqa: E402

SEED = 20261201
SAMPLE_SIZE = 1600
BATCH_SIZE = 100
NEAR_DUP_THRESHOLD = 0.7  # estimated Jaccard of character 3-gram sets
OUT_DIR = ROOT / "data" / "labelling"
GOLD_230 = ROOT / "tests" / "classifiers" / "data" / "request_type_gold.csv"

# Cues that a message may be a 举报 / 求助 (subject or body). Matching raises the message's
# sampling weight; it never labels anything. Weights are modest so the sample stays close
# to the population: a cue message is at most twice as likely to be drawn. The 举报 cue is
# broad (违法 occurs in ~17 % of messages), so it gets the smaller weight.
JUBAO_CUE = re.compile(
    r"举报|违建|违章建|违法|非法|偷排|偷倒|私自|无证|黑作坊|传销|赌博|赌场|套取|贪污|骗取|虚报|冒领"
)
QIUZHU_CUE = re.compile(
    r"求助|帮帮|救救|求求|走投无路|无法生活|生活困难|家庭困难|重病|残疾|低保|讨薪|"
    r"拖欠.{0,8}(工资|薪|工钱|血汗钱)|(工资|工钱|血汗钱).{0,6}(拖欠|不发|没发|未发)"
)
CUE_WEIGHTS = {"举报": 1.5, "求助": 2.0, "": 1.0}


def _table(path: Path) -> list[dict[str, object]]:
    return list(iter_dicts(read_table(path.read_bytes(), path.name)))


def load_pool() -> list[dict[str, str]]:
    """All messages of the three sources, gov_topic first (it carries a real topic)."""
    rows: list[dict[str, str]] = []
    for r in _table(ROOT / "data" / "gov_topic" / "train.csv"):
        rows.append(
            {
                "id": f"topic:{r['id']}",
                "source": "topic",
                "topic": str(r["label"] or ""),
                "topic_origin": "label",
                "subject": normalise(str(r.get("subject") or "")),
                "text": normalise(str(r["text"] or "")),
            }
        )
    for source, rel in (
        ("replies", "gov_replies/messages_with_replies.csv"),
        ("hot", "gov_hot/messages_with_votes.csv"),
    ):
        for r in _table(ROOT / "data" / rel):
            rows.append(
                {
                    "id": f"{source}:{r['留言编号']}",
                    "source": source,
                    "topic": "",
                    "topic_origin": "predicted",
                    "subject": normalise(str(r.get("留言主题") or "")),
                    "text": normalise(str(r.get("留言详情") or "")),
                }
            )
    return [r for r in rows if len(r["text"]) >= 5]


def predict_topics(rows: list[dict[str, str]]) -> None:
    """Fill ``topic`` of unlabelled rows with a guess, for stratification only."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train = [r for r in rows if r["topic_origin"] == "label"]
    todo = [r for r in rows if r["topic_origin"] == "predicted"]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x = vec.fit_transform([r["subject"] + " " + r["text"] for r in train])
    clf = LogisticRegression(max_iter=1000, C=4.0)
    clf.fit(x, [r["topic"] for r in train])
    pred = clf.predict(vec.transform([r["subject"] + " " + r["text"] for r in todo]))
    for r, t in zip(todo, pred, strict=True):
        r["topic"] = str(t)


def near_duplicate_groups(texts: list[str]) -> list[int]:
    """A group id per text: texts linked by estimated Jaccard >= threshold share one."""
    hasher = MinHasher(num_perm=128, seed=1)
    sigs = hasher.signatures(texts)
    bands, rows_per_band = lsh_bands(NEAR_DUP_THRESHOLD, 128)
    keys = band_keys(sigs, bands, rows_per_band)
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for b in range(bands):
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, k in enumerate(keys[:, b].tolist()):
            buckets[k].append(i)
        for members in buckets.values():
            for j in members[1:]:
                i = members[0]
                if similarity(sigs[i], sigs[j]) >= NEAR_DUP_THRESHOLD:
                    ri, rj = find(i), find(j)
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(len(texts))]


def cue(row: dict[str, str]) -> str:
    s = row["subject"] + " " + row["text"]
    if JUBAO_CUE.search(s):
        return "举报"
    if QIUZHU_CUE.search(s):
        return "求助"
    return ""


def main() -> None:
    pool = load_pool()
    n_raw = len(pool)
    # Exact duplicates: first occurrence wins (gov_topic rows come first).
    seen: set[str] = set()
    unique = []
    for r in pool:
        k = dedupe_key(r["text"])
        if k and k not in seen:
            seen.add(k)
            unique.append(r)
    with open(GOLD_230, encoding="utf-8", newline="") as fh:
        old_gold = [normalise(r["text"]) for r in csv.DictReader(fh)]
    # Near-duplicates, computed together with the 230 old gold texts so that a message
    # nearly the same as one of them is excluded too.
    texts = [r["text"] for r in unique] + old_gold
    groups = near_duplicate_groups(texts)
    old_groups = set(groups[len(unique) :])
    old_keys = {dedupe_key(t) for t in old_gold}
    kept, taken = [], set()
    n_old = n_near = 0
    for r, g in zip(unique, groups[: len(unique)], strict=True):
        if g in old_groups or dedupe_key(r["text"]) in old_keys:
            n_old += 1
            continue
        if g in taken:
            n_near += 1
            continue
        taken.add(g)
        kept.append(r)
    predict_topics(kept)
    for r in kept:
        r["cue"] = cue(r)
        r["weight"] = str(CUE_WEIGHTS[r["cue"]])
        r["stratum"] = f"{r['source']}/{r['topic']}"

    # Proportional allocation over source x topic strata (largest remainder).
    strata: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in kept:
        strata[r["stratum"]].append(r)
    total = len(kept)
    quotas = {s: SAMPLE_SIZE * len(m) / total for s, m in strata.items()}
    alloc = {s: int(q) for s, q in quotas.items()}
    for s in sorted(quotas, key=lambda s: (-(quotas[s] - alloc[s]), s))[
        : SAMPLE_SIZE - sum(alloc.values())
    ]:
        alloc[s] += 1

    # Within a stratum: weighted sampling without replacement (Efraimidis-Spirakis keys
    # u ** (1 / w)), so a cue message is drawn with higher, but not certain, probability.
    rng = random.Random(SEED)
    sample: list[dict[str, str]] = []
    for s in sorted(strata):
        members = sorted(strata[s], key=lambda r: r["id"])
        keyed = [(rng.random() ** (1.0 / float(r["weight"])), r["id"], r) for r in members]
        keyed.sort(key=lambda t: (-t[0], t[1]))
        sample.extend(r for _, _, r in keyed[: alloc[s]])
    rng.shuffle(sample)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / "request_type_sample.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "source", "topic", "subject", "text"])
        for r in sample:
            w.writerow([r["id"], r["source"], r["topic"], r["subject"], r["text"]])
    with open(OUT_DIR / "request_type_sample_meta.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "stratum", "topic_origin", "cue", "weight", "stratum_size", "drawn"])
        for r in sample:
            w.writerow(
                [
                    r["id"],
                    r["stratum"],
                    r["topic_origin"],
                    r["cue"],
                    r["weight"],
                    len(strata[r["stratum"]]),
                    alloc[r["stratum"]],
                ]
            )
    batch_dir = OUT_DIR / "batches"
    batch_dir.mkdir(exist_ok=True)
    for old in batch_dir.glob("batch_*.txt"):
        old.unlink()
    for b in range(0, len(sample), BATCH_SIZE):
        lines = [
            f"{r['id']} | {r['subject'] or '(无主题)'} | {r['text'][:500]}"
            for r in sample[b : b + BATCH_SIZE]
        ]
        name = batch_dir / f"batch_{b // BATCH_SIZE + 1:02d}.txt"
        name.write_text("\n".join(lines) + "\n", encoding="utf-8")

    cue_pool = Counter(r["cue"] for r in kept)
    cue_sample = Counter(r["cue"] for r in sample)
    print(
        f"rows read {n_raw}; exact-unique {len(unique)}; near-dup dropped {n_near}; "
        f"overlapping the 230-message gold set dropped {n_old}; pool {total}"
    )
    print("pool by source:", dict(Counter(r["source"] for r in kept)))
    print("sample by source:", dict(Counter(r["source"] for r in sample)))
    print("cue share pool:", {k or "none": round(v / total, 3) for k, v in cue_pool.items()})
    share = {k or "none": round(v / len(sample), 3) for k, v in cue_sample.items()}
    print("cue share sample:", share)
    print("strata:", len(strata), "sample size:", len(sample))


if __name__ == "__main__":
    main()
