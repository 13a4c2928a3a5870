"""The pre-publish lint as the review flow uses it (issue 13).

The library (``classifiers/reply_lint.py``) finds personal data, foreign links and wrong
or sensitive words; ``services/lint_words.py`` builds its configuration from the word
lists and settings. This module runs it on a reply's text and turns findings into the
error that blocks a step.
"""

from __future__ import annotations

from typing import Any

from sentinel.errors import ValidationFailed

KIND_LABELS = {
    "id_card": "身份证号",
    "mobile": "手机号",
    "bank_card": "银行卡号",
    "email": "电子邮箱",
    "link": "外部链接",
    "word": "错敏词",
}


def findings(text: str) -> list[Any]:
    """Every lint finding in ``text`` (character offsets), in text order."""
    from sentinel.services import lint_words

    # The office's configuration: word lists from the database plus the shipped list,
    # and the allowed domains setting (cached, invalidated when the lists change).
    return sorted(lint_words.lint_text(text), key=lambda f: (f.start, f.end))


class LintBlocked(ValidationFailed):
    """Lint findings block a review step; ``details`` lists them for the page."""

    def __init__(self, found: list[Any], step: str) -> None:
        kinds = "、".join(dict.fromkeys(KIND_LABELS.get(f.kind, f.kind) for f in found))
        super().__init__(
            f"发现 {len(found)} 处问题（{kinds}），请处理后再{step}",
            details=[
                {"kind": f.kind, "start": f.start, "end": f.end, "message": f.message}
                for f in found
            ],
        )
        self.findings = found


def spans(text: str, found: list[Any]) -> list[tuple[str, Any]]:
    """``text`` cut into (piece, finding or None) so a page can mark each exact span.
    Overlapping findings: the first one in text order wins the overlap."""
    out: list[tuple[str, Any]] = []
    pos = 0
    for f in found:
        if f.start < pos:
            continue
        if f.start > pos:
            out.append((text[pos : f.start], None))
        out.append((text[f.start : f.end], f))
        pos = f.end
    if pos < len(text):
        out.append((text[pos:], None))
    return out
