"""Uploads and imports with CSRF on: large files, row limit, refused files leave nothing,
quotes late in long files, Big5, failed batches that say why and resume, the calendar
upload, and fuzzing of the upload page (never a 500)."""

from __future__ import annotations

import csv
import io
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from sentinel.extensions import db
from sentinel.models import AuditEvent, ImportBatch, Item, WorkCalendar
from sentinel.services import ingest
from tests.conftest import PASSWORD


@pytest.fixture
def app_config(app_config):
    # Forms are exercised as browsers send them: with CSRF protection on.
    return {**app_config, "WTF_CSRF_ENABLED": True}


def token_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client, username: str = "duty") -> None:
    token = token_of(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def upload(client, office, data: bytes, filename: str, **kwargs):
    token = token_of(client.get("/imports/").get_data(as_text=True))
    return client.post(
        "/imports/",
        data={
            "source_id": office.source.id,
            "csrf_token": token,
            "file": (io.BytesIO(data), filename),
        },
        content_type="multipart/form-data",
        **kwargs,
    )


def csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def uploads_left(app) -> list[str]:
    folder = app.config["UPLOAD_DIR"]
    return os.listdir(folder) if os.path.isdir(folder) else []


def map_and_run(client, batch: ImportBatch):
    token = token_of(client.get(f"/imports/{batch.id}/mapping").get_data(as_text=True))
    data = {f"map_{k}": v for k, v in (batch.mapping or {}).items()}
    return client.post(f"/imports/{batch.id}/mapping", data={**data, "csrf_token": token})


def test_upload_over_8_mib_passes_csrf_and_imports(client, office, app):
    """Regression: CSRF read the form under the app-wide 8 MiB limit before the view raised
    it to IMPORT_MAX_BYTES, so every upload over 8 MiB failed with 413."""
    login(client)
    body = "路灯坏了很久没有人修理，晚上出门很不方便，请相关部门尽快处理。" * 12
    rows = [["编号", "内容"]] + [[str(i), f"{i}:{body}"] for i in range(8500)]
    data = csv_text(rows).encode("utf-8")
    assert len(data) > 9 * 1024 * 1024 > app.config["MAX_CONTENT_LENGTH"]
    response = upload(client, office, data, "big.csv")
    assert response.status_code == 302 and "/mapping" in response.headers["Location"]
    batch = db.session.scalars(select(ImportBatch)).one()
    assert batch.total_rows == 8500
    # Other forms keep the app-wide limit.
    token = token_of(client.get("/imports/").get_data(as_text=True))
    big_form = client.post("/logout", data={"csrf_token": token, "x": "a" * (9 * 1024 * 1024)})
    assert big_form.status_code == 413


def test_upload_over_import_max_bytes_is_refused(client, office, app):
    app.config["IMPORT_MAX_BYTES"] = 4096
    login(client)
    response = upload(client, office, b"a" * 8000, "big.csv")
    assert response.status_code == 413 and "超过大小限制" in response.get_data(as_text=True)


def test_import_max_rows_is_enforced_and_the_refused_file_is_not_kept(client, office, app):
    """Regression: IMPORT_MAX_ROWS was never read; refused uploads stayed in uploads/."""
    app.config["IMPORT_MAX_ROWS"] = 3
    login(client)
    data = csv_text([["内容"]] + [[f"第{i}条"] for i in range(4)]).encode()
    page = upload(client, office, data, "four.csv", follow_redirects=True).get_data(as_text=True)
    assert "超过 3 行数据的上限" in page
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0
    assert uploads_left(app) == []
    data = csv_text([["内容"]] + [[f"第{i}条"] for i in range(3)]).encode()
    assert "/mapping" in upload(client, office, data, "three.csv").headers["Location"]
    assert len(uploads_left(app)) == 1


@pytest.mark.parametrize(
    ("data", "name"),
    [(b"\x80\xff\x80\xff\x80\xff", "bad.csv"), (b"", "empty.csv"), (b"%PDF-1.4", "a.pdf")],
)
def test_refused_uploads_leave_no_file(client, office, app, data, name):
    login(client)
    response = upload(client, office, data, name, follow_redirects=True)
    assert response.status_code == 200
    assert uploads_left(app) == []


def test_escaped_quote_late_in_a_long_file_imports_exactly(client, office, runner, tmp_path):
    """Regression: 200 plain rows then a row with ``""`` was refused/corrupted."""
    late = '门口挂着"禁止停车"的牌子,却没人管'
    rows = [["留言编号", "留言时间", "留言详情"]]
    rows += [[str(i), "2024-01-01 08:00", f"第{i}条留言：路灯坏了"] for i in range(200)]
    rows += [["200", "2024-01-02 09:00", late]]
    rows += [
        [str(i), "2024/3/1 8:00:00", f'第{i}条："{i}号"楼下\n积水,请处理'] for i in range(201, 3000)
    ]
    path = tmp_path / "quotes.csv"
    path.write_bytes(csv_text(rows).encode("gb18030"))
    assert '"门口挂着""禁止停车""的牌子,却没人管"' in path.read_bytes().decode("gb18030")
    result = runner.invoke(args=["import", str(path), "--source", office.source.name])
    assert result.exit_code == 0, result.output
    assert "新增 3000 条" in result.output and "错误 0 条" in result.output
    stored = dict(db.session.execute(select(Item.external_id, Item.text)).all())
    assert stored["200"] == late
    assert all(stored[r[0]] == r[2] for r in rows[1:])


def test_big5_upload_keeps_the_traditional_text(client, office):
    """Regression: Big5 decoded silently into GB18030 mojibake."""
    text = "門口掛著禁止停車的牌子，卻沒人管。"
    login(client)
    data = csv_text([["編號", "內容"], ["1", text]]).encode("big5")
    response = upload(client, office, data, "hk.csv")
    batch = db.session.scalars(select(ImportBatch)).one()
    assert batch.encoding == "big5" and batch.columns == ["編號", "內容"]
    map_and_run(client, batch)
    assert db.session.scalars(select(Item.text)).one() == text
    assert response.status_code == 302


def test_failed_batch_says_why_stops_and_resumes_without_double_counting(
    client, office, monkeypatch
):
    """Regression: an error other than a validation error left the batch "running" for ever
    and a re-run counted the first attempt's rows as duplicates."""
    login(client)
    rows = [["编号", "内容"]] + [[str(i), f"第{i}条：路灯坏了"] for i in range(1200)]
    upload(client, office, csv_text(rows).encode(), "m.csv")
    batch = db.session.scalars(select(ImportBatch)).one()
    real = ingest.ingest_items
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "ingest_items", flaky)
    map_and_run(client, batch)  # the sync job runs inline and fails on the second chunk
    db.session.expire_all()
    batch = db.session.get(ImportBatch, batch.id)
    assert batch.status == "failed" and "RuntimeError" in batch.failure
    assert (batch.processed_rows, batch.ok_rows, batch.duplicate_rows) == (500, 500, 0)
    status = client.get(f"/imports/{batch.id}/status").get_json()
    assert status["status"] == "failed" and status["failure"] == batch.failure
    page = client.get(f"/imports/{batch.id}").get_data(as_text=True)
    assert "导入未完成" in page and f"/imports/{batch.id}/retry" in page
    assert 'data-status="failed"' in page  # the page script does not poll a finished batch

    monkeypatch.setattr(ingest, "ingest_items", real)
    response = client.post(f"/imports/{batch.id}/retry", data={"csrf_token": token_of(page)})
    assert response.status_code == 302
    db.session.expire_all()
    batch = db.session.get(ImportBatch, batch.id)
    assert batch.status == "done" and batch.failure is None
    assert (batch.ok_rows, batch.duplicate_rows, batch.error_rows) == (1200, 0, 0)
    assert db.session.scalar(select(func.count()).select_from(Item)) == 1200
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "import.fail" in actions and "import.retry" in actions
    # A finished batch cannot be retried.
    again = client.post(
        f"/imports/{batch.id}/retry", data={"csrf_token": token_of(page)}, follow_redirects=True
    )
    assert "只有失败或已中断的导入任务可以重试" in again.get_data(as_text=True)


