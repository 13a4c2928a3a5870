"""Pre-publish lint (issue 13): each kind with real-looking positives and negatives,
exact spans when Chinese text is glued to a number or an address, masking, word lists."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.reply_lint import (
    Finding,
    LintConfig,
    WordList,
    apply_mask,
    default_wordlist,
    lint,
    luhn_valid,
    mask_all,
    valid_id15,
    valid_id18,
)

NO_WORDS = LintConfig(words=None)

# Check digits computed by hand (GB 11643 weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2).
ID_A = "430102199003071234"
ID_X = "11010519491231002X"
ID_LEAP = "330106198802294562"  # born 29 February 1988
ID_ALSO_LUHN = "430102199003070055"  # a valid ID that also passes Luhn: still an ID
CARD_19 = "6222021234567890128"
CARD_16 = "4367421234567896"


def spans(text: str, config: LintConfig = NO_WORDS) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in lint(text, config)]


def only(text: str, kind: str) -> Finding:
    found = [f for f in lint(text, NO_WORDS) if f.kind == kind]
    assert len(found) == 1, found
    return found[0]


# ----------------------------------------------------------------------------- id_card


@pytest.mark.parametrize(
    "text, number",
    [
        (f"申请人身份证号{ID_A}，请核对", ID_A),
        (f"身份证号码：{ID_X}。", ID_X),
        (f"证件号{ID_X.lower()}已登记", ID_X.lower()),
        (f"（{ID_LEAP}）", ID_LEAP),
        (f"号码 {ID_ALSO_LUHN} 属实", ID_ALSO_LUHN),
        ("旧身份证430102900307123已换领", "430102900307123"),
        ("身份证 430102 19900307 1234 复印件", "430102 19900307 1234"),
    ],
)
def test_id_numbers_are_found_with_their_exact_span(text: str, number: str) -> None:
    f = only(text, "id_card")
    assert f.text == number == text[f.start : f.end]
    assert f.message.startswith("疑似身份证")


@pytest.mark.parametrize(
    "text",
    [
        "身份证号430102199003071235",  # wrong check digit
        "身份证号430102199002301237",  # 30 February, check digit right
        "身份证号430102300003071238",  # born in 3000
        "旧证430102901307123",  # month 13
        "旧证030102900307123",  # no region code starts with 0
        "流水号1430102199003071234",  # inside a longer run of digits
        "编号A430102199003071234B",  # glued to letters: a code, not an ID
    ],
)
def test_invalid_or_embedded_id_numbers_are_not_findings(text: str) -> None:
    assert [k for k, _ in spans(text) if k == "id_card"] == []


def test_id_check_functions() -> None:
    assert valid_id18(ID_A) and valid_id18(ID_X) and valid_id18(ID_X.lower())
    assert not valid_id18("430102199003071235")
    assert valid_id15("430102900307123") and not valid_id15("430102900230123")


# ------------------------------------------------------------------------------ mobile


@pytest.mark.parametrize(
    "text, number",
    [
        ("电话13800138000联系", "13800138000"),
        ("手机：139 0731 8888，", "139 0731 8888"),
        ("请拨138-0013-8000咨询", "138-0013-8000"),
        ("联系+86 138 0013 8000。", "+86 138 0013 8000"),
        ("联系+8613800138000", "+8613800138000"),
        ("或86-138-0013-8000", "86-138-0013-8000"),
        ("热线19912345678，", "19912345678"),
        ("电话１３８００１３８０００转", "１３８００１３８０００"),  # full-width digits
        ("王先生（15173101234）反映", "15173101234"),
    ],
)
def test_mobiles_in_every_written_form(text: str, number: str) -> None:
    f = only(text, "mobile")
    assert f.text == number == text[f.start : f.end]


@pytest.mark.parametrize(
    "text",
    [
        "请致电0731-84567890咨询",
        "座机0731 8456 7890",
        "市民热线12345，24小时",
        "欢迎致电0731-12345或12319",
        "订单号138001380001已取消",  # 12 digits: an order number
        "订单号20231380013800015",
        "编号NO13800138000A",
        "金额13800138000.50元",
        "12800138000 不是手机号段",
        "2019年12月13日、〔2019〕12号文件",
    ],
)
def test_landlines_hotlines_and_longer_runs_are_not_mobiles(text: str) -> None:
    assert [k for k, _ in spans(text) if k == "mobile"] == []


# --------------------------------------------------------------------------- bank_card


@pytest.mark.parametrize(
    "text, number",
    [
        (f"退款至卡号{CARD_19}，", CARD_19),
        ("卡号：4367 4212 3456 7896。", "4367 4212 3456 7896"),
        ("账户6222-0212-3456-7890-128到账", "6222-0212-3456-7890-128"),
        ("农行卡9559901234567890125", "9559901234567890125"),
        ("万事达卡2221000000000009", "2221000000000009"),
    ],
)
def test_bank_cards(text: str, number: str) -> None:
    f = only(text, "bank_card")
    assert f.text == number


@pytest.mark.parametrize(
    "text",
    [
        "卡号6222021234567890129",  # Luhn fails
        "订单号2019121300012340",  # Luhn-valid, but a dated order number
        f"身份证{ID_ALSO_LUHN}",  # a valid ID is not a card
        "流水号62220212345678901281",  # 20 digits
    ],
)
def test_not_bank_cards(text: str) -> None:
    assert [k for k, _ in spans(text) if k == "bank_card"] == []


def test_luhn() -> None:
    assert luhn_valid(CARD_19) and luhn_valid(CARD_16) and not luhn_valid("6222021234567890129")


# ---------------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    "text, address",
    [
        ("邮箱abc@qq.com。", "abc@qq.com"),
        ("请发送至zhang.san-01@163.com联系", "zhang.san-01@163.com"),
        ("邮箱：wang＠sina.com.cn，", "wang＠sina.com.cn"),
        ("Email: Li_Si@Example.ORG.", "Li_Si@Example.ORG"),
    ],
)
def test_outside_emails(text: str, address: str) -> None:
    f = only(text, "email")
    assert f.text == address == text[f.start : f.end]


def test_emails_in_allowed_domains_are_fine() -> None:
    assert spans("请发邮件至xinfang@hunan.gov.cn或ban@gov.cn") == []
    cfg = LintConfig(allowed_domains=("gov.cn", "example.org"), words=None)
    assert spans("a@mail.example.org", cfg) == []
    assert spans("a@example.org.evil.com", cfg) == [("email", "a@example.org.evil.com")]


def test_digits_in_an_email_are_not_a_phone() -> None:
    assert spans("邮箱13800138000@163.com") == [("email", "13800138000@163.com")]


# ----------------------------------------------------------------------------------- link


@pytest.mark.parametrize(
    "text, url",
    [
        (
            "详见https://item.taobao.com/item.htm?id=123，",
            "https://item.taobao.com/item.htm?id=123",
        ),
        ("访问www.example.com了解", "www.example.com"),
        ("请登录shop.example.cn/buy/1。", "shop.example.cn/buy/1"),
        ("（http://192.168.1.10:8080/admin）", "http://192.168.1.10:8080/admin"),
        ("服务器121.41.105.198，", "121.41.105.198"),
        ("见HTTP://WWW.EXAMPLE.COM/A.", "HTTP://WWW.EXAMPLE.COM/A"),
        ("链接：http://www.hunan.gov.cn.evil.com/x", "http://www.hunan.gov.cn.evil.com/x"),
        ("网址：ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ，", "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ"),
    ],
)
def test_outside_links(text: str, url: str) -> None:
    f = only(text, "link")
    assert f.text == url == text[f.start : f.end]


@pytest.mark.parametrize(
    "text",
    [
        "详见http://www.hunan.gov.cn/xxgk/index.html。",
        "登录12345.changsha.gov.cn反映",
        "政府网站www.gov.cn",
        "附件.doc 与 报告.pdf",
        "根据《住宅设计规范》第5.0.2.3条",
        "合同法46.47.48.87条",
        "Co.Ltd 版本1.2.3",
        "面积1.5平方公里",
    ],
)
def test_allowed_links_and_lookalikes_are_not_findings(text: str) -> None:
    assert [k for k, _ in spans(text) if k == "link"] == []


def test_two_urls_run_together_are_two_links() -> None:
    text = "https://a.com/https://b.com/x"
    assert spans(text) == [("link", "https://a.com/"), ("link", "https://b.com/x")]
    # ... but a URL given as a parameter stays inside its link
    assert spans("https://a.com/?u=https://b.com/") == [("link", "https://a.com/?u=https://b.com/")]


def test_a_number_glued_after_a_link_is_not_part_of_it() -> None:
    assert spans("见https://baidu.com/.27 与 https://baidu.com/-2012）") == [
        ("link", "https://baidu.com/"),
        ("link", "https://baidu.com/"),
    ]


def test_numbers_inside_a_link_are_not_phones() -> None:
    assert spans("http://example.com/u/13800138000") == [
        ("link", "http://example.com/u/13800138000")
    ]
    assert spans("http://www.hunan.gov.cn/13800138000.html") == []


# -------------------------------------------------------------------------------- masking


def test_masks() -> None:
    assert only(f"号{ID_A}", "id_card").mask == "4301**********1234"
    assert only("电话13800138000", "mobile").mask == "138****8000"
    assert only("电话138 0013 8000", "mobile").mask == "138 **** 8000"
    assert only("电话+86 138-0013-8000", "mobile").mask == "+86 138-****-8000"
    assert only(f"卡{CARD_19}", "bank_card").mask == "6222***********0128"
    assert only("邮箱abc@qq.com", "email").mask == "a***@qq.com"
    assert only("www.example.com", "link").mask is None


def test_apply_mask_and_mask_all() -> None:
    text = f"身份证{ID_A}，电话13800138000，见www.example.com，国务院办工厅来函"
    findings = lint(text)
    assert [f.kind for f in findings] == ["id_card", "mobile", "link", "word"]
    once = apply_mask(text, findings[1])
    assert "138****8000" in once and ID_A in once
    masked = mask_all(text, findings)
    assert (
        masked == "身份证4301**********1234，电话138****8000，见www.example.com，国务院办公厅来函"
    )
    # The link has no mask: it stays for the author, and the lint still reports it.
    assert [f.kind for f in lint(masked)] == ["link"]


def test_apply_mask_refuses_a_stale_finding_or_one_without_a_mask() -> None:
    text = "电话13800138000"
    f = only(text, "mobile")
    with pytest.raises(ValueError):
        apply_mask("电话：13800138000", f)
    link = only("www.example.com", "link")
    with pytest.raises(ValueError):
        apply_mask("www.example.com", link)


def test_findings_are_sorted_and_spans_match_the_text() -> None:
    text = "邮箱a@qq.com，电话13800138000；卡号4367 4212 3456 7896，身份证" + ID_X
    findings = lint(text, NO_WORDS)
    assert [f.start for f in findings] == sorted(f.start for f in findings)
    assert all(text[f.start : f.end] == f.text for f in findings)
    assert [f.kind for f in findings] == ["email", "mobile", "bank_card", "id_card"]


def test_empty_text() -> None:
    assert lint("") == []


# ----------------------------------------------------------------------------- word lists


def test_shipped_word_list_has_real_entries() -> None:
    words = default_wordlist()
    wrong = [e for e in words.entries if e.kind == "错词"]
    assert len(wrong) >= 100
    assert all(e.suggestion and e.suggestion != e.word for e in wrong)
    for correct in {e.suggestion for e in wrong}:
        # no correct form is itself flagged
        assert [f for f in words.find(correct or "") if f.suggestion == correct] == [], correct


@pytest.mark.parametrize(
    "text, word, suggestion",
    [
        ("国务院办工厅印发通知", "国务院办工厅", "国务院办公厅"),
        ("坚持中国特色社会主意", "社会主意", "社会主义"),
        ("市人大常务会审议", "人大常务会", "人大常委会"),
        ("截止目前已办结", "截止目前", "截至目前"),
        ("来信收息。", "来信收息", "来信收悉"),
        ("习进平总书记指出", "习进平", "习近平"),
        ("人民检查院", "人民检查院", "人民检察院"),
        ("政治协商会仪", "政治协商会仪", "政治协商会议"),
    ],
)
def test_shipped_wrong_words(text: str, word: str, suggestion: str) -> None:
    found = [f for f in lint(text) if f.kind == "word"]
    assert [(f.text, f.suggestion) for f in found] == [(word, suggestion)]
    assert suggestion in found[0].message


def test_correct_official_text_has_no_findings() -> None:
    text = (
        "国务院办公厅、中共中央办公厅印发通知，市人大常委会、市政协审议。"
        "截至目前，来信收悉。习近平总书记强调坚持中国特色社会主义，人民检察院依法办理。"
        "请登录政府网站www.gov.cn查询，咨询电话0731-88888888或12345。"
    )
    assert lint(text) == []


def test_sensitive_words_have_no_one_click_fix() -> None:
    f = next(x for x in lint("此事无可奉告") if x.kind == "word")
    assert f.suggestion is None and "敏感词" in f.message and "建议" in f.message
    with pytest.raises(ValueError):
        apply_mask("此事无可奉告", f)
    words = WordList([("内部明电", "敏感词", None)])
    g = words.find("见内部明电")[0]
    assert g.suggestion is None and g.mask is None
    with pytest.raises(ValueError):
        apply_mask("见内部明电", g)


def test_word_list_leftmost_longest_and_later_rows_override() -> None:
    words = WordList(
        [
            ("办工厅", "错词", "办公厅"),
            ("国务院办工厅", "错词", "国务院办公厅"),
            ("ABC", "敏感词", None),
            ("办工厅", "错词", "办公厅（新）"),
        ]
    )
    assert len(words) == 3
    found = words.find("国务院办工厅、省办工厅、abc、ＡＢＣ")
    assert [(f.text, f.suggestion) for f in found] == [
        ("国务院办工厅", "国务院办公厅"),
        ("办工厅", "办公厅（新）"),
        ("abc", None),
        ("ＡＢＣ", None),
    ]
    assert [(f.start, f.end) for f in found] == [(0, 6), (8, 11), (12, 15), (16, 19)]


def test_word_list_rejects_bad_rows() -> None:
    with pytest.raises(ValueError):
        WordList([("错字", "别的", "对字")])
    with pytest.raises(ValueError):
        WordList([("错字", "错词", None)])
    with pytest.raises(ValueError):
        WordList([("同字", "错词", "同字")])
    assert len(WordList([("  ", "错词", "x")])) == 0


def _naive(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Leftmost-longest, non-overlapping matching with plain loops (the reference)."""
    out = []
    i = 0
    while i < len(text):
        best = max((w for w in words if text.startswith(w, i)), key=len, default=None)
        if best:
            out.append((i, i + len(best)))
            i += len(best)
        else:
            i += 1
    return out


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.text(alphabet="甲乙丙丁", min_size=1, max_size=4), min_size=1, max_size=8),
    text=st.text(alphabet="甲乙丙丁戊", max_size=40),
)
def test_aho_corasick_matches_the_naive_reference(words: list[str], text: str) -> None:
    wl = WordList([(w, "敏感词", None) for w in words])
    assert [(f.start, f.end) for f in wl.find(text)] == _naive(text, list(set(words)))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *"0123456789０１２３４５６７８９ -+.@/:Xx，。：电话邮箱wwwcomcnhttps",
                *("13800138000", ID_A, CARD_16, "abc@qq.com", "www.example.com", ".gov.cn"),
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_any_text_gives_exact_spans_without_chinese(text: str) -> None:
    for f in lint(text):
        assert f.kind in ("id_card", "mobile", "bank_card", "email", "link", "word")
        assert 0 <= f.start < f.end <= len(text) and text[f.start : f.end] == f.text
        if f.kind != "word":
            assert not any("\u4e00" <= c <= "\u9fff" for c in f.text), f
            assert f.text[-1] not in "，。：.,:;", f
        if f.kind in ("id_card", "mobile", "bank_card"):
            assert f.mask is not None and len(f.mask) == len(f.text) and "*" in f.mask
