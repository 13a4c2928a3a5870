"""Training: corrections become training rows; activation only if not worse."""

from __future__ import annotations

import json
from pathlib import Path

from classifiers.bundle import BundleInfo, active_version
from classifiers.pipeline import Pipeline
from classifiers.training import compare_metrics, format_metrics, is_eval

from .conftest import CORRECTIONS


def test_corrections_feed_training(corrected: BundleInfo) -> None:
    """An officer's new topic (应急管理) becomes a class the candidate predicts."""
    candidate = Pipeline.load(corrected.path)
    assert "应急管理" in candidate.models.topic_classes
    p = candidate.predict(["暴雨预警发布后村里的应急避难场所一直锁门，应急管理部门不管"])[0]
    assert p.topic == "应急管理"
    meta = json.loads((corrected.path / "meta.json").read_text(encoding="utf-8"))
    assert meta["settings"]["corrections"] == len(CORRECTIONS)


def test_candidate_with_never_is_not_activated(
    models_dir: Path, first_version: str, corrected: BundleInfo
) -> None:
    """``activate="never"`` writes the version but leaves ACTIVE alone."""
    assert not corrected.activated
    assert active_version(models_dir) == first_version
    assert corrected.version != first_version


def test_different_data_gives_a_different_hash(first_version: str, corrected: BundleInfo) -> None:
    """Corrections change the data hash recorded in the bundle."""
    assert corrected.data_hash[:8] != first_version.rsplit("-", 1)[-1]


def test_compare_metrics_refuses_a_worse_candidate() -> None:
    """A drop beyond the tolerance on any primary metric blocks activation."""
    active = {"topic": {"macro_f1": 0.90}, "sentiment": {"consultation_negative_rate": 0.10}}
    same = {"topic": {"macro_f1": 0.899}, "sentiment": {"consultation_negative_rate": 0.10}}
    worse_f1 = {"topic": {"macro_f1": 0.88}, "sentiment": {"consultation_negative_rate": 0.10}}
    worse_neg = {"topic": {"macro_f1": 0.91}, "sentiment": {"consultation_negative_rate": 0.2}}
    assert compare_metrics(same, active)[0]
    ok, why = compare_metrics(worse_f1, active)
    assert not ok and "topic.macro_f1" in why
    assert not compare_metrics(worse_neg, active)[0]
    # Metrics one side lacks (an office's own taxonomy) are not compared.
    assert compare_metrics({"topic": {}}, active)[0]


def test_evaluation_split_is_fixed() -> None:
    """The evaluation part depends on the text only, about 15 % of rows."""
    texts = [f"留言{i}：小区停车难" for i in range(2000)]
    share = sum(is_eval(t) for t in texts) / len(texts)
    assert 0.12 < share < 0.18
    assert [is_eval(t) for t in texts[:50]] == [is_eval(t) for t in texts[:50]]
    assert is_eval("  请问社保卡 ") == is_eval("请问社保卡")


def test_metrics_table_lists_baselines(corrected: BundleInfo) -> None:
    """The printed table names each metric next to its baseline column."""
    table = format_metrics(corrected.metrics)
    assert "主题 macro-F1" in table and "基线" in table and "谣言 AUC CED" in table


def test_office_taxonomy_file_is_read_from_csv_and_xlsx(tmp_path: Path) -> None:
    """An office's own labelled rows (text,label) load from GBK CSV and XLSX, de-duplicated."""
    import openpyxl

    from classifiers.data import load_labelled_file

    rows = [
        ("请问公积金怎么提取", "住房公积金"),
        ("小区停车难", "物业管理"),
        ("请问公积金怎么提取", "住房公积金"),
        ("", "空"),
    ]
    csv_path = tmp_path / "office.csv"
    csv_path.write_bytes(("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows)).encode("gbk"))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["label", "text"])
    for t, y in rows:
        ws.append([y, t or None])
    xlsx_path = tmp_path / "office.xlsx"
    wb.save(xlsx_path)
    for path in (csv_path, xlsx_path):
        got = [(m.text, m.label) for m in load_labelled_file(path)]
        assert got == [("请问公积金怎么提取", "住房公积金"), ("小区停车难", "物业管理")]
