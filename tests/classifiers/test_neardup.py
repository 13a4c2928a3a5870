"""Near-duplicate index: real re-posts attach, unrelated messages do not."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from classifiers.neardup import NearDuplicateIndex, evaluate_pairs, exact_jaccard

ROOT = Path(__file__).resolve().parents[2]


def _hot(ids: set[str]) -> dict[str, str]:
    path = ROOT / "data" / "gov_hot" / "messages_with_votes.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        return {r["留言编号"]: r["留言详情"] for r in csv.DictReader(fh) if r["留言编号"] in ids}


def test_real_repost_attaches_and_unrelated_is_new() -> None:
    """Two gov_hot letters with the same body (和包支付) attach; a different letter does not."""
    rows = _hot({"200667", "285619", "189739"})
    idx = NearDuplicateIndex(attach_threshold=0.8, suggest_threshold=0.5)
    idx.add("case-200667", rows["200667"])
    idx.add("case-189739", rows["189739"])
    decision, key, sim = idx.decide(rows["285619"])
    assert (decision, key) == ("attach", "case-200667")
    assert sim >= 0.8
    assert all(k != "case-189739" for k, _ in idx.query(rows["285619"]))


def test_edited_copy_is_suggested_between_thresholds() -> None:
    """A copy with a changed half lands between the thresholds: suggested, not attached."""
    base = (
        "A市A3区魏家坡小区脏乱差，多次向社区反映都得不到解决，"
        "小区停车混乱没有消防通道，绿化带破烂不堪路灯倒了无人管"
    )
    edited = base[:34] + "现在物业也撤走了，垃圾没人清运，夏天蚊虫很多，希望领导关注"
    idx = NearDuplicateIndex(attach_threshold=0.8, suggest_threshold=0.3)
    idx.add(1, base)
    hits = idx.query(edited)
    assert hits and hits[0][0] == 1
    assert 0.3 <= hits[0][1] < 0.8
    assert idx.decide(edited)[0] == "suggest"
    assert exact_jaccard(base, edited) == pytest.approx(hits[0][1], abs=0.15)


def test_query_is_sorted_best_first_and_remove_works() -> None:
    """Results are best first; removed and evicted items are gone."""
    idx = NearDuplicateIndex(attach_threshold=0.9, suggest_threshold=0.3, max_items=2)
    text = "请问社保卡在哪里补办，需要带什么材料，多久可以拿到新卡"
    idx.add("a", text)
    idx.add("b", text + "，谢谢")
    sims = [s for _, s in idx.query(text)]
    assert sims == sorted(sims, reverse=True)
    idx.remove("a")
    assert "a" not in idx
    idx.add("c", "完全不同的内容：学校附近道路拥堵严重")
    idx.add("d", "另一条：公交站台没有遮雨棚")
    assert len(idx) == 2 and "b" not in idx  # oldest evicted first


def test_thresholds_are_validated() -> None:
    """suggest ≤ attach is required."""
    with pytest.raises(ValueError, match="threshold"):
        NearDuplicateIndex(attach_threshold=0.4, suggest_threshold=0.6)


def test_index_recovers_exact_jaccard_pairs_on_government_data() -> None:
    """On 800 real messages the LSH index finds nearly all pairs above the attach threshold."""
    path = ROOT / "data" / "gov_hot" / "messages_with_votes.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        texts = [r["留言详情"] for _, r in zip(range(800), csv.DictReader(fh), strict=False)]
    m = evaluate_pairs(texts)
    assert m["attach_true_pairs"] > 0
    assert m["attach_recall"] >= 0.9
    assert m["attach_precision"] >= 0.9