def test_unexpected_error_fails_the_batch_for_the_cli_too(office, monkeypatch, runner, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("内容\n路灯坏了\n", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ingest, "ingest_items", broken)
    result = runner.invoke(args=["import", str(path), "--source", office.source.name])
    assert result.exit_code == 1 and "导入失败" in result.output
    assert db.session.scalars(select(ImportBatch.status)).one() == "failed"


def test_calendar_upload_refuses_undecodable_bytes(client, office, app):
    """Regression: the calendar upload decoded with errors="replace" (U+FFFD in names)."""
    login(client, "admin")
    token = token_of(client.get("/admin/calendar/").get_data(as_text=True))
    data = b"2027-01-01,holiday,\x80\x80\n"
    page = client.post(
        "/admin/calendar/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), "2027.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "无法识别文件编码" in page
    assert db.session.scalar(select(func.count()).select_from(WorkCalendar)) == 0


def test_calendar_upload_reads_gbk_and_xlsx(client, office):
    from openpyxl import Workbook

    login(client, "admin")
    token = token_of(client.get("/admin/calendar/").get_data(as_text=True))
    data = "日期,类型,名称\n2027-01-01,休,元旦\n".encode("gbk")
    client.post(
        "/admin/calendar/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), "2027.csv")},
        content_type="multipart/form-data",
    )
    names = db.session.scalars(select(WorkCalendar.name).where(WorkCalendar.name.is_not(None)))
    assert list(names) == ["元旦"]
    wb = Workbook()
    wb.active.append(["日期", "类型", "名称"])
    wb.active.append(["2028-01-01", "holiday", "元旦"])
    buf = io.BytesIO()
    wb.save(buf)
    client.post(
        "/admin/calendar/import",
        data={"csrf_token": token, "file": (io.BytesIO(buf.getvalue()), "2028.xlsx")},
        content_type="multipart/form-data",
    )
    years = db.session.scalars(select(func.count()).select_from(WorkCalendar)).one()
    assert years == 365 + 366


def test_fuzz_the_upload_page_never_answers_500(client, office, app):
    """Arbitrary bytes or CSV in any supported encoding: a mapping page or a message, never
    a 500 (issue 11)."""
    login(client)
    token = token_of(client.get("/imports/").get_data(as_text=True))
    cell = st.text(alphabet=st.sampled_from(list('路灯補辦,"\n\t ＂a1')), max_size=8)
    payload = st.one_of(
        st.binary(max_size=300),
        st.tuples(
            st.lists(st.lists(cell, min_size=1, max_size=3), min_size=1, max_size=8),
            st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "gb18030", "big5"]),
        ).map(lambda t: csv_text(t[0]).encode(t[1], errors="ignore")),
    )

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(data=payload, name=st.sampled_from(["f.csv", "f.xlsx", "f.tsv"]))
    def check(data: bytes, name: str) -> None:
        response = client.post(
            "/imports/",
            data={
                "source_id": office.source.id,
                "csrf_token": token,
                "file": (io.BytesIO(data), name),
            },
            content_type="multipart/form-data",
        )
        assert response.status_code == 302, response.status_code
        if "/mapping" in response.headers["Location"]:
            batch = db.session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
            assert client.get(f"/imports/{batch.id}/mapping").status_code in (200, 302)
            if batch.mapping and ("text" in batch.mapping or "title" in batch.mapping):
                map_and_run(client, batch)
                db.session.expire_all()
                assert db.session.get(ImportBatch, batch.id).status in ("done", "failed")

    check()
    # Nothing is left half-way: every batch is waiting for a mapping, done, or failed.
    statuses = set(db.session.scalars(select(ImportBatch.status)))
    assert statuses <= {"uploaded", "done", "failed"}


