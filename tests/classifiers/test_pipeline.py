"""The pipeline on real examples, its output shape, and lazy loading."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from classifiers.bundle import BundleError
from classifiers.pipeline import Pipeline, Prediction, get_pipeline

CONSULTATION = "请问社保卡在哪里补办？"
COMPLAINT = (
    "投诉A市某物业公司乱收停车费，业主多次反映无人处理，小区垃圾成堆臭气熏天，"
    "物业态度恶劣，严重影响居民生活，强烈要求有关部门严查！"
)
# CED rumour (data/rumours/train.csv, ced, label 1) and an ordinary CED post (label 0).
RUMOUR = (
    "人间惨剧：今天下午约14点，宁波妇儿医院，一妇女携带一婴儿在住院楼跳楼，后抢救无效死亡。"
    "具体情况有关部门正在调查。据现场网友称妇女因小孩病重，加上负担不起昂贵的医疗费，"
    "带着刚满月的宝宝从12楼跳楼身亡。[蜡烛] 底层民众的医疗费用猛于虎，国人的性命其何等脆弱！[泪]"
)
ORDINARY = "今天天气不错，和朋友去公园散步，拍了几张照片，晚上回家做了红烧肉。"


def test_consultation_is_neutral(pipeline: Pipeline) -> None:
    """A citizen's question is neither praise nor complaint (shipped SnowNLP: negative)."""
    p = pipeline.predict([CONSULTATION])[0]
    assert p.sentiment == "neutral"
    assert 0.3 <= p.sentiment_score <= 0.7
    assert p.request_type == "咨询"


def test_complaint_is_negative(pipeline: Pipeline) -> None:
    """A complaint about a property company stays negative and is typed 投诉."""
    p = pipeline.predict([COMPLAINT])[0]
    assert p.sentiment == "negative"
    assert p.sentiment_score < 0.5
    assert p.request_type == "投诉"
    assert p.sentiment_terms, "a label must say which terms weighed most"


def test_praise_is_positive(pipeline: Pipeline) -> None:
    """Weibo-style praise is positive."""
    p = pipeline.predict(["太开心了，今天收到了期待已久的礼物，谢谢大家[哈哈]"])[0]
    assert p.sentiment == "positive"
    assert p.sentiment_score > 0.5


def test_known_rumour_scores_above_ordinary_post(pipeline: Pipeline) -> None:
    """A reported CED rumour is more suspicious than an everyday post."""
    rumour, ordinary = pipeline.predict([RUMOUR, ORDINARY])
    assert rumour.rumour_score > ordinary.rumour_score
    assert rumour.risk_tier == "C"  # 跳楼 / 身亡 are sensitive words
    assert any("跳楼" in r for r in rumour.risk_reasons)


def test_topic_routes_a_social_security_question(pipeline: Pipeline) -> None:
    """A pension question goes to 劳动和社会保障, with terms that explain why."""
    p = pipeline.predict(["咨询养老保险断缴以后怎么补缴，退休金会不会受影响"])[0]
    assert p.topic == "劳动和社会保障"
    assert 0.0 <= p.topic_confidence <= 1.0
    assert p.topic_terms
    assert all(len(t) >= 2 for t in p.topic_terms)


def test_needs_person_threshold_is_a_setting(pipeline: Pipeline) -> None:
    """The "needs a person" flag follows the threshold passed in."""
    text = "咨询养老保险断缴以后怎么补缴"
    assert pipeline.predict([text], topic_threshold=1.01)[0].topic_needs_person
    assert not pipeline.predict([text], topic_threshold=0.0)[0].topic_needs_person


