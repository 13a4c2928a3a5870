"""Demo office: a real county's units and accounts, users for every role, and real
citizens' messages (with real official replies) arriving over the last day and a half."""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import Case, Source, Unit, User, utcnow
from sentinel.services import ingest, sources, triage, units, users
from sentinel.services.ingest import IncomingItem

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "data")
ROOT_UNIT = "云和县人民政府办公室"
DEMO_PASSWORD = "sentinel-demo"  # noqa: S105 (the published demo password)
PLATFORM_WORDS = {"微信": "wechat", "微博": "weibo", "抖音": "douyin", "今日头条": "toutiao"}
# Units the county plan does not list but every county has; messages about housing and
# land go there.
EXTRA_UNITS = ("县住建局", "县自然资源和规划局")
# Keyword → unit, for dispatching demo cases the way a duty officer would.
ROUTING = (
    (("学校", "教育", "学生", "幼儿园", "老师", "教师", "学位", "招生"), "县教育局"),
    (("社保", "医保", "养老", "就业", "工资", "人才", "劳动", "失业"), "县人力社保局"),
    (("公交", "道路", "交通", "车站", "出租车", "地铁", "高速"), "县交通运输局"),
    (("医院", "医疗", "卫生", "疫苗", "看病", "诊所"), "县卫健局"),
    (("小区", "物业", "房", "拆迁", "安置", "业主", "电梯", "燃气"), "县住建局"),
    (
        ("污染", "环境", "噪音", "排放", "垃圾", "臭", "河"),
        "市生态环境局云和分局(县“五水共治”办公室)",
    ),
    (("商家", "价格", "食品", "消费", "市场", "超市", "收费"), "县市场监管局"),
    (("旅游", "景区", "文化", "体育"), "县文广旅体局"),
    (("农村", "农业", "农民", "土地", "征地"), "县农业农村局"),
    (("违建", "占道", "城管", "摊"), "县综合执法局"),
)
DEMO_USERS = (
    ("admin", "admin", "系统管理员", None),
    ("duty", "duty_officer", "王敏", ROOT_UNIT),
    ("leader", "leader", "刘建国", ROOT_UNIT),
    ("reviewer", "reviewer", "陈静", ROOT_UNIT),
    ("reviewer2", "reviewer", "周文", ROOT_UNIT),
    ("jiaoyu", "handler", "张晓燕", "县教育局"),
    ("renshe", "handler", "李国强", "县人力社保局"),
    ("zhujian", "handler", "赵立新", "县住建局"),
    ("jiaotong", "handler", "孙鹏", "县交通运输局"),
)


@dataclass
class SeedSummary:
    created: bool
    units: int = 0
    sources: int = 0
    items: int = 0
    cases: int = 0
    api_token: str | None = None

    def describe(self) -> str:
        if self.created:
            lines = [
                f"演示数据已导入：{self.units} 个单位，{self.sources} 个渠道，"
                f"{self.items} 条留言（{self.cases} 件工单）。",
            ]
        else:
            lines = ["演示数据已存在，未重复导入。"]
        lines += ["", "演示账号（密码均为 " + DEMO_PASSWORD + "）："]
        lines += [f"  {u:<10} {role:<6} {unit}" for u, role, unit in demo_logins()]
        if self.api_token:
            lines += [
                "",
                "“政务服务网接口”渠道的 API 令牌（试用 POST /api/v1/items）：",
                f"  {self.api_token}",
            ]
        return "\n".join(lines)


ROLE_LABELS = {
    "admin": "管理员",
    "duty_officer": "值班员",
    "leader": "领导",
    "reviewer": "审核人",
    "handler": "承办人",
}


def demo_logins() -> list[tuple[str, str, str]]:
    """(username, role label, unit) of every demo user."""
    return [(u, ROLE_LABELS[role], unit or "全部单位") for u, role, _, unit in DEMO_USERS]


