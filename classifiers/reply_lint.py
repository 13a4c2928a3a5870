"""Pre-publish lint of a reply: personal data, outside links and e-mails, wrong/sensitive words.

Nothing is published with an unmasked ID-card, phone or bank number, a sensitive word or a
commercial link (DESIGN §4, 先审后发). :func:`lint` returns every finding with its exact
character span in the text as written, so a reviewer sees where it is and can apply a
one-click mask (:func:`apply_mask`).

Rules (issue 13):

- ``id_card``: 18-character resident ID numbers (last may be X/x) with a real birth date
  and a valid GB 11643 check digit; 15-digit old numbers (region code 1…8) with a real
  19YY date.
- ``mobile``: 11 digits from 13–19, also as 138 0013 8000 / 138-0013-8000 and with a
  +86 / 86- / 0086 prefix (the prefix is part of the span). Landlines start with 0 and the
  12345 hotline has five digits, so neither can match.
- ``bank_card``: 16–19 digits (groups of four separated by spaces or dashes allowed),
  Luhn-valid, starting like a card (3 JCB, 4 Visa, 5 and 2221-2720 Mastercard, 6
  UnionPay, 9 domestic cards) and not a valid ID number. Order numbers usually start with
  a year (20…) or 1, which keeps most of them out; this goes beyond the issue's rule on
  purpose (one random number in ten passes Luhn).
- ``email`` / ``link``: addresses and URLs (with or without a scheme, IP hosts too) whose
  host is not an allowed domain or one of its subdomains (default ``gov.cn``).
- A number inside a longer run of digits, letters or a decimal (``1.5``, ``192.168…``) is
  not a match; digits inside an e-mail address or URL are not reported separately.
- ``word``: wrong and sensitive words (错敏词) from a :class:`WordList`, one Aho-Corasick
  pass (pyahocorasick), leftmost-longest without overlaps.

Full-width characters: the text is matched through a copy in which full-width digits,
letters and the URL/e-mail punctuation (＠．：／－＋…) and the ideographic space are made
half-width. The mapping is one character to one character, so every offset in the copy is
the offset in the original text and a finding's ``text`` is always ``text[start:end]`` as
written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_LINT_WORDLIST",
    "KINDS",
    "WORD_KINDS",
    "Finding",
    "LintConfig",
    "WordEntry",
    "WordList",
    "apply_mask",
    "default_wordlist",
    "host_allowed",
    "lint",
    "mask_all",
    "read_lint_wordlist",
]

KINDS = ("id_card", "mobile", "bank_card", "email", "link", "word")
#: Word kinds: 错词 has a correct form (suggestion); 敏感词 must be removed or rewritten.
WORD_KINDS = ("错词", "敏感词")

DEFAULT_LINT_WORDLIST = Path(
    str(resources.files("classifiers") / "resources" / "wordlists" / "lint_words.txt")
)


@dataclass(frozen=True)
class Finding:
    """One problem in a reply, at ``text[start:end]`` (character offsets)."""

    kind: str  # id_card|mobile|bank_card|email|link|word
    start: int
    end: int
    text: str
    message: str  # Simplified Chinese, shown to the user
    suggestion: str | None = None  # for words: the correct form
    mask: str | None = None  # masked replacement for personal data

    def as_dict(self) -> dict[str, Any]:
        """The contract's shape: kind, start, end, text."""
        return {"kind": self.kind, "start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class WordEntry:
    """One row of a word list."""

    word: str
    kind: str  # 错词 | 敏感词
    suggestion: str | None = None


# --------------------------------------------------------------------------- normalisation

# Full-width characters that can be part of a number, an e-mail address or a URL, made
# half-width one for one. Full-width ，；：！？（） stay: they end an address in Chinese text
# ("网址：www.x.com", "www.x.com：0731-…" must not read as a port).
_FW_KEEP = "０１２３４５６７８９＠．／－＋％＿＝＆＃～"
_TRANSLATE: dict[int, int] = {ord(c): ord(c) - 0xFEE0 for c in _FW_KEEP}
_TRANSLATE.update({cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)})  # Ａ-Ｚ
_TRANSLATE.update({cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)})  # ａ-ｚ
_TRANSLATE.update({0x3000: 0x20, 0x00A0: 0x20, 0x2002: 0x20, 0x2003: 0x20, 0x2009: 0x20})
# Dashes people type between digit groups.
_TRANSLATE.update({0x2010: 0x2D, 0x2011: 0x2D, 0x2012: 0x2D, 0x2013: 0x2D, 0x2212: 0x2D})
_ASCII_LOWER = {cp: cp + 32 for cp in range(0x41, 0x5B)}


