"""CSV/XLSX import: map columns, turn rows into items.

Files are read by :mod:`classifiers.tabular` — the one decoder and CSV/XLSX reader every
upload uses (UTF-8 with or without BOM, UTF-16 with BOM, GBK/GB18030, Big5; undecodable
files are refused, never decoded with replacement characters).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from classifiers import tabular
from classifiers.tabular import Table
from sentinel.errors import ValidationFailed
from sentinel.services.ingest import IncomingItem
from sentinel.timefmt import SHANGHAI

__all__ = ["Table"]  # re-exported for callers that type-annotate tables

TARGET_FIELDS = {
    "text": "留言内容（必填）",
    "title": "留言主题（可选，拼在内容前）",
    "external_id": "编号（可选，用于去重）",
    "author": "留言人",
    "created_at": "留言时间",
    "url": "链接",
    "kind": "类型",
}
# Header names seen in office exports, per target field (lower-case, no spaces).
HEADER_GUESSES = {
    "text": (
        "text",
        "content",
        "留言详情",
        "留言内容",
        "内容",
        "正文",
        "评论内容",
        "详情",
        "诉求内容",
        # Traditional forms (Big5 files from Hong Kong/Taiwan correspondents)
        "留言內容",
        "內容",
        "詳情",
    ),
    "title": ("title", "subject", "留言主题", "主题", "标题", "主題", "標題"),
    "external_id": (
        "external_id",
        "id",
        "留言编号",
        "编号",
        "工单号",
        "评论id",
        "序号",
        "編號",
        "序號",
    ),
    "author": ("author", "user", "留言用户", "用户", "作者", "昵称", "留言人", "网友"),
    "created_at": (
        "created_at",
        "time",
        "date",
        "留言时间",
        "时间",
        "发布时间",
        "日期",
        "评论时间",
        "留言時間",
        "時間",
    ),
    "url": ("url", "link", "链接", "网址"),
    "kind": ("kind", "type", "类型"),
}
KIND_WORDS = {
    "评论": "comment",
    "comment": "comment",
    "@提及": "mention",
    "提及": "mention",
    "mention": "mention",
    "私信": "message",
    "message": "message",
    "信件": "letter",
    "letter": "letter",
    "工单": "ticket",
    "ticket": "ticket",
}
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%z",
)
MAX_TEXT = 20000


def read_bytes(data: bytes, filename: str, *, max_rows: int | None = None) -> Table:
    """Read an uploaded CSV/XLSX file (see :mod:`classifiers.tabular`); a file that cannot
    be read, or has more than ``max_rows`` data rows, raises ValidationFailed."""
    try:
        return tabular.read_table(data, filename, max_rows=max_rows)
    except tabular.TableError as exc:
        raise ValidationFailed(exc.message) from None


def read_file(path: str, filename: str | None = None, *, max_rows: int | None = None) -> Table:
    """:func:`read_bytes` for a stored file (``filename`` decides the format)."""
    with open(path, "rb") as fh:
        data = fh.read()
    return read_bytes(data, filename or path, max_rows=max_rows)


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """Target field → column, guessed from common header names."""
    normalised = {c.lower().replace(" ", ""): c for c in columns}
    mapping: dict[str, str] = {}
    for target, guesses in HEADER_GUESSES.items():
        for guess in guesses:
            if guess in normalised and normalised[guess] not in mapping.values():
                mapping[target] = normalised[guess]
                break
    return mapping


def parse_time(value: Any) -> datetime | None:
    """Office timestamps (several formats, Excel dates) as aware datetimes (Shanghai)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=SHANGHAI)
    text = str(value).strip()
    for fmt in DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"无法识别的时间格式：{text[:30]}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based data row number as the user sees it in Excel (header is row 1)
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "message": self.message}


def _raw_cell(row: dict[str, Any], mapping: dict[str, str], field: str) -> str:
    """The cell as written (not stripped): a message's text is kept as received."""
    column = mapping.get(field)
    if not column:
        return ""
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _cell(row: dict[str, Any], mapping: dict[str, str], field: str) -> str:
    return _raw_cell(row, mapping, field).strip()


def row_to_item(row: dict[str, Any], mapping: dict[str, str]) -> IncomingItem:
    """One mapped row as an item; raises ValueError with a Chinese message when invalid.

    The text is kept exactly as the cell holds it (with the subject line in front when a
    title column is mapped); ingest stores its normalised form separately.
    """
    surplus = row.get(tabular.EXTRA)
    if surplus:
        raise ValueError(
            f"该行比表头多出 {len(surplus)} 个单元格（内容中的逗号需用引号括起来），"
            "为免截断留言未导入"
        )
    text = _raw_cell(row, mapping, "text")
    title = _cell(row, mapping, "title")
    # ``plain`` is the stripped composition earlier versions stored and derived ids from.
    plain = text.strip()
    if title and plain and not plain.startswith(title):
        text, plain = f"{title}\n{text}", f"{title}\n{plain}"
    elif title and not plain:
        text = plain = title
    if not plain:
        raise ValueError("留言内容为空")
    if len(text) > MAX_TEXT:
        raise ValueError(f"留言内容超过 {MAX_TEXT} 字")
    posted = parse_time(row.get(mapping["created_at"])) if mapping.get("created_at") else None
    author = _cell(row, mapping, "author")[:200] or None
    kind = KIND_WORDS.get(_cell(row, mapping, "kind").lower(), "comment")
    external_id = _cell(row, mapping, "external_id")[:200]
    if not external_id:
        # No id column: derive one from the content, so importing the same file twice
        # (or the same row from two exports) is a no-op.
        basis = "\x1f".join([plain, posted.isoformat() if posted else "", author or ""])
        external_id = "row-" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
    url = _cell(row, mapping, "url")[:2000] or None
    return IncomingItem(
        external_id=external_id, text=text, kind=kind, author=author, posted_at=posted, url=url
    )


def iter_chunks(
    table: Table, mapping: dict[str, str], size: int = 500, start: int = 0
) -> Iterator[tuple[list[IncomingItem], list[RowError], int]]:
    """Yield (items, row errors, rows consumed) per chunk of ``table``'s rows, beginning at
    row index ``start`` (a resumed import); duplicates inside a chunk are dropped (they
    would be re-deliveries anyway). Row errors carry the spreadsheet row number."""
    if "text" not in mapping and "title" not in mapping:
        raise ValidationFailed("请指定“留言内容”对应的列")
    for first in range(start, len(table.rows), size):
        items: list[IncomingItem] = []
        errors: list[RowError] = []
        seen: set[str] = set()
        chunk = table.rows[first : first + size]
        for row, number in zip(chunk, table.numbers[first : first + size], strict=True):
            try:
                item = row_to_item(row, mapping)
            except ValueError as exc:
                errors.append(RowError(number, str(exc)))
                continue
            if item.external_id in seen:
                continue
            seen.add(item.external_id)
            items.append(item)
        yield items, errors, len(chunk)


def stored_upload_path(upload_dir: str, token: str, filename: str) -> str:
    ext = ".xlsx" if filename.lower().endswith(".xlsx") else ".csv"
    os.makedirs(upload_dir, exist_ok=True)
    return os.path.join(upload_dir, f"{token}{ext}")
