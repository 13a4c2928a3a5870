"""Request-type (诉求类型) model variants, 5-fold CV on the gold set's TRAIN split only.

Run from the repository root::

    python bench/request_type_cv.py [--variants base,tail150,...]

The held-out 30 % of ``data/labelling/request_type_gold.csv`` is never read. The folds are
the ones ``classifiers.training._request_cv`` uses (``StratifiedKFold(5, shuffle,
random_state=0)`` over the 1,121 train rows; the gold sample is already near-duplicate
free). Every training fold holds the subject-derived weak rows (weight ``--weak-weight``)
plus the fold's gold rows twice (body only and subject + body, weight 3), as training does.
Per variant it prints, body only and subject + body:

- ``acc``: accuracy of the SVM's argmax, and its per-fold values;
- ``acc_off``: with per-class offsets tuned for macro-F1 on the *other* folds' out-of-fold
  scores (nested, so the figure is not tuned on the rows it is measured on);
- ``acc_rule`` / ``acc_rule_off``: the same after the first-clause rules of the pipeline;
- per-class recall of the argmax and of the offset decision.

Variants: ``base`` (first 600 characters, what main shipped), ``tail150`` / ``tail300``
(+ the last 150 / 300 characters as a second TF-IDF block), ``last2`` (+ the last two
sentences), ``long3000`` (the first 3,000 characters instead of 600), ``cue`` (+ guideline
cue indicators: question / help / proposal / violation / own-harm / blame words in the
head, tail and last two sentences), ``tail150cue``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifiers.data import (  # noqa: E402
    dedupe_key,
    load_gov_messages,
    load_gov_topic,
    load_rumours,
    load_weibo,
    request_type_from_subject,
)
from classifiers.heads import LinearHead, sublinear  # noqa: E402
from classifiers.nbsvm import tune_class_offsets  # noqa: E402
from classifiers.pipeline import _request_rule  # noqa: E402
from classifiers.text import Featurizer, normalise  # noqa: E402
from classifiers.training import (  # noqa: E402
    GOLD_FILE,
    GOLD_WEIGHT,
    REQUEST_C,
    WEAK_WEIGHT,
    _gold_split,
    _read_gold,
    _split,
    _with_subject,
)

CLASSES = ["举报", "咨询", "建议", "投诉", "求助"]
CUES = {
    "ask": r"请问|是否|能否|可否|何时|什么时候|如何|怎么办理|怎样|哪里|多少|吗[?？]|想了解|咨询"
    r"|有没有|需要什么|[?？]",
    "help": r"求助|帮助|帮忙|帮帮|救救|困难|救助|恳请|协调|讨回|工资|欠薪|拖欠|低保|生病|患病"
    r"|医药费",
    "sugg": r"建议|希望|能否增设|增设|开通|增加|设立|呼吁|倡议|提议|规划|修建|安装",
    "jubao": r"举报|违法|违规|非法|查处|取缔|偷排|无证|赌博|传销|贪污|受贿|套取|纪委|严惩|依法",
    "harm": r"我们|我家|本人|业主|小区|我的|孩子|影响.{0,6}(生活|休息|出行)|扰民|噪音|损失|权益",
    "blame": r"不作为|推诿|踢皮球|拒绝|至今|多次|一直|无人管|没人管|要求|整改|退还|赔偿",
}
CUE_RE = {k: re.compile(v) for k, v in CUES.items()}
SENTENCE = re.compile(r"[。！!？?；;\n]")


def _last_sentences(text: str, k: int) -> str:
    parts = [s for s in SENTENCE.split(normalise(text)) if s.strip()]
    return "。".join(parts[-k:])


def _cue_rows(texts: Sequence[str]) -> sp.csr_matrix:
    rows = []
    for t in texts:
        n = normalise(t)
        head, tail, last = n[:600], n[-150:], _last_sentences(n, 2)
        f: list[float] = []
        for r in CUE_RE.values():
            f += [min(len(r.findall(head)), 3) / 3, float(bool(r.search(tail)))]
            f.append(float(bool(r.search(last))))
        rows.append(f)
    return sp.csr_matrix(np.array(rows))


class Block:
    """One feature block: raw sublinear counts (or cue indicators), task idf, l2 rows."""

    def __init__(self, fz: Featurizer, kind: str, n: int = 0, scale: float = 1.0) -> None:
        self.fz, self.kind, self.n, self.scale = fz, kind, n, scale
        self.idf: np.ndarray | None = None

    def raw(self, texts: Sequence[str]) -> sp.csr_matrix:
        if self.kind == "cue":
            return _cue_rows(texts)
        if self.kind == "head":
            docs = [normalise(t)[:600] for t in texts]
        elif self.kind == "tail":
            docs = [normalise(t)[-self.n :] for t in texts]
        elif self.kind == "last":
            docs = [_last_sentences(t, self.n) for t in texts]
        else:  # "long": the first n characters
            docs = [normalise(t)[: self.n] for t in texts]
        return sublinear(
            self.fz.transform([d.lower().replace(" ", "") for d in docs], prepared=True)
        )

    def fit(self, raw: sp.csr_matrix) -> None:
        if self.kind != "cue":
            self.idf = LinearHead.fit_idf(raw)

    def apply(self, raw: sp.csr_matrix) -> sp.csr_matrix:
        if self.kind == "cue":
            return raw * self.scale
        assert self.idf is not None
        return LinearHead.weigh(raw, self.idf) * self.scale


def variants(fz: Featurizer) -> dict[str, Callable[[], list[Block]]]:
    return {
        "base": lambda: [Block(fz, "head")],
        "tail150": lambda: [Block(fz, "head"), Block(fz, "tail", 150)],
        "tail300": lambda: [Block(fz, "head"), Block(fz, "tail", 300)],
        "last2": lambda: [Block(fz, "head"), Block(fz, "last", 2)],
        "long3000": lambda: [Block(fz, "long", 3000)],
        "cue": lambda: [Block(fz, "head"), Block(fz, "cue", scale=0.5)],
        "tail150cue": lambda: [
            Block(fz, "head"),
            Block(fz, "tail", 150),
            Block(fz, "cue", scale=0.5),
        ],
    }


def load(data_dir: Path) -> tuple[Featurizer, list[dict[str, str]], list[tuple[str, str]]]:
    """The shared featurizer (vocabulary as training builds it), gold train rows, weak rows."""
    topic = load_gov_topic(data_dir)
    messages = load_gov_messages(data_dir)
    known = {dedupe_key(m.text) for m in messages}
    messages += [m for m in topic if m.subject and dedupe_key(m.text) not in known]
    weibo_texts, weibo_labels = load_weibo(data_dir)
    topic_tr, _ = _split(topic, lambda r: r.text)
    msg_tr, _ = _split(messages, lambda r: r.text)
    wb_tr, _ = _split(list(zip(weibo_texts, weibo_labels, strict=True)), lambda r: r[0])
    vocab = [r.text for r in topic_tr] + [m.text for m in msg_tr] + [w[0] for w in wb_tr]
    vocab += [r.text for r in load_rumours(data_dir)]
    gold = _read_gold(data_dir / "labelling" / GOLD_FILE)
    gold_keys = {dedupe_key(g["text"]) for g in gold}
    gold_train, _ = _gold_split(gold)
    weak = []
    for m in msg_tr:
        lab = request_type_from_subject(m.subject)
        if lab in CLASSES and dedupe_key(m.text) not in gold_keys:
            weak.append((m.text, lab))
    return Featurizer.fit(vocab), gold_train, weak


def run(
    blocks: list[Block],
    gold_train: list[dict[str, str]],
    weak: list[tuple[str, str]],
    *,
    weak_weight: float,
    c: float,
) -> dict[str, Any]:
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    y_gold = np.array([g["label"] for g in gold_train])
    body = [g["text"] for g in gold_train]
    subj = [_with_subject(g) for g in gold_train]
    y_weak = np.array([y for _, y in weak])
    raws = [(b.raw([x for x, _ in weak]), b.raw(body), b.raw(subj)) for b in blocks]
    strata = np.where(np.isin(y_gold, CLASSES), y_gold, "rare")
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(body, strata))
    oof = {"body": np.zeros((len(body), len(CLASSES))), "subj": np.zeros((len(body), 5))}
    for tr, te in folds:
        tr = tr[np.isin(y_gold[tr], CLASSES)]
        x_tr, x_body, x_subj = [], [], []
        for b, (rw, rb, rs) in zip(blocks, raws, strict=True):
            train_raw = sp.vstack([rw, rb[tr], rs[tr]]).tocsr()
            b.fit(train_raw)
            x_tr.append(b.apply(train_raw))
            x_body.append(b.apply(rb[te]))
            x_subj.append(b.apply(rs[te]))
        y = np.concatenate([y_weak, y_gold[tr], y_gold[tr]])
        w = np.concatenate([np.full(len(weak), weak_weight), np.full(2 * len(tr), GOLD_WEIGHT)])
        svm = LinearSVC(C=c, class_weight="balanced").fit(sp.hstack(x_tr).tocsr(), y, w)
        assert list(svm.classes_) == CLASSES
        oof["body"][te] = svm.decision_function(sp.hstack(x_body).tocsr())
        oof["subj"][te] = svm.decision_function(sp.hstack(x_subj).tocsr())
    known = np.isin(y_gold, CLASSES)
    codes = np.array([CLASSES.index(c) if c in CLASSES else -1 for c in y_gold])
    offsets = np.zeros_like(oof["body"])
    for tr, te in folds:
        fit_rows = tr[known[tr]]
        offsets[te] = tune_class_offsets(oof["body"][fit_rows], codes[fit_rows])
    names = np.array(CLASSES, dtype=object)
    out: dict[str, Any] = {}
    for tag, texts in (("body", body), ("subj", subj)):
        plain = names[oof[tag].argmax(1)]
        tuned = names[(oof[tag] + offsets).argmax(1)]
        rules = [_request_rule(normalise(t)) for t in texts]
        ruled = np.array([r or p for r, p in zip(rules, plain, strict=True)], dtype=object)
        ruled_off = np.array([r or p for r, p in zip(rules, tuned, strict=True)], dtype=object)
        out[tag] = {
            "acc": round(float(np.mean(plain == y_gold)), 3),
            "acc_off": round(float(np.mean(tuned == y_gold)), 3),
            "acc_rule": round(float(np.mean(ruled == y_gold)), 3),
            "acc_rule_off": round(float(np.mean(ruled_off == y_gold)), 3),
            "folds": [round(float(np.mean(plain[te] == y_gold[te])), 3) for _, te in folds],
            "folds_off": [round(float(np.mean(tuned[te] == y_gold[te])), 3) for _, te in folds],
            "recall": {k: round(float(np.mean(plain[y_gold == k] == k)), 2) for k in CLASSES},
            "recall_off": {k: round(float(np.mean(tuned[y_gold == k] == k)), 2) for k in CLASSES},
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--variants", default="base,tail150")
    parser.add_argument("--weak-weight", type=float, default=WEAK_WEIGHT)
    parser.add_argument("--c", type=float, default=REQUEST_C)
    args = parser.parse_args()
    fz, gold_train, weak = load(Path(args.data_dir))
    table = variants(fz)
    print(f"gold train rows {len(gold_train)}, weak rows {len(weak)}", flush=True)
    for name in args.variants.split(","):
        t0 = time.perf_counter()
        res = run(table[name](), gold_train, weak, weak_weight=args.weak_weight, c=args.c)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        print(name, json.dumps(res, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