def _fold(text: str) -> str:
    """Half-width copy of ``text`` with exactly the same length (offsets stay valid)."""
    return text.translate(_TRANSLATE)


# ---------------------------------------------------------------------------- links, e-mail

# URLs are ASCII in running text (anything else is percent-encoded), so a URL ends at the
# first Chinese character or symbol (℃, ㎡, full-width punctuation).
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#@!$&()*+,;=%]"  # no [ ]: IPv6 hosts only
_TRAILING = ".,;:!?)]}'\"*-_~%"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
# Top-level domains recognised without a scheme or www (a bare "附件.doc" or "Co.Ltd" is
# not a link).
_TLDS = (
    "com|cn|net|org|gov|edu|info|biz|io|cc|co|me|tv|top|xyz|vip|shop|club|online|site|"
    "store|tech|app|wang|ink|xin|hk|tw|mo|us|uk|jp|kr|de|ru|fr|mobi|asia|icu|cloud"
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IP = rf"{_OCTET}(?:\.{_OCTET}){{3}}"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])"
    r"[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,63}[A-Za-z0-9_%+\-])?"
    rf"@((?:{_LABEL}\.)+[A-Za-z]{{2,24}})(?![A-Za-z0-9\-])"
)
_URL_WITH_SCHEME = re.compile(rf"(?i)(?<![A-Za-z])(?:https?|ftp)://{_URL_CHARS}+")
_URL_BARE = re.compile(
    r"(?<![A-Za-z0-9@.\-_/])"
    rf"(?:(?i:www)\.(?:{_LABEL}\.)*[A-Za-z]{{2,24}}|(?:{_LABEL}\.)+(?i:{_TLDS})|(?P<ip>{_IP}))"
    r"(?![A-Za-z0-9\-]|\.[0-9])"
    rf"(?P<rest>(?::[0-9]{{1,5}}(?![0-9]))?(?:[/?#]{_URL_CHARS}*)?)"
)
_HOST_OF_URL = re.compile(r"(?i)^(?:(?:https?|ftp)://)?(?:[^/?#@]*@)?([^/?#:]+)")
_EMBEDDED_SCHEME = re.compile(r"(?i)(?<!=)(?:https?|ftp)://")
# "https://x.com/.27", "…/-2012": the tail of a number the URL was glued to, not a path.
_NUMBER_TAIL = re.compile(r"/[.\-][0-9][0-9.\-]*$")


def _bare_ip_is_link(ip: str) -> bool:
    """A bare dotted quad without port or path: "121.41.105.198" is a host, while clause
    and building lists ("5.0.2.3", "46.47.48.87", "105.104.103.102") are not."""
    octets = [int(o) for o in ip.split(".")]
    steps = {b - a for a, b in pairwise(octets)}
    if steps in ({1}, {-1}):
        return False
    return octets[0] == 10 or any(o >= 100 for o in octets)


def host_allowed(host: str, allowed_domains: Iterable[str]) -> bool:
    """Whether ``host`` is one of ``allowed_domains`` or a subdomain of one."""
    host = host.lower().rstrip(".")
    for domain in allowed_domains:
        d = domain.lower().strip().lstrip(".").rstrip(".")
        if d and (host == d or host.endswith("." + d)):
            return True
    return False


def _strip_trailing(folded: str, start: int, end: int) -> int:
    """End offset without trailing sentence punctuation (and unbalanced closing brackets)."""
    while end > start and folded[end - 1] in _TRAILING:
        if folded[end - 1] == ")" and folded.count("(", start, end) >= folded.count(
            ")", start, end
        ):
            break
        end -= 1
    return end


