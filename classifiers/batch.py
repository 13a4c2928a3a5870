"""Batch classification of a file: JSONL, CSV or XLSX in, JSONL out.

Input rows: JSONL objects ``{"id": ..., "text": ...}``, or CSV/XLSX with a ``text`` column
(and optionally ``id``; otherwise the 1-based row number is the id). Files are decoded and
read by :mod:`classifiers.tabular`, the reader every upload and import uses. Output: one
JSON object per input row, in input order; a row that cannot be classified gets
``{"id": ..., "error": "<中文说明>"}`` and the others are classified.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from classifiers import tabular

__all__ = ["InputError", "Row", "classify_file", "decode_bytes", "read_rows", "read_table"]

BATCH = 512


# The input file as a whole cannot be read (message in Chinese): the reader's error.
InputError = tabular.TableError


@dataclass(frozen=True)
class Row:
    """One input row: its id, its text, or the reason it is unusable."""

    id: Any
    text: str | None
    error: str | None = None
    engagement: dict[str, Any] | None = None


def decode_bytes(data: bytes) -> str:
    """Decode a text file with the one decoder (:func:`classifiers.tabular.decode_text`)."""
    return tabular.decode_text(data).text


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    raise InputError(f"不支持的文件类型：{path.suffix or '无扩展名'}（支持 .jsonl、.csv、.xlsx）")


def read_table(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a CSV or XLSX file as dicts keyed by the cleaned header (one reader for every
    upload: :func:`classifiers.tabular.read_table`)."""
    if _format_of(path) == "jsonl":
        raise InputError("需要 CSV 或 XLSX 文件")
    try:
        table = tabular.read_table(path.read_bytes(), path.name)
    except tabular.EmptyFile:
        return
    yield from tabular.iter_dicts(table)


_TEXT_COLUMNS = ("text", "正文", "内容", "留言详情")
_ENGAGEMENT = ("reposts", "comments", "likes", "user_verified", "user_followers")


def read_rows(path: Path | str) -> Iterator[Row]:
    """The input rows of a JSONL, CSV or XLSX file (errors per row, not per file)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"找不到输入文件：{path}")
    fmt = _format_of(path)
    if fmt == "jsonl":
        yield from _read_jsonl(path)
        return
    first = True
    for n, rec in enumerate(read_table(path), start=1):
        if first:
            if not any(c in rec for c in _TEXT_COLUMNS):
                raise InputError("表格缺少 text 列（第一行应为列名，其中一列名为 text）")
            first = False
        rid = rec.get("id")
        rid = n if rid is None or str(rid).strip() == "" else _plain(rid)
        text = next((rec[c] for c in _TEXT_COLUMNS if c in rec and rec[c] is not None), None)
        eng = {k: rec[k] for k in _ENGAGEMENT if rec.get(k) not in (None, "")} or None
        if text is None or str(text).strip() == "":
            yield Row(rid, None, "text 为空")
        else:
            yield Row(rid, str(text), None, eng)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int | str) else str(value)


def _read_jsonl(path: Path) -> Iterator[Row]:
    text = decode_bytes(path.read_bytes())
    n = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        n += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Row(n, None, f"第 {n} 行不是合法的 JSON：{exc.msg}")
            continue
        if not isinstance(obj, dict):
            yield Row(n, None, f"第 {n} 行应为 JSON 对象")
            continue
        rid = obj.get("id", n)
        text_value = obj.get("text")
        if not isinstance(text_value, str):
            yield Row(rid, None, "缺少 text 字段或 text 不是字符串")
        elif not text_value.strip():
            yield Row(rid, None, "text 为空")
        else:
            eng = {k: obj[k] for k in _ENGAGEMENT if obj.get(k) not in (None, "")} or None
            yield Row(rid, text_value, None, eng)


def classify_file(
    pipeline: Any,
    input_path: Path | str,
    output: Path | str | IO[str],
    *,
    progress: bool = True,
) -> dict[str, int]:
    """Classify every row of ``input_path`` and write JSONL to ``output``.

    Returns ``{"rows": n, "classified": n, "errors": n}``. Raises :class:`InputError` when
    the file itself is unusable (missing, unknown type, no ``text`` column).
    """
    from tqdm import tqdm

    rows = list(read_rows(input_path))
    own = isinstance(output, str | Path)
    out: IO[str] = (
        open(output, "w", encoding="utf-8")  # noqa: SIM115 - closed in finally
        if isinstance(output, str | Path)
        else output
    )
    stats = {"rows": len(rows), "classified": 0, "errors": 0}
    try:
        bar = tqdm(total=len(rows), desc="分类", unit="条", file=sys.stderr, disable=not progress)
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            good = [r for r in chunk if r.error is None]
            preds = _predict(pipeline, good)
            by_row = dict(zip((id(r) for r in good), preds, strict=True))
            for r in chunk:
                result = by_row.get(id(r)) if r.error is None else None
                if isinstance(result, str) or r.error is not None:
                    obj = {"id": r.id, "error": r.error or result}
                    stats["errors"] += 1
                else:
                    obj = result.to_dict(r.id)  # type: ignore[union-attr]
                    stats["classified"] += 1
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            bar.update(len(chunk))
        bar.close()
    finally:
        if own:
            out.close()
    return stats


def _predict(pipeline: Any, rows: Sequence[Row]) -> list[Any]:
    """Predictions for ``rows``; if the batch fails, retry row by row so one bad row only
    costs itself."""
    if not rows:
        return []
    engagement = [r.engagement for r in rows] if any(r.engagement for r in rows) else None
    try:
        return pipeline.predict([r.text for r in rows], engagement=engagement)
    except Exception:
        out: list[Any] = []
        for r in rows:
            try:
                out.append(
                    pipeline.predict([r.text], engagement=[r.engagement] if r.engagement else None)[
                        0
                    ]
                )
            except Exception as exc:
                out.append(f"分类失败：{type(exc).__name__}")
        return out
