"""Evaluation of the pre-publish lint (issue 13): per-kind precision/recall and throughput.

Run from the repository root::

    python bench/lint_eval.py [-n 2516] [--seed 13] [--dump eval.jsonl]

The labelled set is built from the real official replies (答复意见) in
``data/gov_replies/messages_with_replies.csv``. Those replies already hold landlines
(0746-8219007), the 12345/12315 hotlines, user ids (UU0081340), document numbers,
dates, amounts and links; the publisher anonymised every URL to ``https://baidu.com/``
(sometimes glued to what followed it, e.g. ``https://baidu.com/.27``) and phone numbers
to ``0000-00000000``. The real content is labelled by a rule written independently of the
lint: each ``https://baidu.com/`` is a link with exactly that span; nothing else in a
real reply is a finding (hand-checked: the 1,500+ digit runs of seven or more digits are
landlines, ids, amounts and anonymised numbers; there is no mobile, ID, card or e-mail).

Into each reply the script inserts, at random character positions (so numbers and
addresses are glued to Chinese text and punctuation on either side), realistic synthetic
positives with known spans — ID numbers with real dates and GB 11643 check digits (18
and 15 digits, grouped, lower-case x), mobiles (plain, 3-4-4 with spaces or dashes, +86,
86-, full-width digits), Luhn-valid bank cards (16 and 19 digits, grouped), e-mail
addresses, links (scheme, www, bare domain with path, IP host with port), wrong words
from the shipped list — and hard negatives: landlines in every common form, hotlines,
order numbers, dates, 文号, long digit runs holding a mobile, IDs with a wrong check digit
or date, Luhn-invalid card-like numbers, gov.cn links and addresses, clause numbers,
standards (GB50096-2011), amounts. Generators here compute check digits themselves.

Prints ``key=value`` lines: per kind ``tp fp fn precision recall`` (exact spans),
``throughput_texts_per_s`` over the augmented replies, and a sample of errors.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.reply_lint import KINDS, LintConfig, default_wordlist, lint  # noqa: E402

REPLIES = ROOT / "data" / "gov_replies" / "messages_with_replies.csv"
ANON_LINK = "https://baidu.com/"

# --------------------------------------------------------------------------- generators

REGIONS = [
    "110101",
    "110105",
    "120101",
    "130102",
    "140105",
    "150102",
    "210102",
    "220102",
    "230102",
    "310104",
    "310115",
    "320102",
    "320583",
    "330106",
    "340102",
    "350102",
    "360102",
    "370202",
    "410105",
    "420106",
    "430102",
    "430104",
    "430181",
    "440305",
    "440106",
    "450103",
    "460105",
    "500103",
    "510107",
    "520102",
    "530102",
    "540102",
    "610113",
    "620102",
    "630102",
    "640104",
    "650102",
]
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "145",
    "147",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "170",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "193",
    "195",
    "198",
    "199",
]
CARD_PREFIXES = ("622202", "621700", "622848", "621483", "622588", "625965", "436742", "955880")
EMAIL_DOMAINS = [
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "gmail.com",
    "foxmail.com",
    "139.com",
    "hotmail.com",
    "yeah.net",
    "sohu.com",
    "aliyun.com",
    "example.com.cn",
]
PINYIN = [
    "zhang",
    "wang",
    "li",
    "liu",
    "chen",
    "yang",
    "huang",
    "zhao",
    "wu",
    "zhou",
    "xu",
    "sun",
    "ma",
    "zhu",
    "hu",
    "lin",
    "he",
    "guo",
    "luo",
]
FW = {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}
HALF = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}


def check_digit(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def luhn_complete(body: str) -> str:
    for d in "0123456789":
        n = body + d
        total = 0
        for i, ch in enumerate(reversed(n)):
            x = int(ch)
            if i % 2:
                x = x * 2 - 9 if x * 2 > 9 else x * 2
            total += x
        if total % 10 == 0:
            return n
    raise AssertionError


def birth(rng: random.Random) -> str:
    y = rng.randint(1940, 2008)
    m = rng.randint(1, 12)
    d = rng.randint(1, 28)
    return f"{y:04d}{m:02d}{d:02d}"


def id18(rng: random.Random) -> str:
    first = rng.choice(REGIONS) + birth(rng) + f"{rng.randint(0, 999):03d}"
    number = first + check_digit(first)
    r = rng.random()
    if r < 0.1:
        return f"{number[:6]} {number[6:14]} {number[14:]}"
    if r < 0.15:
        return number.lower()
    return number


def id15(rng: random.Random) -> str:
    return rng.choice(REGIONS) + birth(rng)[2:] + f"{rng.randint(0, 999):03d}"


def mobile(rng: random.Random) -> str:
    n = rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
    r = rng.random()
    if r < 0.45:
        return n
    if r < 0.6:
        return f"{n[:3]} {n[3:7]} {n[7:]}"
    if r < 0.75:
        return f"{n[:3]}-{n[3:7]}-{n[7:]}"
    if r < 0.82:
        return f"+86 {n}" if rng.random() < 0.5 else f"+86 {n[:3]} {n[3:7]} {n[7:]}"
    if r < 0.87:
        return f"+86{n}"
    if r < 0.92:
        return f"86-{n[:3]}-{n[3:7]}-{n[7:]}"
    return n.translate(FW)


def card(rng: random.Random) -> str:
    length = rng.choice((16, 19, 19))
    prefix = rng.choice(CARD_PREFIXES)
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    number = luhn_complete(body)
    r = rng.random()
    if r < 0.3:
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    if r < 0.35:
        return "-".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def email(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        local = str(rng.randint(10_000, 9_999_999_999))
    elif r < 0.8:
        local = rng.choice(PINYIN) + rng.choice(("", ".", "_")) + rng.choice(PINYIN)
        local += str(rng.randint(1, 999)) if rng.random() < 0.5 else ""
    else:
        local = rng.choice(PINYIN)[0] + rng.choice(PINYIN)[0] + str(rng.randint(1970, 2005))
    at = "＠" if rng.random() < 0.05 else "@"
    return local + at + rng.choice(EMAIL_DOMAINS)


def link(rng: random.Random) -> str:
    shop = rng.choice(("taobao", "jd", "pinduoduo", "douyin", "meituan", "xiaohongshu", "youzan"))
    path = "/" + rng.choice(("item", "shop", "s", "p", "detail")) + f"/{rng.randint(1, 99999)}"
    return rng.choice(
        (
            f"https://www.{shop}.com{path}",
            f"http://{shop}.com{path}.html",
            f"www.{shop}.com",
            f"{shop}.cn{path}",
            f"https://item.{shop}.com/item.htm?id={rng.randint(10**9, 10**12)}",
            f"http://{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
            f"{rng.randint(1, 254)}:{rng.choice((8080, 8000, 443, 9000))}/login",
            f"https://mp.weixin.qq.com/s/{rng.choice(PINYIN)}{rng.randint(100, 999)}",
            f"t.cn/{rng.choice(PINYIN).capitalize()}{rng.randint(10, 99)}",
            f"https://{rng.choice(PINYIN)}{rng.randint(1, 99)}.xyz/",
        )
    )


def wrong_word(rng: random.Random) -> str:
    entries = [e for e in default_wordlist().entries if e.kind == "错词"]
    return rng.choice(entries).word


POSITIVES = {
    "id_card": lambda rng: id18(rng) if rng.random() < 0.9 else id15(rng),
    "mobile": mobile,
    "bank_card": card,
    "email": email,
    "link": link,
    "word": wrong_word,
}
LEADS = {
    "id_card": ("身份证号", "身份证号码：", "证件号", ""),
    "mobile": ("联系电话", "手机", "电话：", "请拨打", ""),
    "bank_card": ("卡号", "银行卡号：", "账号", ""),
    "email": ("邮箱", "电子邮箱：", "发送至", ""),
    "link": ("详见", "链接：", "访问", ""),
    "word": ("",),
}


def luhn_ok(number: str) -> bool:
    return number.isdigit() and luhn_complete(number[:-1]) == number


def not_a_card(rng: random.Random, make: Callable[[], str]) -> str:
    """A 16-19 digit look-alike that fails Luhn: a negative by the letter of the rule."""
    while True:
        value = make()
        if not luhn_ok(value):
            return value


#: Date-prefixed order numbers that happen to pass Luhn: bank cards by the letter of the
#: issue's rule, not reported by the lint (card numbers start with 3, 4, 5, 6 or 9).
LUHN_VALID_ORDER_NUMBERS = Counter[str]()


def order_number(rng: random.Random) -> str:
    number = (
        f"{2019 + rng.randint(0, 5)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        f"{rng.randint(10**7, 10**11 - 1)}"
    )
    if 16 <= len(number) <= 19 and luhn_ok(number):
        LUHN_VALID_ORDER_NUMBERS["n"] += 1
    return "订单号" + number


def negative(rng: random.Random) -> str:
    """A hard negative: looks like personal data or a link, is not a finding."""
    area = rng.choice(("0731", "0746", "0745", "0738", "010", "021", "0755"))
    local = f"{rng.randint(2, 8)}{rng.randint(0, 9_999_999):07d}"
    first17 = rng.choice(REGIONS) + birth(rng) + f"{rng.randint(0, 999):03d}"
    wrong_check = "0123456789X".replace(check_digit(first17), "")
    card_body = rng.choice(CARD_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(9))
    good_card = luhn_complete(card_body)
    mob = rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
    gov = rng.choice(("hunan", "changsha", "hengyang", "zhuzhou", "yueyang"))

    def bad_date() -> str:
        first = rng.choice(REGIONS) + birth(rng)[:4] + "1332" + f"{rng.randint(0, 999):03d}"
        return first + check_digit(first)

    choice = rng.randrange(24)
    if choice == 0:
        return not_a_card(rng, lambda: first17 + rng.choice(wrong_check))
    if choice == 1:
        return not_a_card(rng, bad_date)
    if choice == 2:
        return not_a_card(
            rng, lambda: good_card[:-1] + str((int(good_card[-1]) + rng.randint(1, 9)) % 10)
        )
    if choice == 3:
        return order_number(rng)
    return rng.choice(
        (
            f"{area}-{local}",
            f"（{area}）{local}",
            f"{area} {local[:4]} {local[4:]}",
            f"{area}—{local}",
            rng.choice(("12345", "12315", "12319", "12333", "95588", "400-800-8888", "110")),
            f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            f"{rng.randint(2015, 2024)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
            f"湘政办发〔{rng.randint(2015, 2024)}〕{rng.randint(1, 99)}号",
            f"流水号{rng.randint(10**8, 10**9 - 1)}{mob}{rng.randint(1000, 9999)}",
            f"{mob}{rng.randint(10, 99)}",
            f"http://www.{gov}.gov.cn/xxgk/{rng.randint(1, 999)}.html",
            f"www.{gov}.gov.cn",
            f"12345.{gov}.gov.cn",
            f"xinfang@{gov}.gov.cn",
            f"第{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)}条",
            f"GB{rng.randint(50000, 50999)}-20{rng.randint(10, 20)}",
            f"{rng.randint(1000, 99999999)}.{rng.randint(10, 99)}元",
            f"{mob[:3]}****{mob[7:]}",
            f"{first17[:4]}**********{first17[14:]}",
            f"{good_card[:4]} **** **** {good_card[-4:]}",
        )
    )


# ------------------------------------------------------------------------------ dataset


def gold_of_real(text: str) -> list[tuple[str, int, int]]:
    out = []
    start = text.find(ANON_LINK)
    while start != -1:
        out.append(("link", start, start + len(ANON_LINK)))
        start = text.find(ANON_LINK, start + len(ANON_LINK))
    return out


def _free(text: str, pos: int, taken: list[tuple[int, int]]) -> bool:
    """A position where an insertion cannot merge with what is already there."""

    def joins(c: str) -> bool:
        c = c.translate(HALF)
        return (c.isascii() and c.isalnum()) or c in ".-+@/_:*#%=&?~（）()—＊[]"

    if any(s < pos < e for s, e in taken):
        return False
    before = text[pos - 1] if pos > 0 else ""
    after = text[pos] if pos < len(text) else ""
    return not (before and joins(before)) and not (after and joins(after))


Sample = tuple[str, list[tuple[str, int, int]], list[tuple[int, int]]]


def augment(text: str, rng: random.Random) -> Sample:
    """``text`` with random positives and negatives inserted: (text, gold, inserted spans)."""
    gold = gold_of_real(text)
    inserted: list[tuple[int, int]] = []
    inserts: list[tuple[str, str | None, int]] = []  # (piece, kind or None, offset in piece)
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        kind = rng.choice(tuple(POSITIVES))
        value = POSITIVES[kind](rng)
        lead = rng.choice(LEADS[kind])
        inserts.append((lead + value, kind, len(lead)))
    for _ in range(rng.choice((0, 1, 2, 3))):
        inserts.append((negative(rng), None, 0))
    for piece, kind, offset in inserts:
        spans = [(s, e) for _, s, e in gold]
        for _attempt in range(20):
            pos = rng.randint(0, len(text))
            if _free(text, pos, spans):
                break
        else:
            continue
        text = text[:pos] + piece + text[pos:]
        n = len(piece)
        inserted = [(s + n, e + n) if s >= pos else (s, e) for s, e in inserted]
        inserted.append((pos, pos + n))
        gold = [
            (k, s + len(piece) if s >= pos else s, e + len(piece) if s >= pos else e)
            for k, s, e in gold
        ]
        if kind is not None:
            gold.append((kind, pos + offset, pos + len(piece)))
    return text, sorted(gold, key=lambda g: g[1]), sorted(inserted)


def load_replies(limit: int) -> list[str]:
    with open(REPLIES, encoding="utf-8", newline="") as fh:
        texts = [row["答复意见"] for row in csv.DictReader(fh) if row["答复意见"].strip()]
    return texts[:limit]


def main() -> None:
    """Build the set, run the lint, print per-kind figures and throughput."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000, help="at most this many replies")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--dump", help="write the labelled set (JSONL: id, text, gold) here")
    ap.add_argument("--errors", type=int, default=8, help="errors shown per kind")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    replies = load_replies(args.n)
    config = LintConfig(words=default_wordlist())

    # The real replies as published: every finding must be one of the labelled links.
    real_pred = Counter(f.kind for t in replies for f in lint(t, config))
    print(f"real_replies={len(replies)} real_findings={dict(sorted(real_pred.items()))}")

    data = [augment(t, rng) for t in replies]
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as fh:
            for i, (text, gold, _) in enumerate(data):
                fh.write(
                    json.dumps({"id": i, "text": text, "gold": gold}, ensure_ascii=False) + "\n"
                )

    started = time.perf_counter()
    predictions = [lint(text, config) for text, _, _ in data]
    elapsed = time.perf_counter() - started
    chars = sum(len(t) for t, _, _ in data)

    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    errors: dict[str, list[str]] = {k: [] for k in KINDS}
    real_words: Counter[str] = Counter()
    for (text, gold, inserted), found in zip(data, predictions, strict=True):
        g = {(k, s, e) for k, s, e in gold}
        p = set()
        for f in found:
            # The real replies hold real wrong words (部份, 帐户, 截止目前 …) that nobody
            # labelled: words are scored on the inserted text only, the rest are listed.
            if f.kind == "word" and not any(f.start < e and s < f.end for s, e in inserted):
                real_words[f.text] += 1
                continue
            p.add((f.kind, f.start, f.end))
        for k, _s, _e in p & g:
            tp[k] += 1
        for k, s, e in p - g:
            fp[k] += 1
            errors[k].append(f"FP {text[s:e]!r} in …{text[max(0, s - 12) : e + 12]!r}")
        for k, s, e in g - p:
            fn[k] += 1
            errors[k].append(f"FN {text[s:e]!r} in …{text[max(0, s - 12) : e + 12]!r}")

    print(f"texts={len(data)} gold={sum(len(g) for _, g, _ in data)} seed={args.seed}")
    for kind in KINDS:
        p = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 1.0
        r = tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else 1.0
        print(
            f"kind={kind} tp={tp[kind]} fp={fp[kind]} fn={fn[kind]} "
            f"precision={p:.4f} recall={r:.4f}"
        )
    print(
        f"throughput_texts_per_s={len(data) / elapsed:.0f} "
        f"throughput_chars_per_s={chars / elapsed:.0f} mean_chars={chars / len(data):.0f}"
    )
    print(
        "luhn_valid_order_numbers="
        f"{LUHN_VALID_ORDER_NUMBERS['n']} (date-prefixed, not reported: see the lint's rules)"
    )
    print(f"real_reply_wrong_words={dict(real_words.most_common())}")
    for kind in KINDS:
        for line in errors[kind][: args.errors]:
            print(f"error kind={kind} {line}")


if __name__ == "__main__":
    main()
