"""The one text decoder and the one CSV/XLSX reader for every upload and import.

File import (``sentinel import`` and the upload page), batch classification
(``classifiers/cli.py``), the working-day calendar upload and every later upload read
files through here, so they all accept the same encodings, refuse the same files with the
same Chinese messages, and split CSV the same way. Pure module: it must not import
``sentinel`` (``classifiers/`` stays usable on its own); callers turn :class:`TableError`
into their own error type.

Decoding. Office exports come as UTF-8 (with or without BOM), GBK/GB18030, UTF-16 with BOM
("Unicode 文本" from Excel), and, from Hong Kong/Taiwan correspondents, Big5. Big5 bytes
almost always also decode as GB18030 — into mojibake, silently — so a strict GB18030 attempt
cannot tell them apart. A file that is not UTF-8 is decoded with each East Asian candidate
and charset-normalizer scores the results; GB18030 wins unless Big5 reads clearly better
(GB is what mainland offices use). Nothing is ever decoded with replacement characters:
bytes that do not decode are refused with the line they are on. The one exception is a
file cut off inside its last character (a truncated export): the incomplete bytes at the
very end are dropped, since no decoder could recover that character.

CSV. One ``csv.reader`` over the whole text, the delimiter decided once from the header
line, the Excel dialect (``""`` is an escaped quote) always. ``csv.Sniffer`` over a sample
is not used: a sample without quotes made it turn ``doublequote`` off, and rows with
``""`` further down were then split in the wrong places.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EXTRA",
    "Decoded",
    "EmptyFile",
    "Records",
    "Table",
    "TableError",
    "clean_header",
    "decode_text",
    "iter_dicts",
    "parse_csv",
    "read_records",
    "read_table",
]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
DELIMITERS = (",", "\t", ";")
# Scored candidates for a file that is not UTF-8, GB first (the preferred family).
GB = "gb18030"  # a superset of GBK and GB2312
BIG5 = ("cp950", "big5hkscs")  # Taiwan (Windows) and Hong Kong supersets of Big5
SAMPLE_BYTES = 256 * 1024  # what charset-normalizer scores of a large file
ENCODINGS_HELP = "支持 UTF-8、UTF-8 BOM、UTF-16（带 BOM）、GBK/GB18030、Big5"


class TableError(ValueError):
    """The file as a whole cannot be read; ``message`` is Chinese and shown to users."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyFile(TableError):
    """The file holds no non-blank row at all."""

    def __init__(self) -> None:
        super().__init__("文件是空的")


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # utf-8, utf-8-sig, utf-16, gb18030, big5


@dataclass
class Records:
    """Raw records of a file: lists of cells, the header (if any) not split off."""

    records: list[list[Any]]
    numbers: list[int]  # 1-based row number of each record as a spreadsheet shows it
    encoding: str | None  # None for XLSX


@dataclass
class Table:
    """A file with a header row: cleaned column names and one dict per non-blank row.

    Cells past the last named column are kept under :data:`EXTRA` (a list), so a caller
    can refuse a row whose unquoted commas split the text instead of silently cutting it.
    """

    columns: list[str]
    rows: list[dict[str, Any]]
    numbers: list[int]  # spreadsheet row number of each row (header is row 1)
    encoding: str | None


EXTRA = "\x00extra"  # key of the surplus cells of a row; cannot clash with a header name