def _split_embedded(folded: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split "https://a.com/https://b.com/" (two URLs run together) at the second scheme;
    a scheme after "=" is a parameter (?url=https://…) and stays."""
    cuts = [m.start() for m in _EMBEDDED_SCHEME.finditer(folded, start + 1, end)]
    bounds = [start, *cuts, end]
    return [(a, b) for a, b in pairwise(bounds) if b > a]


def _host_end(folded: str, start: int, end: int) -> int:
    """Offset of the first "/" after the host (or ``end``)."""
    scheme = folded.find("://", start, end)
    host_start = scheme + 3 if scheme != -1 else start
    slash = folded.find("/", host_start, end)
    return slash if slash != -1 else end


def _find_addresses(
    text: str, folded: str, allowed: tuple[str, ...]
) -> tuple[list[Finding], list[tuple[int, int]]]:
    """E-mail and link findings, plus the spans of every address (allowed ones too)."""
    findings: list[Finding] = []
    spans: list[tuple[int, int]] = []

    def taken(s: int, e: int) -> bool:
        return any(s < te and ts < e for ts, te in spans)

    for m in _EMAIL.finditer(folded):
        s, e = m.span()
        spans.append((s, e))
        domain = m.group(1).lower()
        if host_allowed(domain, allowed):
            continue
        findings.append(
            Finding(
                "email",
                s,
                e,
                text[s:e],
                f"电子邮箱地址（{domain}）不在允许的域名内，发布前须删除或遮盖",
                mask=_mask_email(text[s:e]),
            )
        )
    candidates: list[tuple[int, int]] = []
    for m in _URL_WITH_SCHEME.finditer(folded):
        candidates.extend(_split_embedded(folded, m.start(), m.end()))
    for m in _URL_BARE.finditer(folded):
        if m.group("ip") and not m.group("rest") and not _bare_ip_is_link(m.group("ip")):
            continue
        candidates.extend(_split_embedded(folded, m.start(), m.end()))
    for s, raw_end in candidates:
        e = _strip_trailing(folded, s, raw_end)
        tail = _NUMBER_TAIL.search(folded, s, e)
        if tail and tail.start() == _host_end(folded, s, e):
            e = tail.start() + 1
        if e <= s or taken(s, e):
            continue
        spans.append((s, e))
        hm = _HOST_OF_URL.match(folded[s:e])
        host = hm.group(1).lower() if hm else ""
        if not host or host_allowed(host, allowed):
            continue
        findings.append(
            Finding(
                "link",
                s,
                e,
                text[s:e],
                f"链接（{host}）不在允许的域名内，不得发布外部或商业链接，请删除",
            )
        )
    return findings, spans


# --------------------------------------------------------------------------------- numbers

# A run of digit groups joined by single spaces or dashes, optionally led by "+" and
# optionally ending in X (the ID check character).
_RUN = re.compile(r"(\+)?[0-9]+(?:[ \-][0-9]+)*([Xx])?")
_GROUP = re.compile(r"[0-9]+")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_MOBILE_SHAPES = frozenset({(11,), (3, 4, 4), (3, 8), (7, 4), (4, 4, 3), (4, 3, 4)})
_ID18_SHAPES = frozenset({(18,), (6, 8, 4), (6, 4, 4, 4), (4, 4, 4, 4, 2), (6, 6, 6)})
_ID15_SHAPES = frozenset({(15,), (6, 6, 3)})
_CARD_FIRST = frozenset("34569")  # and Mastercard's 2221-2720 (see _card_prefix)
_PRIORITY = {"id_card": 0, "bank_card": 1, "mobile": 2}


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def valid_id18(number: str) -> bool:
    """GB 11643: a real birth date and the check digit of an 18-character ID.

    The region code is not checked: codes change with every redistricting, and with the
    date and the check digit only about one random 18-digit number in a million passes."""
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        return False
    if not _real_date(int(number[6:10]), int(number[10:12]), int(number[12:14])):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def valid_id15(number: str) -> bool:
    """Old 15-digit ID: a region code starting 1-8 and a real 19YY birth date."""
    if len(number) != 15 or not number.isascii() or not number.isdigit():
        return False
    if number[0] not in "12345678":
        return False
    return _real_date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))


