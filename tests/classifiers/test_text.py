"""Normalisation and the shared n-gram features."""

from __future__ import annotations

import pytest

from classifiers.text import Featurizer, decode_key, normalise, prepare


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\n\t\t\t\t\t\n\t\t\t\t\t尊敬的领导：\u3000您好！\n\t\t\t\t", "尊敬的领导: 您好!"),
        ("ＡＢＣ１２３！？（）", "ABC123!?()"),
        ("a\u3000\u3000b", "a b"),
        ("请问&nbsp;社保卡&amp;医保卡", "请问 社保卡&医保卡"),
        ("零宽\u200b空格\ufeff", "零宽空格"),
        ("  多个   空格\r\n换行  ", "多个 空格 换行"),
        ("", ""),
        (None, ""),
        ("句号。顿号、书名号《》保留", "句号。顿号、书名号《》保留"),
    ],
)
def test_normalise(raw: str | None, expected: str) -> None:
    """Full-width ASCII becomes half-width, HTML whitespace and U+3000 collapse."""
    assert normalise(raw) == expected


def test_normalise_is_idempotent() -> None:
    """Normalising twice changes nothing (ingest may normalise stored text again)."""
    text = "\n\t\t投诉Ａ市\u3000某物业&nbsp;乱收费！！\n"
    assert normalise(normalise(text)) == normalise(text)


def test_prepare_lowercases_drops_spaces_and_truncates() -> None:
    """The models read lower-case text without spaces, at most 600 characters."""
    assert prepare("ＡＢ  Ｃd 东西") == "abcd东西"
    assert len(prepare("字" * 5000)) == 600


def test_featurizer_counts_and_decodes_ngrams() -> None:
    """Columns are 1..3-grams; counts match the text; keys decode to their strings."""
    f = Featurizer.fit(["社保卡补办", "社保卡挂失", "社保卡"], min_df=(1, 1, 1))
    m = f.transform(["社保卡补办社保"])
    terms = {f.term(j): int(v) for j, v in zip(m.indices, m.data, strict=True)}
    assert terms["社"] == 2
    assert terms["社保"] == 2
    assert terms["社保卡"] == 1
    assert terms["补办"] == 1
    assert all(decode_key(f.keys[j]) == f.term(j) for j in range(f.n_features))
    assert f.n_unigrams < f.n_unibi < f.n_features


def test_featurizer_handles_empty_and_unknown_text() -> None:
    """Empty texts and texts with no known n-gram give empty rows, not errors."""
    f = Featurizer.fit(["社保卡"])
    m = f.transform(["", "🙂🙂", "社保卡"])
    assert m.shape == (3, f.n_features)
    assert m[0].nnz == 0 and m[1].nnz == 0 and m[2].nnz > 0


def _reference_normalise(text: str | None) -> str:
    """The original formulation: translate every character, collapse ``\\s+`` runs."""
    import html
    import re

    from classifiers.text import _TRANSLATE

    if not text:
        return ""
    if "&" in text:
        text = html.unescape(text)
    return re.sub(r"\s+", " ", text.translate(_TRANSLATE)).strip()


def test_normalise_equals_the_reference_on_every_code_point() -> None:
    """The faster normalise (translating runs, split/join) changes no character's fate."""
    from classifiers.text import normalise

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(chars), 4096):
        chunk = "".join(chars[start : start + 4096])
        assert normalise(chunk) == _reference_normalise(chunk)
        # Each character between letters, so leading/trailing handling is exercised too.
        spaced = "a" + "a".join(chars[start : start + 512]) + "a"
        assert normalise(spaced) == _reference_normalise(spaced)
    samples = ("", None, " \u3000x\u200b\ufeff ", "&nbsp;物业&amp;（１）\n\t费", "\u00a0\u2002")
    for text in samples:
        assert normalise(text) == _reference_normalise(text)
