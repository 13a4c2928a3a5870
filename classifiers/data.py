"""Loading the shipped data sets and deriving weak labels.

All readers take the data directory (the project's ``data/``) so that tests and offices can
point at their own copies. Rows are de-duplicated on normalised text before any split: the
government boards hold many re-posts of the same letter, and duplicates across folds would
flatter every figure.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from classifiers.text import normalise

__all__ = [
    "REQUEST_TYPES",
    "GovMessage",
    "RumourRow",
    "data_hash",
    "dedupe_key",
    "load_gov_messages",
    "load_gov_topic",
    "load_rumours",
    "load_weibo",
    "request_type_from_subject",
    "sentiment_from_subject",
]

#: 诉求类型, in the order the triage screen lists them.
REQUEST_TYPES: tuple[str, ...] = ("咨询", "投诉", "建议", "求助", "举报", "表扬", "其他")

# Order matters: the first rule that matches a subject wins. 反映/质疑 … are complaints in
# 12345 practice; 能否/可否 usually propose a change ("能否加开一趟…").
_SUBJECT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern))
    for label, pattern in (
        ("表扬", r"表扬|感谢|致谢|点赞|赞扬|锦旗"),
        ("举报", r"举报"),
        ("投诉", r"投诉"),
        ("求助", r"求助|求救|救助|恳请.{0,10}帮|请求.{0,6}帮助|帮帮|救救"),
        ("咨询", r"咨询|请问|询问|问一下|想问|想了解"),
        ("建议", r"建议|呼吁|提议|倡议|希望|能否|可否|恳请|请求"),
        ("咨询", r"何时|什么时候|啥时候|如何|怎么|是否|多少|哪些|哪里|吗[?？]?$|[?？]$"),
        ("投诉", r"反映|质疑|不作为|乱收费|扰民|拖欠|违规|违法|违建|严重|太差|脏乱|噪音"),
    )
)


def request_type_from_subject(subject: str) -> str | None:
    """Weak 诉求类型 label from a message subject, or ``None`` when no rule applies."""
    s = normalise(subject)
    for label, pattern in _SUBJECT_RULES:
        if pattern.search(s):
            return label
    return None


_NEUTRAL_SUBJECT = re.compile(r"咨询|请问|询问|想了解|问一下")
_NEGATIVE_SUBJECT = re.compile(r"投诉|举报|不作为|扰民|乱收费|拖欠|太差|脏乱差")
_POSITIVE_SUBJECT = re.compile(r"表扬|感谢|致谢|点赞|赞扬|锦旗")


def sentiment_from_subject(subject: str) -> str | None:
    """Weak sentiment label of a government message from its subject.

    Consultations (咨询/请问) are neutral, complaints and reports negative, thanks positive.
    A subject with cues of two kinds gives ``None``.
    """
    s = normalise(subject)
    hits = {
        name
        for name, pattern in (
            ("neutral", _NEUTRAL_SUBJECT),
            ("negative", _NEGATIVE_SUBJECT),
            ("positive", _POSITIVE_SUBJECT),
        )
        if pattern.search(s)
    }
    return hits.pop() if len(hits) == 1 else None


def dedupe_key(text: str) -> str:
    """Key under which two texts count as the same message (normalised, spaces dropped)."""
    return normalise(text).replace(" ", "")[:300]


_T = TypeVar("_T")


def _dedupe(rows: Iterable[tuple[str, _T]]) -> Iterator[_T]:
    seen: set[str] = set()
    for text, row in rows:
        key = dedupe_key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        yield row


def _read_csv(path: Path) -> Iterator[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


@dataclass(frozen=True)
class GovMessage:
    """One citizen message to a government board."""

    id: str
    subject: str
    text: str
    label: str = ""  # routing topic where the source has one


def load_gov_topic(data_dir: Path | str) -> list[GovMessage]:
    """``gov_topic/train.csv``: messages with their 一级标签 routing topic, de-duplicated."""
    path = Path(data_dir) / "gov_topic" / "train.csv"
    rows = (
        (r["text"], GovMessage(r["id"], r.get("subject") or "", r["text"], r["label"]))
        for r in _read_csv(path)
    )
    return list(_dedupe(rows))


def load_labelled_file(path: Path | str) -> list[GovMessage]:
    """An office's own labelled rows: CSV or XLSX with ``text`` and ``label`` columns."""
    from classifiers.batch import read_table

    out = []
    for i, row in enumerate(read_table(Path(path))):
        text = str(row.get("text") or "").strip()
        label = str(row.get("label") or "").strip()
        if text and label:
            out.append(GovMessage(f"office:{i}", str(row.get("subject") or ""), text, label))
    return list(_dedupe((m.text, m) for m in out))


def load_gov_messages(data_dir: Path | str) -> list[GovMessage]:
    """Messages with subjects from ``gov_replies`` and ``gov_hot``, de-duplicated."""
    root = Path(data_dir)
    sources = (
        ("replies", root / "gov_replies" / "messages_with_replies.csv"),
        ("hot", root / "gov_hot" / "messages_with_votes.csv"),
    )
    rows = []
    for prefix, path in sources:
        for r in _read_csv(path):
            msg = GovMessage(f"{prefix}:{r['留言编号']}", r["留言主题"], normalise(r["留言详情"]))
            rows.append((msg.text, msg))
    return list(_dedupe(rows))


def load_weibo(data_dir: Path | str) -> tuple[list[str], list[int]]:
    """``weibo_sentiment/train.csv`` as (texts, labels 1 positive / 0 negative)."""
    texts, labels = [], []
    rows = ((r["text"], r) for r in _read_csv(Path(data_dir) / "weibo_sentiment" / "train.csv"))
    for r in _dedupe(rows):
        texts.append(r["text"])
        labels.append(int(r["label"]))
    return texts, labels


@dataclass(frozen=True)
class RumourRow:
    """A post from CED or CHECKED with its label and engagement fields."""

    id: str
    source: str
    label: int
    text: str
    engagement: dict[str, str | None] = field(default_factory=dict)


def load_rumours(data_dir: Path | str) -> list[RumourRow]:
    """``rumours/train.csv`` (CED and CHECKED), de-duplicated on text."""
    rows = []
    for r in _read_csv(Path(data_dir) / "rumours" / "train.csv"):
        eng = {
            k: r.get(k) for k in ("reposts", "comments", "likes", "user_verified", "user_followers")
        }
        rows.append((r["text"], RumourRow(r["id"], r["source"], int(r["label"]), r["text"], eng)))
    return list(_dedupe(rows))


def data_hash(data_dir: Path | str, extra: Iterable[str] = ()) -> str:
    """SHA-256 over the training files (and any extra strings such as corrections)."""
    root = Path(data_dir)
    h = hashlib.sha256()
    for rel in (
        "gov_topic/train.csv",
        "gov_replies/messages_with_replies.csv",
        "gov_hot/messages_with_votes.csv",
        "weibo_sentiment/train.csv",
        "rumours/train.csv",
    ):
        p = root / rel
        if p.exists():
            h.update(rel.encode())
            h.update(p.read_bytes())
    for s in extra:
        h.update(s.encode("utf-8"))
    return h.hexdigest()