def test_a_batch_whose_worker_died_can_be_retried_and_one_run_at_a_time(client, office, app):
    from datetime import timedelta

    from sentinel.jobs.imports import run_batch
    from sentinel.models import utcnow

    login(client)
    rows = [["编号", "内容"]] + [[str(i), f"第{i}条：井盖丢了"] for i in range(30)]
    upload(client, office, csv_text(rows).encode(), "m.csv")
    batch = db.session.scalars(select(ImportBatch)).one()
    batch.mapping = {"external_id": "编号", "text": "内容"}
    batch.status, batch.heartbeat_at = "running", utcnow()
    db.session.commit()
    # Another run holds the batch (fresh heartbeat): a second run does nothing.
    assert run_batch(batch.id).processed_rows == 0
    assert db.session.scalar(select(func.count()).select_from(Item)) == 0
    page = client.get(f"/imports/{batch.id}").get_data(as_text=True)
    assert 'data-status="running"' in page
    # The worker died: no heartbeat for longer than IMPORT_STALL_SECONDS.
    batch.heartbeat_at = utcnow() - timedelta(seconds=app.config["IMPORT_STALL_SECONDS"] + 5)
    db.session.commit()
    assert client.get(f"/imports/{batch.id}/status").get_json()["stalled"] is True
    page = client.get(f"/imports/{batch.id}").get_data(as_text=True)
    assert 'data-status="stalled"' in page and "导入已中断" in page
    client.post(f"/imports/{batch.id}/retry", data={"csrf_token": token_of(page)})
    db.session.expire_all()
    batch = db.session.get(ImportBatch, batch.id)
    assert (batch.status, batch.ok_rows, batch.duplicate_rows) == ("done", 30, 0)