def luhn_valid(number: str) -> bool:
    """Luhn (mod 10) check of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_prefix(digits: str) -> bool:
    """Card-scheme first digits: 3 JCB, 4 Visa, 5 Mastercard, 6 UnionPay, 9 domestic
    debit cards, and Mastercard's 2221-2720; dated order numbers (20…) stay out."""
    return digits[0] in _CARD_FIRST or 2221 <= int(digits[:4]) <= 2720


def _card_shape(shape: tuple[int, ...]) -> bool:
    if len(shape) == 1:
        return True
    return all(n == 4 for n in shape[:-1]) and 1 <= shape[-1] <= 4


def _glued_before(folded: str, pos: int) -> bool:
    """Whether the character before ``pos`` continues a longer token (letter, digit, 1.5)."""
    if pos == 0:
        return False
    c = folded[pos - 1]
    if c.isascii() and c.isalnum():
        return True
    return c == "." and pos >= 2 and folded[pos - 2].isascii() and folded[pos - 2].isdigit()


def _glued_after(folded: str, pos: int) -> bool:
    if pos >= len(folded):
        return False
    c = folded[pos]
    if c.isascii() and c.isalnum():
        return True
    return (
        c == "."
        and pos + 1 < len(folded)
        and folded[pos + 1].isascii()
        and folded[pos + 1].isdigit()
    )


_MESSAGES = {
    "id_card": "疑似身份证号码，发布前须遮盖",
    "mobile": "疑似手机号码，发布前须遮盖",
    "bank_card": "疑似银行卡号，发布前须遮盖",
}


def _classify_run(
    folded: str, run: re.Match[str]
) -> list[tuple[str, int, int]]:  # (kind, start, end)
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(folded, run.start(), run.end())]
    plus = run.group(1) is not None
    has_x = run.group(2) is not None
    candidates: list[tuple[str, int, int]] = []
    n = len(groups)
    for i in range(n):
        first_start = groups[i][0]
        if i == 0 and not plus and _glued_before(folded, first_start):
            continue
        digits = ""
        for j in range(i, min(n, i + 6)):
            gs, ge = groups[j]
            digits += folded[gs:ge]
            if len(digits) > 19:
                break
            shape = tuple(ge2 - gs2 for gs2, ge2 in groups[i : j + 1])
            at_end = j == n - 1
            end = ge
            x = has_x and at_end
            if at_end and not x and _glued_after(folded, ge):
                continue
            if at_end and x and _glued_after(folded, ge + 1):
                continue
            led_by_plus = i == 0 and plus
            # ID numbers (the X belongs to them)
            if x:
                id_shape = (*shape[:-1], shape[-1] + 1)
                if id_shape in _ID18_SHAPES and valid_id18(digits + "X") and not led_by_plus:
                    candidates.append(("id_card", first_start, ge + 1))
                continue  # a number followed by a letter is something else
            if led_by_plus:
                # +86 13800138000, +86 138 0013 8000, +8613800138000
                if digits.startswith("86") and len(digits) == 13 and shape[0] in (2, 13):
                    rest = shape[1:] if shape[0] == 2 else (11,)
                    if rest in _MOBILE_SHAPES and _mobile(digits[2:]):
                        candidates.append(("mobile", first_start - 1, end))
                continue
            if shape in _ID18_SHAPES and valid_id18(digits):
                candidates.append(("id_card", first_start, end))
                continue
            if shape in _ID15_SHAPES and valid_id15(digits):
                candidates.append(("id_card", first_start, end))
                continue
            if _mobile_reading(shape, digits):
                candidates.append(("mobile", first_start, end))
            if (
                16 <= len(digits) <= 19
                and _card_shape(shape)
                and _card_prefix(digits)
                and luhn_valid(digits)
                and not (len(digits) == 18 and valid_id18(digits))
            ):
                candidates.append(("bank_card", first_start, end))
    return candidates


def _mobile(digits: str) -> bool:
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"


def _mobile_reading(shape: tuple[int, ...], digits: str) -> bool:
    """A mobile number as written, optionally led by a separate 86 / 0086 group."""
    if shape in _MOBILE_SHAPES and _mobile(digits):
        return True
    return (
        len(shape) > 1
        and digits[: shape[0]] in ("86", "0086")
        and shape[1:] in _MOBILE_SHAPES
        and _mobile(digits[shape[0] :])
    )


