"""The one decoder and CSV/XLSX reader (classifiers.tabular): encodings, quotes late in
long files, refusals with a clear message, and property-based fuzzing."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from classifiers import batch, tabular
from classifiers.tabular import TableError, decode_text, read_table

# Traditional Chinese as a Hong Kong/Taiwan correspondent writes it (Big5-encodable).
TRADITIONAL = [
    "請問社保卡在哪裡補辦？",
    "市民反映路燈壞了很久沒有人修理，晚上出門很不方便。",
    "門口掛著禁止停車的牌子，卻沒人管。",
]
SIMPLIFIED = [
    "请问社保卡在哪里补办？",
    "市民反映路灯坏了很久没有人修理，晚上出门很不方便。",
    "门口挂着禁止停车的牌子，却没人管。",
]


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_big5_is_decoded_as_big5_not_gb18030_mojibake(n):
    text = _csv([["編號", "內容"]] + [[str(i), t] for i, t in enumerate(TRADITIONAL[:n])])
    data = text.encode("big5")
    data.decode("gb18030")  # the old decoder's strict GB18030 attempt accepts these bytes
    decoded = decode_text(data)
    assert decoded.encoding == "big5"
    assert decoded.text == text


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_gb_family_is_preferred_for_mainland_files(encoding, n):
    text = _csv([["编号", "内容"]] + [[str(i), t] for i, t in enumerate(SIMPLIFIED[:n])])
    decoded = decode_text(text.encode(encoding))
    assert (decoded.encoding, decoded.text) == ("gb18030", text)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("编号,内容\n".encode(), "utf-8"),
        ("编号,内容\n".encode("utf-8-sig"), "utf-8-sig"),
        ("编号\t内容\r\n".encode("utf-16"), "utf-16"),
        (codecs.BOM_UTF16_BE + "编号,内容\n".encode("utf-16-be"), "utf-16"),
    ],
)
def test_utf_encodings_by_their_bytes(data, encoding):
    decoded = decode_text(data)
    assert decoded.encoding == encoding and decoded.text.rstrip() in ("编号,内容", "编号\t内容")


def test_damaged_utf8_is_refused_with_its_line_not_replaced():
    data = ("内容\n" + "路灯坏了很久没有人修理\n" * 5).encode() + b"\xff\xfe" + "尾\n".encode()
    with pytest.raises(TableError) as err:
        decode_text(data)
    assert "第 7 行" in err.value.message and "无法识别文件编码" in err.value.message


def test_a_cut_off_last_character_is_dropped_not_replaced():
    assert decode_text("路灯坏了".encode()[:-1]).text == "路灯坏"
    assert decode_text("路灯坏了".encode("gb18030")[:-1]).text == "路灯坏"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04\x00\x00rest", "请以 .xlsx 扩展名上传"),
        (b"abc\x00def", "不是文本文件"),
        (b"\x80\xff\x80\xff\x80\xff", "无法识别文件编码"),
    ],
)
def test_undecodable_files_are_refused_clearly(data, message):
    with pytest.raises(TableError) as err:
        read_table(data, "x.csv")
    assert message in err.value.message


def test_an_escaped_quote_after_200_plain_rows_is_read_exactly():
    """Regression: a sniffed sample without quotes turned ``doublequote`` off and split the
    row (bug: 364 of 25,000 rows refused, ~400 corrupted)."""
    late = '门口挂着"禁止停车"的牌子,却没人管'
    rows = [["编号", "时间", "内容"]]
    rows += [[str(i), "2024-01-01 08:00", f"第{i}条留言"] for i in range(200)]
    rows.append(["200", "2024-01-02 09:00", late])
    text = "\r\n".join(",".join(r) for r in rows[:201])
    text += '\r\n200,2024-01-02 09:00,"门口挂着""禁止停车""的牌子,却没人管"\r\n'
    table = read_table(text.encode("utf-8"), "m.csv")
    assert len(table.rows) == 201
    assert table.rows[-1] == {"编号": "200", "时间": "2024-01-02 09:00", "内容": late}
    assert table.numbers[-1] == 202


def test_long_file_with_quotes_and_line_breaks_late_reads_every_row():
    rows = [["编号", "留言时间", "留言详情"]]
    for i in range(20_000):
        body = f"第{i}条：路灯坏了"
        if i > 15_000 and i % 7 == 0:
            body = f'第{i}条："{i}号"楼下\n\t\t积水,请处理'
        rows.append([str(i), "2024/3/1 8:00:00", body])
    text = _csv(rows)
    for encoding in ("utf-8-sig", "gb18030"):
        table = read_table(text.encode(encoding), "long.csv")
        assert [r["留言详情"] for r in table.rows] == [r[2] for r in rows[1:]]
        assert all(r["留言时间"] == "2024/3/1 8:00:00" for r in table.rows)


def test_delimiter_is_decided_once_from_the_header():
    text = "编号\t内容\n1\t路灯坏了, 没人修; 请处理\n2\t井盖丢了\n"
    table = read_table(text.encode(), "x.csv")
    assert table.columns == ["编号", "内容"]
    assert table.rows[0]["内容"] == "路灯坏了, 没人修; 请处理"


def test_surplus_cells_are_kept_aside_not_dropped():
    table = read_table("内容\n路灯坏了,没人修\n".encode(), "x.csv")
    assert table.rows[0]["内容"] == "路灯坏了" and table.rows[0][tabular.EXTRA] == ["没人修"]


def test_unbalanced_quote_is_refused_with_a_line():
    with pytest.raises(TableError) as err:
        read_table('编号,内容\n1,"路灯坏了\n2,井盖丢了\n'.encode(), "x.csv")
    assert "引号" in err.value.message


def test_max_rows_counts_data_rows():
    text = "内容\n" + "".join(f"第{i}条\n" for i in range(5))
    assert len(read_table(text.encode(), "x.csv", max_rows=5).rows) == 5
    with pytest.raises(TableError) as err:
        read_table(text.encode(), "x.csv", max_rows=4)
    assert "4 行" in err.value.message


def test_xlsx_and_csv_give_the_same_table():
    wb = Workbook()
    for row in [["编号", "内容"], [1, SIMPLIFIED[0]], [None, None], [2, SIMPLIFIED[1]]]:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    table = read_table(buf.getvalue(), "m.xlsx")
    assert table.encoding is None and table.columns == ["编号", "内容"]
    assert [r["内容"] for r in table.rows] == SIMPLIFIED[:2] and table.numbers == [2, 4]
    with pytest.raises(TableError):
        read_table(b"not a zip", "m.xlsx")


def test_classify_reads_big5_through_the_same_reader(tmp_path):
    path = tmp_path / "hk.csv"
    path.write_bytes(_csv([["id", "text"], ["1", TRADITIONAL[0]]]).encode("big5"))
    rows = list(batch.read_rows(path))
    assert rows[0].text == TRADITIONAL[0]


# --- property-based fuzzing -------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "gbk", "gb18030", "big5"]
cells = st.text(
    alphabet=st.sampled_from(list("路灯坏了请问社保卡補辦門口,\"'\t\n\r ;abc123＂，。、")),
    max_size=12,
)


@FUZZ
@given(data=st.binary(max_size=400), name=st.sampled_from(["a.csv", "a.tsv", "a.txt", "a.xlsx"]))
def test_fuzz_arbitrary_bytes_only_raise_table_error(data, name):
    try:
        table = read_table(data, name, max_rows=50)
    except TableError as exc:
        assert exc.message
        return
    assert len(table.rows) == len(table.numbers)


@FUZZ
@given(
    rows=st.lists(st.lists(cells, min_size=1, max_size=4), min_size=1, max_size=30),
    encoding=st.sampled_from(ENCODINGS),
)
def test_fuzz_csv_in_any_supported_encoding_round_trips(rows, encoding):
    text = _csv(rows)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return  # a character the encoding cannot hold (Big5 has no simplified forms)
    try:
        table = read_table(data, "f.csv")
    except TableError as exc:
        assert exc.message
        return
    assert len(table.rows) == len(table.numbers)
    if encoding.startswith("utf"):
        # Recognised by their bytes: decoded exactly, and the Excel dialect reads back every
        # cell csv.writer wrote (quotes, commas, line breaks anywhere in the file).
        decoded = decode_text(data).text
        assert decoded.removeprefix("\ufeff") == text
        records, _ = tabular.parse_csv(decoded, delimiter=",")
        assert records == [r for r in rows if any(c.strip() for c in r)]
