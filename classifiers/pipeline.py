"""The classification pipeline: one call classifies a batch for every model.

>>> from classifiers.pipeline import get_pipeline
>>> p = get_pipeline("instance/models")            # loads the active bundle once per process
>>> p.predict(["请问社保卡在哪里补办？"])[0].sentiment
'neutral'
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from classifiers.bundle import MODEL_FILE, BundleError, active_version, check_compatible, read_meta
from classifiers.heads import LinearHead, sublinear, top_terms
from classifiers.risk import RiskRules, find_pii
from classifiers.snowbayes import FastBayes
from classifiers.text import Featurizer, normalise, prepare, prepare_tail

__all__ = ["Models", "Pipeline", "Prediction", "clear_cache", "decide_topic", "get_pipeline"]

SENTIMENTS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Prediction:
    """Everything the models say about one text.

    ``topic_terms`` / ``sentiment_terms`` are the few terms that weighed most for the label
    ("why this label"); ``risk_reasons`` are Chinese, for the case page.
    """

    topic: str
    topic_confidence: float
    topic_needs_person: bool
    topic_terms: tuple[str, ...]
    sentiment: str  # "positive" | "neutral" | "negative"
    sentiment_score: float  # P(positive) in [0, 1]; neutral texts sit near 0.5
    sentiment_terms: tuple[str, ...]
    request_type: str  # 咨询 / 投诉 / 建议 / 求助 / 举报 / 表扬 / 其他
    request_type_confidence: float
    rumour_score: float
    risk_tier: str  # "A" 普通 | "B" 重要 | "C" 敏感
    risk_reasons: tuple[str, ...]
    pii: tuple[str, ...]  # kinds of unmasked personal data found (身份证号, 手机号, 银行卡号)
    model_version: str
    # The two most likely request types when their probabilities are closer than the
    # margin setting (best first); empty when the model is sure or a first-clause rule
    # decided. The service flags the case when the two carry different deadlines.
    request_type_alternatives: tuple[str, ...] = ()
    # Which signals raised the rumour score (Chinese, for the case page).
    rumour_signals: tuple[str, ...] = ()

    def to_dict(self, id: Any = None) -> dict[str, Any]:
        """The JSON object ``sentinel classify`` writes for one input row."""
        d = asdict(self)
        out: dict[str, Any] = {"id": id}
        for key in (
            "topic",
            "topic_confidence",
            "sentiment",
            "sentiment_score",
            "request_type",
            "rumour_score",
            "risk_tier",
            "model_version",
        ):
            out[key] = d[key]
        for key in ("topic_confidence", "sentiment_score", "rumour_score"):
            out[key] = round(float(out[key]), 4)
        out["topic_needs_person"] = self.topic_needs_person
        out["topic_terms"] = list(self.topic_terms)
        out["sentiment_terms"] = list(self.sentiment_terms)
        out["request_type_confidence"] = round(float(self.request_type_confidence), 4)
        out["risk_reasons"] = list(self.risk_reasons)
        out["pii"] = list(self.pii)
        out["request_type_alternatives"] = list(self.request_type_alternatives)
        out["rumour_signals"] = list(self.rumour_signals)
        return out


# --- request type rules ---------------------------------------------------------------------

# The writer states the purpose in the first clause (often the subject line): "投诉……",
# "关于……的咨询", "建议……". A rule that fires there wins over the model.
_FIRST_CLAUSE = re.compile(r"[。！!？?；; ]")
_RT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(p))
    for label, p in (
        ("表扬", r"表扬|感谢|致谢|点赞|赞扬|锦旗"),
        ("举报", r"举报"),
        ("投诉", r"投诉"),
        ("求助", r"求助|求救|救救|帮帮"),
        ("咨询", r"咨询|请问|询问|想了解"),
        ("建议", r"建议|呼吁|倡议"),
    )
)


def _request_rule(normalised: str) -> str | None:
    head = _FIRST_CLAUSE.split(normalised[:60], maxsplit=1)[0]
    for label, pattern in _RT_RULES:
        if pattern.search(head):
            return label
    return None


# --- engagement features for the rumour model --------------------------------------------------

ENGAGEMENT_FIELDS = ("reposts", "comments", "likes", "user_verified", "user_followers")


def engagement_vector(e: Mapping[str, Any] | None) -> list[float] | None:
    """Numeric engagement features, or ``None`` when the item has none of the fields."""
    if not e or not any(e.get(k) not in (None, "") for k in ENGAGEMENT_FIELDS):
        return None

    def num(key: str) -> float:
        try:
            return math.log1p(max(float(e.get(key) or 0), 0.0))
        except (TypeError, ValueError):
            return 0.0

    verified = str(e.get("user_verified", "")).strip().lower() in ("true", "1", "yes")
    has_followers = e.get("user_followers") not in (None, "")
    return [
        num("reposts"),
        num("comments"),
        num("likes"),
        float(verified),
        num("user_followers"),
        float(has_followers),
    ]


# --- the models container ----------------------------------------------------------------------


@dataclass
class Models:
    """Every fitted model of one bundle (pickled into ``model.joblib``)."""

    featurizer: Featurizer
    topic: LinearHead  # calibrated linear SVM; classes are the office's taxonomy
    topic_classes: list[str]
    # Logistic regression on TF-IDF features scaled by the SnowNLP Bayes model's log-count
    # ratios |log c_pos(w) − log c_neg(w)| (NBSVM, Wang & Manning 2012): the retrained
    # SnowNLP model decides how much each n-gram may count.
    polarity: LinearHead
    bayes: FastBayes  # SnowNLP Bayes retrained on Weibo (sentiment.marshal.3)
    gate: LinearHead  # P(neutral): consultation register vs opinion
    request: LinearHead
    request_classes: list[str]
    rumour: LinearHead
    rumour_engagement: Any = None  # logistic model on [text logit, engagement], or None
    # classifiers.rumour.ReactionHead for posts whose channel gave reactions, or None
    rumour_reactions: Any = None
    # Per-class offsets on the request model's scores (tuned by cross-validation on the
    # gold set for macro-F1); the label is argmax(score + offset), the calibrated
    # probabilities give the confidence. None: argmax of the probabilities.
    request_offsets: Any = None
    # TF-IDF weights of the request model's second block: the n-grams of the item's last
    # REQUEST_TAIL_CHARS characters (the closing request). None: bundles without the block.
    request_tail_idf: Any = None
    settings: dict[str, float] = field(default_factory=dict)

    DEFAULT_SETTINGS: ClassVar[dict[str, float]] = {
        "topic_threshold": 0.5,  # below: the case is marked "needs a person"
        "neutral_threshold": 0.5,  # P(neutral) at or above: sentiment is neutral
        "request_other_threshold": 0.25,  # best request-type probability below: 其他
        "request_margin": 0.15,  # top-2 request-type probabilities closer: unsure
    }

    def request_features(self, tf: Any, normalised: Sequence[str]) -> Any:
        """The request model's rows: TF-IDF of the item's first MAX_MODEL_CHARS characters
        (``tf``, the shared sublinear counts), then, when the bundle has it, TF-IDF of its
        last REQUEST_TAIL_CHARS characters (``normalised`` are the items' normalised texts)."""
        x = self.request.features(tf)
        tail_idf = getattr(self, "request_tail_idf", None)
        if tail_idf is None:
            return x
        tails = [prepare_tail(t, normalised=True) for t in normalised]
        tail_tf = sublinear(self.featurizer.transform(tails, prepared=True))
        return sp.hstack([x, LinearHead.weigh(tail_tf, tail_idf)], format="csr")

    def polarity_logit(self, tf: Any) -> tuple[np.ndarray, Any]:
        """Polarity logit (positive > 0) and the Bayes-scaled TF-IDF rows it used."""
        x = self.polarity.features(tf)
        return self.polarity.model.decision_function(x), x


def decide_topic(head: LinearHead, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated topic probabilities and the chosen class index per row.

    The label is the linear model's best score; the per-class sigmoid calibration only
    supplies the confidence (its own argmax loses about 0.007 macro-F1 on the evaluation
    split, because each class's sigmoid is fitted separately).
    """
    proba = head.model.predict_proba(x)
    scores = head.model.decision_function(x)
    chosen = scores.argmax(axis=1) if scores.ndim == 2 else (scores > 0).astype(np.int64)
    return proba, chosen


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


class Pipeline:
    """A loaded bundle. Thread-safe for ``predict`` (no shared mutable state)."""

    def __init__(
        self,
        models: Models,
        *,
        version: str,
        metrics: Mapping[str, Any] | None = None,
        risk: RiskRules | None = None,
        path: Path | None = None,
    ) -> None:
        self.models = models
        self.version = version
        self.metrics: dict[str, Any] = dict(metrics or {})
        self.settings: dict[str, float] = {**Models.DEFAULT_SETTINGS, **models.settings}
        self.risk = risk or RiskRules({})
        self.path = path

    @classmethod
    def load(cls, bundle_dir: Path | str) -> Pipeline:
        """Load one bundle directory (``<models_dir>/<version>``).

        Raises :class:`BundleError` (with the reason in Chinese) for a bundle trained by an
        older code version, before unpickling anything from it.
        """
        import joblib

        bundle_dir = Path(bundle_dir)
        meta = check_compatible(read_meta(bundle_dir.parent, bundle_dir.name))
        models: Models = joblib.load(bundle_dir / MODEL_FILE)
        risk = RiskRules.from_dir(bundle_dir / "wordlists", meta.settings.get("risk"))
        return cls(models, version=meta.version, metrics=meta.metrics, risk=risk, path=bundle_dir)

    def with_risk_rules(self, risk: RiskRules) -> Pipeline:
        """A pipeline sharing these models but using other (edited) risk word lists."""
        clone = Pipeline(
            self.models, version=self.version, metrics=self.metrics, risk=risk, path=self.path
        )
        clone.settings = dict(self.settings)
        return clone

    def predict(
        self,
        texts: Sequence[str],
        *,
        engagement: Sequence[Mapping[str, Any] | None] | None = None,
        topic_threshold: float | None = None,
        request_margin: float | None = None,
    ) -> list[Prediction]:
        """Classify ``texts`` (any length, any normalisation) in one batch.

        ``engagement`` optionally gives, per text, a mapping with any of ``reposts``,
        ``comments``, ``likes``, ``user_verified``, ``user_followers``; the rumour score then
        also uses them. ``topic_threshold`` overrides the "needs a person" setting,
        ``request_margin`` the request-type margin below which the top two are reported as
        ``request_type_alternatives``.
        """
        texts = ["" if t is None else str(t) for t in texts]
        if not texts:
            return []
        if engagement is not None and len(engagement) != len(texts):
            raise ValueError("engagement must have one entry per text")
        m = self.models
        s = self.settings
        threshold = s["topic_threshold"] if topic_threshold is None else topic_threshold
        margin = s.get("request_margin", 0.15) if request_margin is None else request_margin

        normalised = [normalise(t) for t in texts]
        prepared = [prepare(t, normalised=True) for t in normalised]
        counts = m.featurizer.transform(prepared, prepared=True)
        tf = sublinear(counts)

        # topic
        xt = m.topic.features(tf)
        topic_p, topic_i = decide_topic(m.topic, xt)

        # sentiment: polarity (TF-IDF LR + SnowNLP Bayes) and the neutral gate
        z, xp = m.polarity_logit(tf)
        p_pos = _sigmoid(z)
        xg = m.gate.features(tf)
        p_neu = m.gate.model.predict_proba(xg)[:, 1]
        score = 0.5 + (p_pos - 0.5) * (1.0 - p_neu)
        neutral = p_neu >= s["neutral_threshold"]

        # request type
        xr = m.request_features(tf, normalised)
        req_p = m.request.model.predict_proba(xr)
        offsets = getattr(m, "request_offsets", None)
        if offsets is not None:
            req_best = (m.request.model.decision_function(xr) + offsets).argmax(axis=1)
        else:
            req_best = req_p.argmax(axis=1)

        # rumour
        xu = m.rumour.features(tf)
        rum_z = m.rumour.model.decision_function(xu)
        rum = _sigmoid(rum_z)
        rumour_signals = self._rumour_signals(xu, rum_z, [()] * len(texts))
        if engagement is not None:
            self._rumour_with_engagement(engagement, prepared, tf, rum_z, rum, rumour_signals)

        terms = m.featurizer
        topic_terms = top_terms(xt, m.topic.model.class_matrix(), topic_i, terms)
        # Sentiment terms come from the gate for neutral rows, from polarity for the rest.
        neutral_rows = np.flatnonzero(neutral)
        polar_rows = np.flatnonzero(~neutral)
        s_terms_all: list[tuple[str, ...]] = [()] * len(texts)
        for rows_, head, cls in (
            (neutral_rows, m.gate, np.ones(len(neutral_rows), dtype=np.int64)),
            (polar_rows, m.polarity, (p_pos[polar_rows] >= 0.5).astype(np.int64)),
        ):
            if len(rows_):
                x_rows = (xg if head is m.gate else xp)[rows_]
                for r, t in zip(
                    rows_, top_terms(x_rows, head.model.class_matrix(), cls, terms), strict=True
                ):
                    s_terms_all[r] = t
        out = []
        empty = [not p for p in prepared]
        for i in range(len(texts)):
            if empty[i]:
                out.append(self._empty())
                continue
            ti = int(topic_i[i])
            t_conf = float(topic_p[i, ti])
            t_terms = topic_terms[i]
            s_terms = s_terms_all[i]
            if neutral[i]:
                sentiment = "neutral"
            elif p_pos[i] >= 0.5:
                sentiment = "positive"
            else:
                sentiment = "negative"
            rule = _request_rule(normalised[i])
            ri = int(req_best[i])
            alternatives: tuple[str, ...] = ()
            if rule is None and req_p.shape[1] >= 2:
                others = req_p[i].copy()
                others[ri] = -1.0
                second = int(others.argmax())
                if req_p[i, ri] - req_p[i, second] < margin:
                    alternatives = (m.request_classes[ri], m.request_classes[second])
            if rule is not None:
                request_type = rule
                r_conf = (
                    max(float(req_p[i, m.request_classes.index(rule)]), 0.9)
                    if rule in m.request_classes
                    else 0.9
                )
            elif req_p[i].max() < s["request_other_threshold"]:
                request_type, r_conf = "其他", float(1.0 - req_p[i].max())
            else:
                request_type, r_conf = m.request_classes[ri], float(req_p[i, ri])
            tier, reasons = self.risk.assess(
                normalised[i],
                rumour_score=float(rum[i]),
                sentiment=sentiment,
                sentiment_score=float(score[i]),
                request_type=request_type,
            )
            out.append(
                Prediction(
                    topic=m.topic_classes[ti],
                    topic_confidence=t_conf,
                    topic_needs_person=t_conf < threshold,
                    topic_terms=t_terms,
                    sentiment=sentiment,
                    sentiment_score=float(score[i]),
                    sentiment_terms=s_terms,
                    request_type=request_type,
                    request_type_confidence=r_conf,
                    rumour_score=float(rum[i]),
                    risk_tier=tier,
                    risk_reasons=reasons,
                    pii=find_pii(normalised[i]),
                    model_version=self.version,
                    request_type_alternatives=alternatives,
                    rumour_signals=rumour_signals[i],
                )
            )
        return out

    def _rumour_signals(
        self, xu: Any, rum_z: np.ndarray, out: list[tuple[str, ...]]
    ) -> list[tuple[str, ...]]:
        """The post's terms that raised the text model's score (suspicious rows only)."""
        m = self.models
        rows = np.flatnonzero(rum_z > 0)
        if len(rows):
            ones = np.ones(len(rows), dtype=np.int64)
            found = top_terms(xu[rows], m.rumour.model.class_matrix(), ones, m.featurizer, k=3)
            for r, terms in zip(rows, found, strict=True):
                if terms:
                    out[r] = ("正文用语：" + "、".join(terms),)
        return out

    def _rumour_with_engagement(
        self,
        engagement: Sequence[Mapping[str, Any] | None],
        prepared: Sequence[str],
        tf: Any,
        rum_z: np.ndarray,
        rum: np.ndarray,
        signals: list[tuple[str, ...]],
    ) -> None:
        """Rescore posts that came with reactions (comments/reposts) or engagement counts,
        in place, and say which signals raised the score."""
        from classifiers.rumour import dense_vector, reaction_text

        m = self.models
        reactions = getattr(m, "rumour_reactions", None)
        reac_rows = [
            i for i, e in enumerate(engagement) if reactions is not None and reaction_text(e)
        ]
        if reac_rows:
            texts = [prepare(reaction_text(engagement[i]) or "") for i in reac_rows]
            tf_r = sublinear(m.featurizer.transform(texts, prepared=True))
            dense = np.vstack([dense_vector(engagement[i]) for i in reac_rows])
            x = reactions.matrix(tf[reac_rows], tf_r, dense)
            p = reactions.model.predict_proba(x)[:, 1]
            for i, pi, sig in zip(reac_rows, p, reactions.signals(x, m.featurizer), strict=True):
                rum[i] = pi
                signals[i] = sig
        done = set(reac_rows)
        if m.rumour_engagement is None:
            return
        for i, e in enumerate(engagement):
            vec = engagement_vector(e) if i not in done else None
            if vec is None:
                continue
            rum[i] = m.rumour_engagement.predict_proba([[rum_z[i], *vec]])[0, 1]
            coef = m.rumour_engagement.coef[0]
            names = ("转发数", "评论数", "点赞数", "认证用户", "粉丝数", "有粉丝数")
            raised = [n for n, c, v in zip(names, coef[1:], vec, strict=True) if c * v > 0.5]
            signals[i] = signals[i] + tuple(raised)

    def _empty(self) -> Prediction:
        return Prediction(
            topic="",
            topic_confidence=0.0,
            topic_needs_person=True,
            topic_terms=(),
            sentiment="neutral",
            sentiment_score=0.5,
            sentiment_terms=(),
            request_type="其他",
            request_type_confidence=0.0,
            rumour_score=0.0,
            risk_tier="A",
            risk_reasons=(),
            pii=(),
            model_version=self.version,
        )


# --- per-process cache ---------------------------------------------------------------------------

_cache: dict[tuple[str, str], Pipeline] = {}
_lock = threading.Lock()


def get_pipeline(models_dir: str | Path) -> Pipeline:
    """The pipeline of the active version in ``models_dir``, loaded once per process.

    Reads the ``ACTIVE`` pointer on every call (one small file), so an activation or a
    rollback is picked up by the next call without restarting the process.
    """
    root = Path(models_dir).resolve()
    version = active_version(root)
    if version is None:
        raise BundleError(f"没有可用的模型：{root} 中尚未训练或激活模型（运行 sentinel train）")
    key = (str(root), version)
    with _lock:
        pipeline = _cache.get(key)
        if pipeline is None:
            pipeline = Pipeline.load(root / version)
            # Keep only the newest version of each directory in memory.
            for k in [k for k in _cache if k[0] == key[0]]:
                del _cache[k]
            _cache[key] = pipeline
    return pipeline


def clear_cache() -> None:
    """Forget loaded pipelines (tests, or to free memory)."""
    with _lock:
        _cache.clear()