def _find_numbers(text: str, folded: str, skip: list[tuple[int, int]]) -> list[Finding]:
    out: list[Finding] = []
    for run in _RUN.finditer(folded):
        candidates = _classify_run(folded, run)
        if not candidates:
            continue
        # The longest reading wins (a card is not also a phone); then ID > card > mobile.
        candidates.sort(key=lambda c: (-(c[2] - c[1]), _PRIORITY[c[0]], c[1]))
        chosen: list[tuple[str, int, int]] = []
        for kind, s, e in candidates:
            if any(s < ce and cs < e for _, cs, ce in chosen):
                continue
            if any(s < te and ts < e for ts, te in skip):
                continue
            chosen.append((kind, s, e))
        for kind, s, e in chosen:
            out.append(
                Finding(kind, s, e, text[s:e], _MESSAGES[kind], mask=_mask_number(kind, text[s:e]))
            )
    return out


# --------------------------------------------------------------------------------- masking


def _mask_digits(value: str, keep_head: int, keep_tail: int) -> str:
    """Replace digits (and the ID check X) between the first ``keep_head`` and the last
    ``keep_tail`` with ``*``, keeping spaces, dashes and the +86 prefix as written."""
    folded = _fold(value)
    positions = [i for i, c in enumerate(folded) if c.isdigit() or c in "Xx"]
    hide = set(positions[keep_head : len(positions) - keep_tail])
    return "".join("*" if i in hide else c for i, c in enumerate(value))


def _mask_number(kind: str, value: str) -> str:
    if kind == "mobile":
        folded = _fold(value)
        digits = [i for i, c in enumerate(folded) if c.isdigit()]
        # Keep the country prefix as written: mask the middle four of the last 11 digits.
        hide = set(digits[-8:-4])
        return "".join("*" if i in hide else c for i, c in enumerate(value))
    return _mask_digits(value, 4, 4)


def _mask_email(value: str) -> str:
    at = _fold(value).index("@")
    local = value[:at]
    return (local[:1] + "***" if len(local) > 1 else "*") + value[at:]


def apply_mask(text: str, finding: Finding) -> str:
    """``text`` with ``finding`` replaced by its mask (personal data) or its correct form
    (a wrong word). Raises ``ValueError`` when the finding has neither, or when the text
    changed since it was linted (the span no longer holds ``finding.text``)."""
    replacement = finding.mask if finding.mask is not None else finding.suggestion
    if replacement is None:
        raise ValueError("该问题没有可一键替换的内容，请手工修改")
    if text[finding.start : finding.end] != finding.text:
        raise ValueError("文本已修改，请重新检查")
    return text[: finding.start] + replacement + text[finding.end :]


def mask_all(text: str, findings: Iterable[Finding]) -> str:
    """``text`` with every finding that has a mask or a correct form replaced.

    Findings without one (links, sensitive words) are left for the author; overlapping
    findings are applied once (the first by position)."""
    usable = sorted(
        (f for f in findings if f.mask is not None or f.suggestion is not None),
        key=lambda f: (f.start, -f.end),
    )
    picked: list[Finding] = []
    last_end = -1
    for f in usable:
        if f.start >= last_end:
            picked.append(f)
            last_end = f.end
    for f in reversed(picked):
        text = apply_mask(text, f)
    return text


# ------------------------------------------------------------------------------ word lists


def _word_key(word: str) -> str:
    return _fold(word).translate(_ASCII_LOWER).strip()