def _read_csv(relative: str) -> list[dict[str, str]]:
    with open(os.path.join(DATA_DIR, relative), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _route(text: str) -> str:
    for words, unit in ROUTING:
        if any(w in text for w in words):
            return unit
    return "县大数据中心"


def seed(item_count: int = 600, rng_seed: int = 20261125) -> SeedSummary:
    """Create the demo office unless it exists. The caller commits."""
    if db.session.scalar(select(Unit.id).where(Unit.name == ROOT_UNIT)):
        return SeedSummary(created=False)
    rng = random.Random(rng_seed)
    actor = Actor(label="seed")
    summary = SeedSummary(created=True)

    root = units.create_unit(actor, ROOT_UNIT, "county")
    by_name = {ROOT_UNIT: root}
    accounts = _read_csv("demo_office/county_accounts.csv")
    for name in [a["unit"] for a in accounts] + list(EXTRA_UNITS):
        if name not in by_name:
            by_name[name] = units.create_unit(actor, name, "department", root)
    summary.units = len(by_name)

    channel_sources: list[Source] = []
    for account in accounts:
        platform = next(
            (p for w, p in PLATFORM_WORDS.items() if account["platform"].startswith(w)), "website"
        )
        name = account["account_name"]
        if db.session.scalar(select(Source.id).where(Source.name == name)):
            name = f"{name}（{account['platform']}）"
        channel_sources.append(
            sources.create_source(
                actor, name, platform, account["account_name"], by_name[account["unit"]]
            )
        )
    mailbox = sources.create_source(actor, "县长信箱", "mailbox", "云和县县长信箱", root)
    hotline = sources.create_source(actor, "12345政务服务热线", "hotline12345", "12345", root)
    api_source = sources.create_source(actor, "政务服务网接口", "api", "浙里办", root)
    summary.api_token = sources.issue_token(actor, api_source)
    summary.sources = len(channel_sources) + 3

    for username, role, display, unit_name in DEMO_USERS:
        unit_list = [by_name[unit_name]] if unit_name else []
        users.create_user(actor, username, DEMO_PASSWORD, role, unit_list, display)

    replies = _read_csv("gov_replies/messages_with_replies.csv")
    hot = _read_csv("gov_hot/messages_with_votes.csv")
    rng.shuffle(replies)
    rng.shuffle(hot)
    answered_pool = replies[: item_count // 2]
    messages = answered_pool + hot[: item_count - len(answered_pool)]
    rng.shuffle(messages)

    now = utcnow()
    weighted = [mailbox] * 6 + [hotline] * 6 + channel_sources
    by_source: dict[int, list[tuple[IncomingItem, dict[str, str]]]] = {}
    source_of: dict[str, Source] = {}
    for row in messages:
        text = f"{row['留言主题'].strip()}\n{row['留言详情'].strip()}"
        # The demo office's morning: messages spread over the last 36 hours.
        posted = now - timedelta(minutes=rng.randint(1, 36 * 60))
        source = rng.choice(weighted)
        source_of[row["留言编号"]] = source
        item = IncomingItem(
            external_id=row["留言编号"],
            text=text,
            kind="letter"
            if source.platform in ("mailbox", "hotline12345")
            else rng.choice(["comment", "comment", "message", "mention"]),
            author=row["留言用户"],
            posted_at=posted,
        )
        by_source.setdefault(source.id, []).append((item, row))
    # A few people ask the same thing again ("how many asked"): on the same account they
    # join its case automatically; on another unit's account the new case is only linked
    # as a possible duplicate for the duty officer (services/duplicates.py).
    repeats = rng.sample(messages[:200], 25)
    for n, row in enumerate(repeats):
        source = source_of[row["留言编号"]] if n % 2 == 0 else rng.choice(channel_sources)
        text = f"{row['留言主题'].strip()}\n{row['留言详情'].strip()}"
        item = IncomingItem(
            external_id=f"repeat-{n}",
            text=text,
            kind="comment",
            author=f"网友{rng.randint(1000, 9999)}",
            posted_at=now - timedelta(minutes=rng.randint(1, 600)),
        )
        by_source.setdefault(source.id, []).append((item, row))

    # Hot events (issue 12): the real messages of two matters that drew many people —
    # one estate's parking-space bundling, a mixing plant next to another estate — arrive
    # within the last few hours on several accounts, so the demo opens with rising events.
    labelled = _read_csv("labelling/hot_events.csv")
    wanted = {"yijingyuan_parking": 24, "lifa_mixing_plant": 16}
    by_id = {row["留言编号"]: row for row in hot}
    for label, count in wanted.items():
        ids = [r["留言编号"] for r in labelled if r["event"] == label and r["留言编号"] in by_id]
        for n, message_id in enumerate(ids[:count]):
            row = by_id[message_id]
            source = rng.choice(channel_sources)
            item = IncomingItem(
                external_id=f"hot-{message_id}",
                text=f"{row['留言主题'].strip()}\n{row['留言详情'].strip()}",
                kind="comment",
                author=row["留言用户"],
                posted_at=now - timedelta(minutes=5 + n * rng.randint(3, 12)),
                extra={"likes": int(row.get("点赞数") or 0)},
            )
            by_source.setdefault(source.id, []).append((item, row))

    reply_for: dict[int, str] = {}
    for source_id, pairs in by_source.items():
        source = db.session.get(Source, source_id)
        assert source is not None
        results = ingest.ingest_items(actor, source, [p[0] for p in pairs])
        for result, (_, row) in zip(results, pairs, strict=True):
            if row.get("答复意见") and not result.duplicate:
                reply_for[result.case_id] = " ".join(row["答复意见"].split())
        summary.items += len(results)
    db.session.flush()

    # Work already under way this morning: some dispatched, acknowledged, answered, noise.
    duty = db.session.scalar(select(User).where(User.username == "duty"))
    assert duty is not None
    duty_actor = Actor.for_user(duty)
    handlers = {
        u.units[0].id: u
        for u in db.session.scalars(select(User).where(User.role == "handler"))
        if u.units
    }
    cases = list(db.session.scalars(select(Case).order_by(Case.first_item_at)))
    summary.cases = len(cases)
    answers: list[tuple[Case, Actor, str]] = []
    for case in cases[: int(len(cases) * 0.45)]:
        unit = by_name[_route(case.title)]
        roll = rng.random()
        if roll < 0.08:
            triage.mark_noise(duty_actor, case, rng.choice(["irrelevant", "empty", "spam"]))
            continue
        triage.dispatch(duty_actor, case, unit)
        handler_user = handlers.get(unit.id)
        handler = Actor.for_user(handler_user) if handler_user else Actor(label="seed")
        if roll < 0.55:
            triage.acknowledge(handler, case)
        if roll < 0.35 and case.id in reply_for and handler_user:
            answers.append((case, handler, reply_for[case.id][:5000]))
    # 先审后发 (issue 13): the answers go through review; a few still wait for it.
    from sentinel.services import demo_review

    demo_review.seed_answers(rng, answers, duty_actor)
    zhujian = db.session.scalar(select(User).where(User.username == "zhujian"))
    if zhujian is not None and zhujian.units:
        demo_review.seed_rumour(
            channel_sources[0], mailbox, zhujian.units[0], Actor.for_user(zhujian), duty_actor
        )
    # Requests waiting for the office's decision (待审批): 延期 and 暂停 asked by units.
    from sentinel.services import deadline_changes

    waiting = [
        c
        for c in cases
        if c.status == "acknowledged" and c.due_at is not None and handlers.get(c.unit_id or 0)
    ]
    for case, (kind, days, reason) in zip(
        waiting,
        (
            ("extension", 5, "需会同属地街道现场核查，并协调产权单位"),
            ("pause", 3, "等待留言人补充材料（具体地址与照片）"),
        ),
        strict=False,
    ):
        handler = Actor.for_user(handlers[case.unit_id or 0])
        deadline_changes.request_change(handler, case, kind, days, reason)
    for case in cases[int(len(cases) * 0.45) : int(len(cases) * 0.5)]:
        triage.claim(duty_actor, case)
    for case in rng.sample(cases[int(len(cases) * 0.5) :], 12):
        case.priority = rng.choice([1, 1, 2])
    _seed_faq(replies[-80:], duty_actor)
    db.session.flush()
    return summary


def _seed_faq(rows: list[dict[str, str]], actor: Actor) -> None:
    """The office's existing Q&A list (咨询问答库): real subjects and official replies of
    the message board, imported as an office would (``faq.import_table``); most are
    published on the public FAQ page, the rest stay internal."""
    import csv
    import io

    from sentinel.models import FaqEntry
    from sentinel.services import faq

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["编号", "问题", "答案"])
    for row in rows:
        subject, answer = row["留言主题"].strip(), row["答复意见"].strip()
        if subject and answer:
            writer.writerow([f"WZ-{row['留言编号']}", subject, answer[:3000]])
    faq.import_table(actor, out.getvalue().encode("utf-8"), "问答库.csv")
    db.session.flush()
    for n, entry in enumerate(db.session.scalars(select(FaqEntry).order_by(FaqEntry.id))):
        if n % 4:
            entry.visibility = "public"
