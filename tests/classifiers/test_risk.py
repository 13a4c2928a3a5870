"""Risk tiers from editable word lists and scores."""

from __future__ import annotations

from pathlib import Path

from classifiers.pipeline import Pipeline
from classifiers.risk import DEFAULT_WORDLIST_DIR, RiskRules, find_pii, read_wordlist


def _assess(rules: RiskRules, text: str, **kw: object) -> tuple[str, tuple[str, ...]]:
    args = {
        "rumour_score": 0.0,
        "sentiment": "neutral",
        "sentiment_score": 0.5,
        "request_type": "咨询",
        **kw,
    }
    return rules.assess(text, **args)  # type: ignore[arg-type]


def test_default_lists_give_tiers_with_chinese_reasons() -> None:
    """A sensitive word makes C, an important one B, plain text A."""
    rules = RiskRules.from_dir(DEFAULT_WORDLIST_DIR)
    tier, reasons = _assess(rules, "有人在小区楼顶扬言要跳楼")
    assert tier == "C" and reasons == ("含敏感词「跳楼」（人身安全）",)
    assert _assess(rules, "公司拖欠工资三个月")[0] == "B"
    assert _assess(rules, "请问社保卡在哪里补办") == ("A", ())


def test_scores_raise_the_tier() -> None:
    """High rumour suspicion, reports and very negative text raise the tier."""
    rules = RiskRules.from_words()
    assert _assess(rules, "x", rumour_score=0.9)[0] == "C"
    assert _assess(rules, "x", rumour_score=0.75)[0] == "B"
    assert _assess(rules, "x", rumour_score=0.6)[0] == "A"
    assert _assess(rules, "x", request_type="举报")[0] == "B"
    assert _assess(rules, "x", sentiment="negative", sentiment_score=0.01)[0] == "B"


def test_reasons_list_most_serious_first() -> None:
    """Reasons are ordered C before B."""
    rules = RiskRules.from_dir(DEFAULT_WORDLIST_DIR)
    tier, reasons = _assess(rules, "记者曝光：工地发生坍塌", request_type="举报")
    assert tier == "C"
    assert reasons[0].startswith("含敏感词「坍塌」")
    assert "举报类诉求" in reasons


def test_lists_are_editable(tmp_path: Path) -> None:
    """An administrator's edited list is used without retraining; full-width input matches."""
    (tmp_path / "tier_c.txt").write_text("# 注释\n化工厂泄漏\t重大事故\n", encoding="utf-8")
    (tmp_path / "tier_b.txt").write_text("ＰＸ项目\n", encoding="utf-8")
    rules = RiskRules.from_dir(tmp_path)
    assert _assess(rules, "听说化工厂泄漏了")[0] == "C"
    assert _assess(rules, "反对px项目")[0] == "B"
    assert read_wordlist(tmp_path / "tier_b.txt") == [("px项目", "风险词")]


def test_pipeline_uses_edited_rules(pipeline: Pipeline) -> None:
    """``with_risk_rules`` swaps the lists and keeps the models."""
    edited = pipeline.with_risk_rules(RiskRules.from_words(sensitive=["社保卡"]))
    assert edited.predict(["请问社保卡在哪里补办？"])[0].risk_tier == "C"
    assert pipeline.predict(["请问社保卡在哪里补办？"])[0].risk_tier == "A"
    assert edited.models is pipeline.models


def test_find_pii() -> None:
    """Phone, ID-card and bank-card numbers are found; short numbers are not."""
    assert find_pii("电话13812345678") == ("手机号",)
    assert find_pii("身份证43010219900101123X") == ("身份证号",)
    assert find_pii("卡号6222021234567890123") == ("银行卡号",)
    assert find_pii("2019年3月10号共计14630元") == ()
