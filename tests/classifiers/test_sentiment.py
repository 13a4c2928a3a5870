"""SnowNLP's retrained Bayes model: shipped in the bundle, applied exactly and fast."""

from __future__ import annotations

import math

import pytest

from classifiers.pipeline import Pipeline
from classifiers.snowbayes import MARSHAL_NAME, FastBayes
from classifiers.text import char_grams, prepare

TEXTS = [
    "太开心了，今天收到了期待已久的礼物[哈哈]",
    "气死我了，排了两个小时的队还没办成[怒]",
    "请问社保卡在哪里补办？",
    "小区垃圾成堆臭气熏天，物业不管",
]


def test_bundle_ships_snownlp_model_file(pipeline: Pipeline) -> None:
    """The retrained model is SnowNLP's own file format, inside the bundle."""
    assert pipeline.path is not None
    assert (pipeline.path / f"{MARSHAL_NAME}.3").is_file()


def test_fast_bayes_equals_snownlp_classify(pipeline: Pipeline) -> None:
    """The vectorised scorer gives SnowNLP's ``Bayes.classify`` probability exactly."""
    from snownlp.classification.bayes import Bayes

    assert pipeline.path is not None
    featurizer = pipeline.models.featurizer
    snow = Bayes()
    snow.load(str(pipeline.path / MARSHAL_NAME))  # SnowNLP's own loader
    fast = FastBayes.load(featurizer, pipeline.path / MARSHAL_NAME)
    vocab = featurizer.unibi_terms()
    probs = fast.prob_positive(featurizer.transform(TEXTS))
    for text, p in zip(TEXTS, probs, strict=True):
        tokens = [g for g in char_grams(prepare(text)) if g in vocab]
        label, prob = snow.classify(tokens)
        expected = prob if label == "pos" else 1 - prob
        assert math.isclose(p, expected, rel_tol=1e-9, abs_tol=1e-12)
    # The copy pickled into model.joblib is the same model.
    assert fast.log_odds(featurizer.transform(TEXTS)) == pytest.approx(
        pipeline.models.bayes.log_odds(featurizer.transform(TEXTS))
    )


def test_bayes_takes_part_in_the_decision(pipeline: Pipeline) -> None:
    """Polarity features are scaled by the SnowNLP model's log-count ratios."""
    import numpy as np

    m = pipeline.models
    scale = m.polarity.post_scale
    assert scale is not None
    n = m.featurizer.n_unibi
    assert np.allclose(scale[:n], np.abs(m.bayes.weights[:n]))


def test_bayes_separates_obvious_cases(pipeline: Pipeline) -> None:
    """Retrained on Weibo, Bayes alone already orders praise above anger."""
    featurizer = pipeline.models.featurizer
    p = pipeline.models.bayes.prob_positive(featurizer.transform(TEXTS[:2]))
    assert p[0] > p[1]
