"""CSV/XLSX import: decode office encodings, map columns, turn rows into items.

Offices export from Excel and WPS: UTF-8 with or without BOM, GBK and GB18030 are all
common. GB18030 is a superset of GBK, so one strict attempt at each of UTF-8 and
GB18030 recognises them all without guessing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sentinel.errors import ValidationFailed
from sentinel.services.ingest import IncomingItem
from sentinel.timefmt import SHANGHAI

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
    ),
    "title": ("title", "subject", "留言主题", "主题", "标题"),
    "external_id": ("external_id", "id", "留言编号", "编号", "工单号", "评论id", "序号"),
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


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a text file as UTF-8 (with or without BOM) or GB18030/GBK."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise ValidationFailed(
            "无法识别文件编码：请另存为 UTF-8 或 GBK/GB18030 编码的 CSV，或 XLSX 文件"
        ) from None


@dataclass
class Table:
    columns: list[str]
    rows: list[dict[str, Any]]
    encoding: str | None


def read_table(path: str, filename: str | None = None) -> Table:
    """Read a CSV or XLSX file into columns and row dicts (row order kept)."""
    name = (filename or path).lower()
    if name.endswith(".xlsx"):
        return _read_xlsx(path)
    if name.endswith((".csv", ".txt", ".tsv")):
        with open(path, "rb") as fh:
            text, encoding = decode_bytes(fh.read())
        return _read_csv(text, encoding)
    raise ValidationFailed("只支持 CSV 或 XLSX 文件")


def _read_csv(text: str, encoding: str) -> Table:
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed("文件是空的") from None
    columns = _clean_header(header)
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        rows.append(dict(zip(columns, values, strict=False)))
    return Table(columns, rows, encoding)


def _read_xlsx(path: str) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception:
        raise ValidationFailed("XLSX 文件无法打开，可能已损坏或不是 Excel 文件") from None
    try:
        sheet = workbook.worksheets[0]
        it = sheet.iter_rows(values_only=True)
        header = next(it, None)
        if header is None:
            raise ValidationFailed("文件是空的")
        columns = _clean_header(["" if v is None else str(v) for v in header])
        rows = []
        for values in it:
            if values is None or all(v is None or str(v).strip() == "" for v in values):
                continue
            rows.append(dict(zip(columns, values, strict=False)))
    finally:
        workbook.close()
    return Table(columns, rows, None)


def _clean_header(header: list[str]) -> list[str]:
    columns: list[str] = []
    for index, name in enumerate(header):
        name = (name or "").strip().lstrip("\ufeff") or f"第{index + 1}列"
        while name in columns:
            name += "_"
        columns.append(name)
    return columns


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


def _cell(row: dict[str, Any], mapping: dict[str, str], field: str) -> str:
    column = mapping.get(field)
    if not column:
        return ""
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def row_to_item(row: dict[str, Any], mapping: dict[str, str]) -> IncomingItem:
    """One mapped row as an item; raises ValueError with a Chinese message when invalid."""
    text = _cell(row, mapping, "text")
    title = _cell(row, mapping, "title")
    if title and text and not text.startswith(title):
        text = f"{title}\n{text}"
    elif title and not text:
        text = title
    if not text:
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
        basis = "\x1f".join([text, posted.isoformat() if posted else "", author or ""])
        external_id = "row-" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
    url = _cell(row, mapping, "url")[:2000] or None
    return IncomingItem(
        external_id=external_id, text=text, kind=kind, author=author, posted_at=posted, url=url
    )


def iter_chunks(
    rows: list[dict[str, Any]], mapping: dict[str, str], size: int = 500
) -> Iterator[tuple[list[IncomingItem], list[RowError], int]]:
    """Yield (items, row errors, rows consumed) per chunk; duplicates inside a chunk are
    dropped (they would be re-deliveries anyway)."""
    if "text" not in mapping and "title" not in mapping:
        raise ValidationFailed("请指定“留言内容”对应的列")
    for start in range(0, len(rows), size):
        items: list[IncomingItem] = []
        errors: list[RowError] = []
        seen: set[str] = set()
        chunk = rows[start : start + size]
        for offset, row in enumerate(chunk):
            try:
                item = row_to_item(row, mapping)
            except ValueError as exc:
                errors.append(RowError(start + offset + 2, str(exc)))
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
