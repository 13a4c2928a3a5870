"""SnowNLP's naive Bayes sentiment model, retrained on our data and applied fast.

Training goes through SnowNLP's own API: a :class:`snownlp.sentiment.Sentiment` whose
``handle`` (tokenisation) is replaced by character uni/bigrams, trained with
``Sentiment.train(neg_docs, pos_docs)`` and written with ``Sentiment.save`` into the model
bundle (``sentiment.marshal.3``, SnowNLP's own file format). Nothing is read from the
model SnowNLP ships in site-packages.

Scoring does not import SnowNLP (importing it loads its segmenter and tagger: 2.6 s).
:class:`FastBayes` reads the saved marshal file and evaluates exactly the formula of
``snownlp.classification.bayes.Bayes.classify`` as one sparse product::

    log P(pos|d) - log P(neg|d) = log(T_pos/T_neg)
                                  + sum_w [log c_pos(w) - log c_neg(w)]      (c = add-one counts)
                                  - |d| · [log T_pos - log T_neg]           (T = add-one totals)

``tests/classifiers/test_sentiment.py`` checks it against SnowNLP's ``classify``.
"""

from __future__ import annotations

import gzip
import marshal
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from classifiers.text import Featurizer, char_grams, prepare

__all__ = ["MARSHAL_NAME", "FastBayes", "train_snownlp_bayes"]

#: SnowNLP appends ".3" to the name under Python 3.
MARSHAL_NAME = "sentiment.marshal"


def train_snownlp_bayes(
    featurizer: Featurizer, neg_docs: Sequence[str], pos_docs: Sequence[str], path: Path | None
) -> FastBayes:
    """Train SnowNLP's sentiment Bayes with SnowNLP's API; save to ``path`` (+ ".3") if given.

    Returns the fast scorer of the trained model.
    """
    from snownlp.sentiment import Sentiment

    vocab = featurizer.unibi_terms()

    class CharSentiment(Sentiment):  # type: ignore[misc]
        def handle(self, doc: str) -> list[str]:
            return [g for g in char_grams(prepare(doc)) if g in vocab]

    model = CharSentiment()
    model.train(list(neg_docs), list(pos_docs))
    if path is not None:
        model.save(str(path))
    return FastBayes.from_counts(featurizer, _as_plain(model.classifier))


def _as_plain(bayes: object) -> dict:
    return {
        "total": bayes.total,  # type: ignore[attr-defined]
        "d": {k: v.__dict__ for k, v in bayes.d.items()},  # type: ignore[attr-defined]
    }


class FastBayes:
    """Vectorised evaluation of a SnowNLP Bayes sentiment model over the shared features."""

    def __init__(self, weights: np.ndarray, per_token: float, prior: float, n_unibi: int) -> None:
        self.weights = weights
        self.per_token = per_token
        self.prior = prior
        self.n_unibi = n_unibi

    @classmethod
    def load(cls, featurizer: Featurizer, path: Path) -> FastBayes:
        """Read a model saved by SnowNLP's ``Sentiment.save`` (gzip + marshal, name + ".3")."""
        with gzip.open(f"{path}.3", "rb") as fh:
            data = marshal.loads(fh.read())  # noqa: S302 - our own bundle file
        return cls.from_counts(featurizer, data)

    @classmethod
    def from_counts(cls, featurizer: Featurizer, data: dict) -> FastBayes:
        """Build from SnowNLP's saved structure (``{"total", "d": {class: AddOneProb}}``)."""
        pos, neg = data["d"]["pos"], data["d"]["neg"]
        n_unibi = featurizer.n_unibi
        weights = np.zeros(featurizer.n_features)
        for j in range(n_unibi):
            term = featurizer.term(j)
            cp = pos["d"].get(term, pos["none"])
            cn = neg["d"].get(term, neg["none"])
            if cp != cn:
                weights[j] = math.log(cp) - math.log(cn)
        per_token = -(math.log(pos["total"]) - math.log(neg["total"]))
        prior = math.log(pos["total"]) - math.log(neg["total"])
        return cls(weights, per_token, prior, n_unibi)

    def log_odds(self, counts: sp.csr_matrix) -> np.ndarray:
        """log P(pos)/P(neg) for rows of raw n-gram counts (not tf-idf)."""
        tokens = np.asarray(counts[:, : self.n_unibi].sum(axis=1)).ravel()
        return self.prior + counts @ self.weights + tokens * self.per_token

    def prob_positive(self, counts: sp.csr_matrix) -> np.ndarray:
        """SnowNLP's ``Sentiment.classify`` value (P(positive)) for each row."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.log_odds(counts), -500, 500)))
