"""``classify`` / ``train`` commands: file formats, encodings, error rows, order."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifiers.cli import classify_command, main, read_corrections, train_command

TEXTS = [
    "请问社保卡在哪里补办？",
    "投诉某物业乱收费，态度恶劣，多次反映无人处理",
    "表扬𠮷祥社区工作人员热心",  # 𠮷 is outside GBK: GB18030 and UTF-8 only
]


def _run(models_dir: Path, path: Path, out: Path) -> list[dict]:
    result = CliRunner().invoke(
        classify_command,
        ["--input", str(path), "--output", str(out), "--models-dir", str(models_dir), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _csv_bytes(rows: list[list[str]], encoding: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_office_encodings(
    models_dir: Path, first_version: str, tmp_path: Path, encoding: str
) -> None:
    """CSV with a text column in UTF-8, UTF-8 BOM, GBK and GB18030 classifies in order."""
    texts = TEXTS if encoding != "gbk" else [t.replace("𠮷", "吉") for t in TEXTS]
    src = tmp_path / f"in-{encoding}.csv"
    src.write_bytes(
        _csv_bytes([["id", "text"], *[[f"r{i}", t] for i, t in enumerate(texts)]], encoding)
    )
    rows = _run(models_dir, src, tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == ["r0", "r1", "r2"]
    assert rows[0]["sentiment"] == "neutral"
    assert rows[1]["sentiment"] == "negative"
    for r in rows:
        assert set(r) >= {
            "id",
            "topic",
            "topic_confidence",
            "sentiment",
            "sentiment_score",
            "request_type",
            "rumour_score",
            "risk_tier",
            "model_version",
        }
        assert r["model_version"] == first_version


def test_jsonl_with_bad_rows(models_dir: Path, first_version: str, tmp_path: Path) -> None:
    """Bad lines give Chinese error lines in place; the rest are classified."""
    src = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": 1, "text": TEXTS[0]}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": 3}),
        json.dumps({"id": 4, "text": "   "}),
        json.dumps({"id": 5, "text": TEXTS[1]}, ensure_ascii=False),
        json.dumps([1, 2]),
    ]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = _run(models_dir, src, tmp_path / "out.jsonl")
    assert [r.get("id") for r in rows] == [1, 2, 3, 4, 5, 6]
    assert "topic" in rows[0] and "topic" in rows[4]
    assert "JSON" in rows[1]["error"]
    assert "text" in rows[2]["error"]
    assert rows[3]["error"] == "text 为空"
    assert "JSON 对象" in rows[5]["error"]


def test_xlsx_without_id_column(models_dir: Path, first_version: str, tmp_path: Path) -> None:
    """XLSX with a text column; row numbers become ids; empty cells are error rows."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["text", "备注"])
    ws.append([TEXTS[0], "a"])
    ws.append([None, "空"])
    ws.append([TEXTS[1], "b"])
    src = tmp_path / "in.xlsx"
    wb.save(src)
    rows = _run(models_dir, src, tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert rows[1]["error"] == "text 为空"
    assert rows[2]["sentiment"] == "negative"


def test_missing_text_column_is_a_clear_error(
    models_dir: Path, first_version: str, tmp_path: Path
) -> None:
    """A table without a text column fails as a whole, in Chinese."""
    src = tmp_path / "in.csv"
    src.write_text("id,body\n1,请问\n", encoding="utf-8")
    result = CliRunner().invoke(
        classify_command,
        [
            "--input",
            str(src),
            "--output",
            str(tmp_path / "o.jsonl"),
            "--models-dir",
            str(models_dir),
            "--quiet",
        ],
    )
    assert result.exit_code != 0
    assert "text 列" in result.output


def test_classify_without_models_says_train_first(tmp_path: Path) -> None:
    """No bundle: the message points at ``sentinel train``."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "请问"}\n', encoding="utf-8")
    result = CliRunner().invoke(
        classify_command,
        [
            "--input",
            str(src),
            "--output",
            str(tmp_path / "o.jsonl"),
            "--models-dir",
            str(tmp_path / "none"),
            "--quiet",
        ],
    )
    assert result.exit_code != 0
    assert "sentinel train" in result.output


def test_train_with_corrections_flag_needs_a_source(tmp_path: Path) -> None:
    """``--with-corrections`` without a file needs the spine's provider."""
    result = CliRunner().invoke(
        train_command, ["--models-dir", str(tmp_path), "--with-corrections"]
    )
    assert result.exit_code != 0
    assert "更正" in result.output


def test_read_corrections_formats(tmp_path: Path) -> None:
    """Corrections load from JSONL and from GBK CSV."""
    j = tmp_path / "c.jsonl"
    j.write_text('{"text": "请问", "field": "sentiment", "label": "neutral"}\n', encoding="utf-8")
    c = tmp_path / "c.csv"
    c.write_bytes(
        _csv_bytes([["text", "field", "label"], ["投诉物业", "request_type", "投诉"]], "gbk")
    )
    assert read_corrections(j) == [{"text": "请问", "field": "sentiment", "label": "neutral"}]
    assert read_corrections(c) == [{"text": "投诉物业", "field": "request_type", "label": "投诉"}]


def test_module_entry_point_help() -> None:
    """``python -m classifiers`` lists the commands."""
    out = subprocess.run(
        [sys.executable, "-m", "classifiers", "--help"], capture_output=True, text=True, check=True
    )
    for name in ("train", "classify", "model-versions", "model-activate"):
        assert name in out.stdout


def test_versions_and_activate_commands(models_dir: Path, first_version: str) -> None:
    """Versions are listed with the active one starred; activate rolls back by name."""
    runner = CliRunner()
    listed = runner.invoke(main, ["model-versions", "--models-dir", str(models_dir)])
    assert listed.exit_code == 0 and f"* {first_version}" in listed.output
    done = runner.invoke(main, ["model-activate", first_version, "--models-dir", str(models_dir)])
    assert done.exit_code == 0 and first_version in done.output
    bad = runner.invoke(main, ["model-activate", "nope", "--models-dir", str(models_dir)])
    assert bad.exit_code != 0


def test_board_export_with_tabs_and_a_cut_last_byte(
    models_dir: Path, first_version: str, tmp_path: Path
) -> None:
    """A message-board export: bodies full of tabs, Chinese headers, a truncated last char."""
    body = "\n\t\t\t\t\t请问社保卡在哪里补办？\n\t\t\t\t"
    data = _csv_bytes(
        [["留言编号", "留言主题", "留言详情"], ["1", "咨询", body], ["2", "投诉", TEXTS[1]]],
        "utf-8",
    )
    src = tmp_path / "board.csv"
    src.write_bytes(data + "尾".encode()[:2])
    rows = _run(models_dir, src, tmp_path / "out.jsonl")
    assert [r["id"] for r in rows][:2] == [1, 2]
    assert rows[0]["sentiment"] == "neutral" and rows[1]["sentiment"] == "negative"
