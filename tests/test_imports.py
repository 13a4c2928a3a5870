"""CSV/XLSX import in every office encoding: CLI and upload page, per-row errors, re-import."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from sentinel.extensions import db
from sentinel.models import ImportBatch, Item

HEADER = ["留言编号", "留言用户", "留言主题", "留言时间", "留言详情"]
ROWS = [
    ["1001", "A0001", "咨询社保卡补办", "2020/1/6 12:09:38", "请问社保卡丢失后在哪里补办？"],
    ["1002", "A0002", "投诉小区噪音", "2017-06-08 17:31:20", "小区旁工地夜间施工，噪音扰民。"],
    ["1003", "A0003", "", "2019/3/1 8:00:00", ""],  # no text: a row error
    ["1004", "A0004", "建议增设公交线路", "昨天下午", "建议增加到火车站的公交。"],  # bad time
    ["1005", "A0005", "咨询学位", "2019-05-01", "孩子明年上小学，学位怎么申请？"],
]


def csv_bytes(encoding: str, rows=ROWS) -> bytes:
    lines = [",".join(HEADER)] + [",".join(r) for r in rows]
    text = "\r\n".join(lines) + "\r\n"
    if encoding == "utf-8-sig":
        return text.encode("utf-8-sig")
    return text.encode(encoding)


def xlsx_bytes() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in ROWS:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def item_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Item))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_cli_imports_every_office_encoding(runner, office, tmp_path, encoding):
    path = tmp_path / f"messages-{encoding}.csv"
    path.write_bytes(csv_bytes(encoding))
    result = runner.invoke(args=["import", str(path), "--source", office.source.name])
    assert result.exit_code == 0, result.output
    assert "新增 3 条" in result.output and "错误 2 条" in result.output
    assert "第 4 行" in result.output and "留言内容为空" in result.output
    assert "第 5 行" in result.output and "时间格式" in result.output
    texts = db.session.scalars(select(Item.text).order_by(Item.id)).all()
    assert texts[0].startswith("咨询社保卡补办") and "补办" in texts[0]
    item = db.session.scalars(select(Item).where(Item.external_id == "1002")).one()
    assert item.author == "A0002"
    assert item.posted_at.isoformat() == "2017-06-08T09:31:20+00:00"


def test_gb18030_only_characters_survive(runner, office, tmp_path):
    rows = [["2001", "A1", "咨询", "2020/1/1 10:00:00", "㐀䶵是扩展A区汉字，€ 也在"]]
    path = tmp_path / "ext.csv"
    path.write_bytes(csv_bytes("gb18030", rows))
    assert runner.invoke(args=["import", str(path), "--source", office.source.name]).exit_code == 0
    assert "㐀䶵" in db.session.scalars(select(Item.text)).one()


def test_reimporting_the_same_file_adds_nothing(runner, office, tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(csv_bytes("gbk"))
    runner.invoke(args=["import", str(path), "--source", office.source.name])
    before = item_count()
    result = runner.invoke(args=["import", str(path), "--source", office.source.name])
    assert "新增 0 条，重复 3 条" in result.output
    assert item_count() == before == 3


def test_file_without_an_id_column_is_still_idempotent(runner, office, tmp_path):
    path = tmp_path / "noid.csv"
    path.write_text(
        "内容,时间\n路灯坏了,2020-01-01 08:00\n路灯坏了,2020-01-01 08:00\n井盖丢了,2020-01-02\n",
        encoding="utf-8",
    )
    runner.invoke(args=["import", str(path), "--source", office.source.name])
    runner.invoke(args=["import", str(path), "--source", office.source.name])
    assert item_count() == 2


def test_cli_column_mapping_override(runner, office, tmp_path):
    path = tmp_path / "custom.csv"
    path.write_text("序,诉求\n1,请问公积金怎么提取？\n", encoding="utf-8")
    result = runner.invoke(
        args=[
            "import",
            str(path),
            "--source",
            office.source.name,
            "--map",
            "text=诉求",
            "--map",
            "external_id=序",
        ]
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(Item.external_id)).one() == "1"


def test_undecodable_file_is_a_clear_error(runner, office, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\xff\xfe\x00\x00" + bytes(range(128, 256)) * 3)
    result = runner.invoke(args=["import", str(path), "--source", office.source.name])
    assert result.exit_code != 0
    assert "无法识别文件编码" in result.output
    assert item_count() == 0


def test_upload_page_mapping_and_progress(client, auth, office):
    auth.login("duty")
    response = client.post(
        "/imports/",
        data={"source_id": office.source.id, "file": (io.BytesIO(xlsx_bytes()), "留言.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302 and "/mapping" in response.headers["Location"]
    batch = db.session.scalars(select(ImportBatch)).one()
    assert batch.mapping["text"] == "留言详情" and batch.mapping["external_id"] == "留言编号"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "核对列映射" in page and "请问社保卡丢失后在哪里补办" in page
    response = client.post(
        f"/imports/{batch.id}/mapping",
        data={
            "map_text": "留言详情",
            "map_title": "留言主题",
            "map_external_id": "留言编号",
            "map_author": "留言用户",
            "map_created_at": "留言时间",
        },
    )
    assert response.status_code == 302
    status = client.get(f"/imports/{batch.id}/status").get_json()  # sync jobs: already done
    assert status["status"] == "done" and status["percent"] == 100
    assert (status["ok"], status["errors"]) == (3, 2)
    assert {e["row"] for e in status["error_rows"]} == {4, 5}
    assert "导入 #" in client.get(f"/imports/{batch.id}").get_data(as_text=True)


def test_upload_of_a_gbk_csv_through_the_page(client, auth, office):
    auth.login("duty")
    client.post(
        "/imports/",
        data={"source_id": office.source.id, "file": (io.BytesIO(csv_bytes("gbk")), "gbk.csv")},
        content_type="multipart/form-data",
    )
    batch = db.session.scalars(select(ImportBatch)).one()
    assert batch.encoding == "gb18030" and batch.total_rows == 5


def test_oversized_upload_is_refused(client, auth, office, app):
    app.config["IMPORT_MAX_BYTES"] = 1000
    auth.login("duty")
    response = client.post(
        "/imports/",
        data={"source_id": office.source.id, "file": (io.BytesIO(b"a" * 5000), "big.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "超过大小限制" in response.get_data(as_text=True)


def test_upload_of_a_non_table_file_is_refused(client, auth, office):
    auth.login("duty")
    response = client.post(
        "/imports/",
        data={"source_id": office.source.id, "file": (io.BytesIO(b"%PDF-1.4"), "scan.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "只支持 CSV 或 XLSX 文件" in response.get_data(as_text=True)