def decode_text(data: bytes) -> Decoded:
    """Decode a text file; raise :class:`TableError` when it cannot be decoded exactly.

    UTF-8 (BOM or not) and UTF-16 with BOM are recognised by their bytes; anything else is
    scored as GB18030 and as Big5 by charset-normalizer, preferring GB18030.
    """
    if data.startswith(codecs.BOM_UTF8):
        return Decoded(_strict(data[3:], "utf-8"), "utf-8-sig")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Decoded(_strict(data, "utf-16"), "utf-16")
    if b"\x00" in data:
        if data.startswith(b"PK\x03\x04"):
            raise TableError("这是 XLSX（或其他压缩）文件，请以 .xlsx 扩展名上传")
        raise TableError("文件中含有空字节，不是文本文件（Excel 文件请另存为 .xlsx 或 CSV 上传）")
    try:
        return Decoded(_decode(data, "utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if _mostly_utf8(data, utf8_error.start):
        # Real UTF-8 with damaged bytes (a truncated export): say where, keep nothing lossy.
        raise TableError(
            f"无法识别文件编码：文件是 UTF-8 编码，但第 {_line_of(data, utf8_error.start)} 行有"
            "无法解码的字节，文件可能已损坏；请重新导出后上传"
        )
    return _detect(data)


def _decode(data: bytes, codec: str) -> str:
    """``data.decode(codec)`` (strict), except that an incomplete character at the very end
    (a cut-off file) is dropped."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        cut_off = exc.end == len(data) and any(
            word in exc.reason for word in ("end of data", "incomplete", "truncated")
        )
        if not cut_off:
            raise
        return data[: exc.start].decode(codec)


def _strict(data: bytes, encoding: str) -> str:
    try:
        return _decode(data, encoding)
    except UnicodeDecodeError as exc:
        raise TableError(
            f"无法识别文件编码：文件标明为 {encoding.upper()} 编码，但第 "
            f"{_line_of(data, exc.start)} 行有无法解码的字节，文件可能已损坏；请重新导出后上传"
        ) from None


def _line_of(data: bytes, position: int) -> int:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        newline = b"\n\x00" if data.startswith(codecs.BOM_UTF16_LE) else b"\x00\n"
        return data.count(newline, 0, position) + 1
    return data.count(b"\n", 0, position) + 1


def _mostly_utf8(data: bytes, error_at: int) -> bool:
    """True when the bytes are UTF-8 except for a few damaged places: around the first bad
    byte, well-formed multi-byte sequences outnumber the broken ones many times (GBK or Big5
    text forms a well-formed UTF-8 sequence only by chance). Looks at a window, not the
    whole file: decoding 50 MB of GBK with replacement takes seconds."""
    window = data[max(0, error_at - SAMPLE_BYTES // 2) : error_at + SAMPLE_BYTES // 2]
    lenient = window.decode("utf-8", errors="replace")
    broken = lenient.count("\ufffd")
    good = len(lenient) - len(lenient.encode("ascii", "ignore")) - broken
    return good >= 20 * broken


def _detect(data: bytes) -> Decoded:
    from charset_normalizer import from_bytes

    # The ranking needs a sample, not 50 MB; cut after a line break, which no GB or Big5
    # multi-byte character contains (their trail bytes are 0x40 and above).
    sample = data if len(data) <= SAMPLE_BYTES else data[: data.rfind(b"\n", 0, SAMPLE_BYTES) + 1]
    sample = sample or data[:SAMPLE_BYTES]
    scored: dict[str, tuple[float, float]] = {}
    texts: dict[str, str] = {}
    for family, candidates in (("gb18030", (GB,)), ("big5", BIG5)):
        for codec in candidates:
            try:
                texts[family] = _decode(data, codec)
            except UnicodeDecodeError:
                continue
            best = from_bytes(sample, cp_isolation=[codec], threshold=1.0).best()
            # No score (too noisy to rank) still counts as a possible reading.
            scored[family] = (best.chaos, -best.coherence) if best else (1.0, 0.0)
            break
    if not scored:
        raise TableError(f"无法识别文件编码（{ENCODINGS_HELP}）；请另存为 UTF-8 CSV 或 XLSX 后上传")
    if "big5" in scored and ("gb18030" not in scored or scored["big5"] < scored["gb18030"]):
        return Decoded(texts["big5"], "big5")
    return Decoded(texts["gb18030"], "gb18030")


def _suffix(filename: str) -> str:
    name = filename.lower().rstrip()
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def read_records(data: bytes, filename: str, *, max_rows: int | None = None) -> Records:
    """The records of a CSV/TSV/TXT or XLSX file, blank rows left out, header included.

    ``max_rows`` bounds the number of non-blank records after the first (the header), so a
    file too large to import is refused before any of it is stored.
    """
    suffix = _suffix(filename)
    if suffix in XLSX_SUFFIXES:
        return _xlsx_records(data, max_rows)
    if suffix in CSV_SUFFIXES:
        decoded = decode_text(data)
        records, numbers = parse_csv(
            decoded.text, delimiter="\t" if suffix == ".tsv" else None, max_rows=max_rows
        )
        return Records(records, numbers, decoded.encoding)
    if suffix == ".xls":
        raise TableError("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV 后上传")
    raise TableError("只支持 CSV 或 XLSX 文件")


def parse_csv(
    text: str, *, delimiter: str | None = None, max_rows: int | None = None
) -> tuple[list[list[str]], list[int]]:
    """Split CSV text into records (blank ones dropped) and their spreadsheet row numbers."""
    text = text.removeprefix("\ufeff")
    if delimiter is None:
        delimiter = _header_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=delimiter, strict=True)
    records: list[list[str]] = []
    numbers: list[int] = []
    number = 0
    try:
        for values in reader:
            number += 1
            if not any(v.strip() for v in values):
                continue
            if max_rows is not None and len(records) > max_rows:
                raise TableError(f"文件超过 {max_rows} 行数据的上限，请拆分后分批导入")
            records.append(values)
            numbers.append(number)
    except csv.Error as exc:
        raise TableError(_csv_message(exc, reader.line_num)) from None
    return records, numbers


def _header_delimiter(text: str) -> str:
    """The delimiter that splits the header line into the most fields (comma on a tie)."""
    header = text.split("\n", 1)[0].rstrip("\r")

    def fields(delimiter: str) -> int:
        try:
            return len(next(csv.reader([header], delimiter=delimiter), []))
        except csv.Error:
            return 0

    return max(DELIMITERS, key=lambda d: (fields(d), d == ","))


def _csv_message(exc: csv.Error, line: int) -> str:
    reason = str(exc)
    if "field larger than field limit" in reason or "unexpected end of data" in reason:
        what = "引号没有配对（某个以引号开头的单元格没有结束引号）"
    elif "expected after" in reason:
        what = '引号后面紧跟了其他字符（单元格内的引号应写成两个引号 ""）'
    else:
        what = "格式无法解析"
    return f"CSV 文件第 {line} 行附近{what}；请用 Excel 或 WPS 重新导出后上传"


def _xlsx_records(data: bytes, max_rows: int | None) -> Records:
    from openpyxl import load_workbook

    bad = "XLSX 文件无法打开，可能已损坏或不是 Excel 文件"
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many unrelated types for a damaged file
        raise TableError(bad) from None
    records: list[list[Any]] = []
    numbers: list[int] = []
    try:
        if not workbook.worksheets:
            raise TableError("XLSX 文件中没有工作表")
        for number, values in enumerate(
            workbook.worksheets[0].iter_rows(values_only=True), start=1
        ):
            if values is None or all(v is None or str(v).strip() == "" for v in values):
                continue
            if max_rows is not None and len(records) > max_rows:
                raise TableError(f"文件超过 {max_rows} 行数据的上限，请拆分后分批导入")
            records.append(list(values))
            numbers.append(number)
    except TableError:
        raise
    except Exception:
        raise TableError(bad) from None
    finally:
        workbook.close()
    return Records(records, numbers, None)


def read_table(data: bytes, filename: str, *, max_rows: int | None = None) -> Table:
    """A CSV/XLSX file with a header row as a :class:`Table` (row order kept).

    Raises :class:`TableError` for an empty, undecodable, malformed or too long file.
    """
    raw = read_records(data, filename, max_rows=max_rows)
    if not raw.records:
        raise EmptyFile()
    columns = clean_header(raw.records[0])
    width = len(columns)
    rows: list[dict[str, Any]] = []
    for values in raw.records[1:]:
        row = dict(zip(columns, values, strict=False))
        surplus = [v for v in values[width:] if v is not None and str(v).strip() != ""]
        if surplus:
            row[EXTRA] = surplus
        rows.append(row)
    return Table(columns, rows, raw.numbers[1:], raw.encoding)


def clean_header(header: list[Any]) -> list[str]:
    """Header cells as unique, non-empty column names (``第3列`` for a blank one)."""
    columns: list[str] = []
    for index, value in enumerate(header):
        name = ("" if value is None else str(value)).strip().lstrip("\ufeff").strip()
        name = name or f"第{index + 1}列"
        while name in columns:
            name += "_"
        columns.append(name)
    return columns


def iter_dicts(table: Table) -> Iterator[dict[str, Any]]:
    """The rows of ``table`` without the surplus-cells entry (for readers that ignore it)."""
    for row in table.rows:
        yield {k: v for k, v in row.items() if k != EXTRA}
