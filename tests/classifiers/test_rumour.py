"""Rumour model: near-duplicate groups never straddle folds; reactions raise the score and
the prediction says which signals did."""

from __future__ import annotations

import numpy as np

from classifiers.pipeline import Pipeline
from classifiers.rumour import (
    doubt_words_in,
    grouped_folds,
    near_duplicate_groups,
    reaction_stats,
    reaction_text,
)

RUMOUR = (
    "人间惨剧：今天下午约14点，宁波妇儿医院，一妇女携带一婴儿在住院楼跳楼，后抢救无效死亡。"
    "具体情况有关部门正在调查。据现场网友称妇女因小孩病重，加上负担不起昂贵的医疗费，"
    "带着刚满月的宝宝从12楼跳楼身亡。"
)


def test_near_copies_share_a_group_and_stay_in_one_fold() -> None:
    base = "紧急扩散：某市自来水厂被投毒，今晚千万不要喝自来水，请转告家人朋友"
    texts = [
        base,
        base + "！！",
        "转发：" + base,
        "今天天气不错，和朋友去公园散步，拍了很多照片",
        "市图书馆周末开放时间调整为上午九点到晚上八点",
        "新开的面馆味道一般，价格偏贵，服务还可以",
    ] * 1
    groups = near_duplicate_groups(texts)
    assert groups[0] == groups[1] == groups[2]
    assert len({groups[3], groups[4], groups[5], groups[0]}) == 4
    many = texts + [f"普通的日常帖子第{i}条：今天吃了{i}个苹果，心情很好" for i in range(20)]
    labels = ["1", "1", "1", "0", "0", "0"] + ["0"] * 20
    g = near_duplicate_groups(many)
    for train, test in grouped_folds(g, labels, k=3):
        assert not set(g[train]) & set(g[test])


def test_reaction_features_read_channel_metadata() -> None:
    extra = {
        "reactions": [{"text": "这是谣言吧"}, "真的假的？", "太可怕了"],
        "reactions_total": 205,
    }
    assert reaction_text(extra) == "这是谣言吧\n真的假的？\n太可怕了"
    total, share, doubt = reaction_stats(extra)
    assert np.isclose(total, np.log1p(205)) and np.isclose(share, 2 / 3) and doubt > 0
    assert doubt_words_in(extra) == ["谣言", "假的", "真的假的"]
    assert reaction_text({"reposts": 3}) is None and reaction_stats(None) is None


def test_doubting_reactions_raise_the_score_and_are_named(pipeline: Pipeline) -> None:
    calm = {"reactions": ["[蜡烛]", "太可怜了", "一路走好"] * 5, "reactions_total": 15}
    doubt = {
        "reactions": ["谣言吧，官方已经辟谣了", "假的，别转了", "这是假消息", "已辟谣"] * 4,
        "reactions_total": 16,
    }
    plain, with_calm, with_doubt = pipeline.predict([RUMOUR] * 3, engagement=[None, calm, doubt])
    assert pipeline.models.rumour_reactions is not None
    assert with_doubt.rumour_score > with_calm.rumour_score
    assert with_doubt.rumour_score > 0.5
    signals = " ".join(with_doubt.rumour_signals)
    assert "质疑评论" in signals or "评论/转发内容" in signals
    # Other labels do not depend on reactions.
    assert with_doubt.topic == plain.topic and with_doubt.request_type == plain.request_type
    assert with_doubt.to_dict()["rumour_signals"] == list(with_doubt.rumour_signals)