def test_prediction_is_frozen_and_serialises(pipeline: Pipeline) -> None:
    """Predictions are immutable and ``to_dict`` has the JSONL fields of the issue."""
    p = pipeline.predict([CONSULTATION])[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.topic = "x"  # type: ignore[misc]
    d = p.to_dict("42")
    for key in (
        "id",
        "topic",
        "topic_confidence",
        "sentiment",
        "sentiment_score",
        "request_type",
        "rumour_score",
        "risk_tier",
        "model_version",
    ):
        assert key in d
    assert d["id"] == "42"
    assert d["model_version"] == pipeline.version
    json.dumps(d, ensure_ascii=False)


def test_batch_keeps_order_and_handles_empty_text(pipeline: Pipeline) -> None:
    """One prediction per text, in order; empty text gives a neutral 其他 placeholder."""
    preds = pipeline.predict([COMPLAINT, "", CONSULTATION])
    assert [p.sentiment for p in preds] == ["negative", "neutral", "neutral"]
    assert preds[1].request_type == "其他"
    assert pipeline.predict([]) == []


def test_engagement_changes_only_rumour_score(pipeline: Pipeline) -> None:
    """Engagement fields feed the rumour score and nothing else."""
    plain = pipeline.predict([RUMOUR])[0]
    eng = pipeline.predict(
        [RUMOUR],
        engagement=[
            {
                "reposts": 225,
                "comments": 55,
                "likes": 0,
                "user_verified": False,
                "user_followers": 227833,
            }
        ],
    )[0]
    assert eng.topic == plain.topic and eng.sentiment == plain.sentiment
    assert 0.0 <= eng.rumour_score <= 1.0
    with pytest.raises(ValueError, match="one entry per text"):
        pipeline.predict([RUMOUR, ORDINARY], engagement=[{}])


def test_pii_is_reported(pipeline: Pipeline) -> None:
    """Unmasked phone and ID numbers are flagged for the publishing lint."""
    p = pipeline.predict(["我的电话13812345678，身份证430102199001011234，请回电"])[0]
    assert set(p.pii) == {"手机号", "身份证号"}


def test_get_pipeline_caches_per_process(models_dir: Path, pipeline: Pipeline) -> None:
    """The same active version loads once."""
    assert get_pipeline(models_dir) is get_pipeline(models_dir)


def test_get_pipeline_without_bundle_says_what_to_do(tmp_path: Path) -> None:
    """An empty models directory is a clear error, in Chinese."""
    with pytest.raises(BundleError, match="sentinel train"):
        get_pipeline(tmp_path)


def test_importing_classifiers_loads_no_model_or_web_stack() -> None:
    """``import classifiers`` (and its light modules) loads no model and no Flask/DB/Redis."""
    code = (
        "import sys, classifiers, classifiers.pipeline, classifiers.neardup, classifiers.text,"
        " classifiers.bundle, classifiers.cli;"
        "bad = [m for m in ('flask', 'sqlalchemy', 'redis', 'sentinel', 'snownlp', 'jieba',"
        " 'joblib', 'sklearn', 'datasketch') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_prediction_fields_are_the_documented_ones() -> None:
    """The field set the spine relies on is stable."""
    names = {f.name for f in dataclasses.fields(Prediction)}
    assert {
        "topic",
        "topic_confidence",
        "topic_needs_person",
        "topic_terms",
        "sentiment",
        "sentiment_score",
        "sentiment_terms",
        "request_type",
        "rumour_score",
        "risk_tier",
        "risk_reasons",
        "model_version",
    } <= names


def test_request_model_reads_the_closing_of_a_long_letter(pipeline: Pipeline) -> None:
    """The request type sees the last REQUEST_TAIL_CHARS characters too (issue 16): a
    closing beyond MAX_MODEL_CHARS changes the request model's rows, not the topic's."""
    import numpy as np

    from classifiers.heads import sublinear
    from classifiers.text import MAX_MODEL_CHARS, REQUEST_TAIL_CHARS, normalise

    m = pipeline.models
    assert m.request_tail_idf is not None
    story = "我家楼下的路灯坏了，晚上出行很不方便，" * (MAX_MODEL_CHARS // 10)
    texts = [story + "请问这种情况该找哪个部门？", story + "恳请领导帮忙协调解决！"]
    normalised = [normalise(t) for t in texts]
    tf = sublinear(m.featurizer.transform(texts))
    x = m.request_features(tf, normalised).toarray()
    assert x.shape[1] == 2 * m.featurizer.n_features
    head, tail = x[:, : m.featurizer.n_features], x[:, m.featurizer.n_features :]
    assert np.allclose(head[0], head[1])  # the first MAX_MODEL_CHARS are the same
    assert not np.allclose(tail[0], tail[1])
    assert len(texts[0]) > MAX_MODEL_CHARS + REQUEST_TAIL_CHARS