class WordList:
    """Wrong and sensitive words (错敏词) compiled into one Aho-Corasick automaton.

    Built from rows ``(word, kind, suggestion)`` with kind 错词 (suggestion required) or
    敏感词. A later row for the same word replaces an earlier one, so an office's own list
    can override the shipped one. Matching is case-insensitive for Latin letters and
    full-width/half-width blind, and returns leftmost-longest matches without overlaps.
    """

    def __init__(self, rows: Iterable[tuple[str, str, str | None] | WordEntry]) -> None:
        import ahocorasick

        entries: dict[str, WordEntry] = {}
        for row in rows:
            entry = row if isinstance(row, WordEntry) else WordEntry(*row)
            key = _word_key(entry.word)
            if not key:
                continue
            if entry.kind not in WORD_KINDS:
                raise ValueError(
                    f"词「{entry.word}」的类别「{entry.kind}」无效（应为错词或敏感词）"
                )
            suggestion = (entry.suggestion or "").strip() or None
            if entry.kind == "错词" and not suggestion:
                raise ValueError(f"错词「{entry.word}」缺少正确写法")
            if suggestion is not None and _word_key(suggestion) == key:
                raise ValueError(f"错词「{entry.word}」的正确写法与原词相同")
            entries[key] = WordEntry(entry.word.strip(), entry.kind, suggestion)
        self._entries = entries
        automaton = ahocorasick.Automaton()
        for key, entry in entries.items():
            automaton.add_word(key, (len(key), entry))
        if entries:
            automaton.make_automaton()
        self._automaton = automaton

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and _word_key(word) in self._entries

    @property
    def entries(self) -> tuple[WordEntry, ...]:
        """The compiled rows, in insertion order."""
        return tuple(self._entries.values())

    def find(self, text: str, *, folded: str | None = None) -> list[Finding]:
        """Word findings in ``text`` (``folded``: its :func:`_fold` copy, if already made)."""
        if not self._entries or not text:
            return []
        haystack = (folded if folded is not None else _fold(text)).translate(_ASCII_LOWER)
        hits = []
        for end_index, (length, entry) in self._automaton.iter(haystack):
            hits.append((end_index - length + 1, end_index + 1, entry))
        hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
        out: list[Finding] = []
        last_end = 0
        for s, e, entry in hits:
            if s < last_end:
                continue
            last_end = e
            written = text[s:e]
            if entry.kind == "错词":
                message = f"错词「{written}」，应为「{entry.suggestion}」"
            else:
                message = f"敏感词「{written}」，不宜发布，请删除或改写" + (
                    f"（建议：{entry.suggestion}）" if entry.suggestion else ""
                )
            # A sensitive word has advice, not a correct form: no one-click replacement.
            fix = entry.suggestion if entry.kind == "错词" else None
            out.append(Finding("word", s, e, written, message, suggestion=fix))
        return out


def read_lint_wordlist(path: Path | str) -> list[WordEntry]:
    """Rows of a word-list file: ``词<TAB>类别<TAB>正确写法`` (``#`` comments skipped)."""
    out = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) < 2 or parts[1] not in WORD_KINDS:
            raise ValueError(
                f"{path} 第 {number} 行格式错误：应为「词<TAB>错词|敏感词<TAB>正确写法」"
            )
        out.append(WordEntry(parts[0], parts[1], parts[2] if len(parts) > 2 and parts[2] else None))
    return out


_DEFAULT_WORDS: WordList | None = None


def default_wordlist() -> WordList:
    """The shipped word list (``resources/wordlists/lint_words.txt``), compiled once."""
    global _DEFAULT_WORDS
    if _DEFAULT_WORDS is None:
        _DEFAULT_WORDS = WordList(read_lint_wordlist(DEFAULT_LINT_WORDLIST))
    return _DEFAULT_WORDS


# ------------------------------------------------------------------------------------ lint


@dataclass(frozen=True)
class LintConfig:
    """What to allow and which words to check."""

    allowed_domains: tuple[str, ...] = ("gov.cn",)  # domain and its subdomains
    words: WordList | None = None  # compiled Aho-Corasick automaton; None: no word check


def lint(text: str, config: LintConfig | None = None) -> list[Finding]:
    """Every finding in ``text``, sorted by start offset.

    With no ``config``, links and e-mails outside ``gov.cn`` are reported and the shipped
    word list is used. Offsets are into ``text`` as given (full-width characters included).
    """
    if config is None:
        config = LintConfig(words=default_wordlist())
    if not text:
        return []
    folded = _fold(text)
    findings, address_spans = _find_addresses(text, folded, tuple(config.allowed_domains))
    findings.extend(_find_numbers(text, folded, address_spans))
    if config.words is not None:
        findings.extend(config.words.find(text, folded=folded))
    findings.sort(key=lambda f: (f.start, f.end, KINDS.index(f.kind)))
    return findings
