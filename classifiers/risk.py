"""Risk tier A 普通 / B 重要 / C 敏感 from editable word lists and the model scores.

The tier decides which review levels a reply needs (先审后发, 三审: DESIGN §4). Word lists
are plain text (``词<TAB>类别``) copied into every bundle; an office's administrator can edit
them, and :meth:`RiskRules.from_dir` / :meth:`RiskRules.from_words` load edited lists without
retraining. Matching is one Aho-Corasick pass (pyahocorasick) over the normalised text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from classifiers.text import normalise

__all__ = ["DEFAULT_WORDLIST_DIR", "PII_PATTERNS", "RiskRules", "find_pii", "read_wordlist"]

DEFAULT_WORDLIST_DIR = Path(str(resources.files("classifiers") / "resources" / "wordlists"))
WORDLIST_FILES = {"C": "tier_c.txt", "B": "tier_b.txt"}
_TIER_ORDER = {"A": 0, "B": 1, "C": 2}

#: Personal data that must never be published unmasked (DESIGN §4).
PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "身份证号": re.compile(r"(?<!\d)\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx](?!\d)"),
    "手机号": re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),
    "银行卡号": re.compile(r"(?<!\d)(?:62|4\d|5[1-5])\d{14,17}(?!\d)"),
}


_LONG_NUMBER = re.compile(r"\d{11}")


def find_pii(text: str) -> tuple[str, ...]:
    """Kinds of unmasked personal data found in ``text`` (身份证号, 手机号, 银行卡号)."""
    if not _LONG_NUMBER.search(text):
        return ()
    found = []
    for kind, pattern in PII_PATTERNS.items():
        if pattern.search(text):
            found.append(kind)
            # An ID number is not also a bank-card number or a phone number.
            text = pattern.sub(" ", text)
    return tuple(found)


def read_wordlist(path: Path) -> list[tuple[str, str]]:
    """``(word, category)`` pairs of a word-list file (``#`` comments, blank lines skipped)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, category = line.partition("\t")
        word = normalise(word).lower()
        if word:
            out.append((word, category.strip() or "风险词"))
    return out


@dataclass
class RiskRules:
    """Word lists plus the score thresholds that raise a tier (all settings)."""

    words: Mapping[str, Iterable[tuple[str, str]]]
    settings: dict[str, float] = field(default_factory=dict)
    _automaton: Any = field(default=None, repr=False)

    DEFAULTS: ClassVar[dict[str, float]] = {
        "rumour_b": 0.7,  # rumour suspicion that makes an item 重要
        "rumour_c": 0.9,  # … and 敏感
        "negative_b": 0.05,  # sentiment_score at or below this (very negative) → 重要
    }

    def __post_init__(self) -> None:
        import ahocorasick

        self.settings = {**self.DEFAULTS, **(self.settings or {})}
        automaton = ahocorasick.Automaton()
        for tier, pairs in self.words.items():
            for word, category in pairs:
                previous = automaton.get(word, None)
                if previous is None or _TIER_ORDER[tier] > _TIER_ORDER[previous[0]]:
                    automaton.add_word(word, (tier, word, category))
        if len(automaton):
            automaton.make_automaton()
        self._automaton = automaton

    @classmethod
    def from_dir(cls, directory: Path | str, settings: dict[str, float] | None = None) -> RiskRules:
        """Load ``tier_c.txt`` and ``tier_b.txt`` from ``directory``."""
        d = Path(directory)
        words = {
            t: read_wordlist(d / name) for t, name in WORDLIST_FILES.items() if (d / name).is_file()
        }
        return cls(words, settings or {})

    @classmethod
    def from_words(
        cls,
        sensitive: Iterable[str | tuple[str, str]] = (),
        important: Iterable[str | tuple[str, str]] = (),
        settings: dict[str, float] | None = None,
    ) -> RiskRules:
        """Build from word lists kept elsewhere (e.g. an administrator's table)."""

        def pairs(items: Iterable[str | tuple[str, str]]) -> list[tuple[str, str]]:
            out = []
            for item in items:
                word, category = (item, "风险词") if isinstance(item, str) else item
                if normalise(word):
                    out.append((normalise(word).lower(), category))
            return out

        return cls({"C": pairs(sensitive), "B": pairs(important)}, settings or {})

    def matches(self, text: str) -> list[tuple[str, str, str]]:
        """``(tier, word, category)`` of every distinct word found in normalised ``text``."""
        if not len(self._automaton):
            return []
        seen: dict[str, tuple[str, str, str]] = {}
        for _, hit in self._automaton.iter(text.lower()):
            seen.setdefault(hit[1], hit)
        return list(seen.values())

    def assess(
        self,
        text: str,
        *,
        rumour_score: float,
        sentiment: str,
        sentiment_score: float,
        request_type: str,
    ) -> tuple[str, tuple[str, ...]]:
        """Tier and the Chinese reasons an officer sees, most serious first.

        ``text`` should be normalised (:func:`classifiers.text.normalise`).
        """
        s = self.settings
        reasons: list[tuple[int, str]] = []
        for tier, word, category in self.matches(text):
            label = "敏感词" if tier == "C" else "重要词"
            reasons.append((_TIER_ORDER[tier], f"含{label}「{word}」（{category}）"))
        if rumour_score >= s["rumour_c"]:
            reasons.append((2, f"疑似谣言（可疑度 {rumour_score:.2f}）"))
        elif rumour_score >= s["rumour_b"]:
            reasons.append((1, f"可能涉及不实信息（可疑度 {rumour_score:.2f}）"))
        if request_type == "举报":
            reasons.append((1, "举报类诉求"))
        if sentiment == "negative" and sentiment_score <= s["negative_b"]:
            reasons.append((1, "情绪强烈负面"))
        if not reasons:
            return "A", ()
        reasons.sort(key=lambda r: -r[0])
        tier = "ABC"[reasons[0][0]]
        return tier, tuple(r for _, r in reasons)
