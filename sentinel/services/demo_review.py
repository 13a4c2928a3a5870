"""Demo data for reply review and 辟谣 (issue 13), called from ``services/demo.py``.

The answers come from the real replies of the demo dataset; each one goes through the
real flow (draft → lint → review at its tier → publication recorded by hand). A reply
whose text the lint flags stays a draft with its findings, as it would in an office.
"""

from __future__ import annotations

import random

from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import Case, Source, Unit, User
from sentinel.services import ingest, reply_checks, reply_templates, review, rumours, triage

# Reviewers per level of each tier (the demo office's second reviewer does 复审).
CHAIN = {
    "A": ["reviewer"],
    "B": ["reviewer", "reviewer2"],
    "C": ["reviewer", "reviewer2", "leader"],
}

RUMOUR_TEXTS = (
    "紧急扩散！县自来水厂水源被上游化工厂污染，这几天自来水千万不能喝，已经有人喝了上吐下泻",
    "听说县自来水厂的水源被化工厂污染了，自来水不能喝？有没有官方说法",
)
CLARIFICATION = (
    "关于网传“县自来水厂水源被污染、自来水不能饮用”的情况说明\n"
    "近日，网上流传县自来水厂水源被上游化工厂污染的消息。经县住建局会同县生态环境分局"
    "现场核查，并委托第三方检测机构对水源地和出厂水取样检测，各项指标均符合《生活饮用水"
    "卫生标准》（GB 5749-2022），上游化工厂近期无排污异常，网传内容不实。"
    "请广大网民不信谣、不传谣，以官方发布的信息为准。"
)


def _actor(username: str) -> Actor | None:
    user = db.session.scalar(select(User).where(User.username == username))
    return Actor.for_user(user) if user is not None else None


def seed_answers(
    rng: random.Random, answers: list[tuple[Case, Actor, str]], duty: Actor
) -> dict[str, int]:
    """Draft, review and publish the demo's answers: most published, some waiting at a
    review level, some back with the drafter for lint findings."""
    counts = {"published": 0, "in_review": 0, "lint_drafts": 0}
    reviewers = {name: _actor(name) for name in ("reviewer", "reviewer2", "leader")}
    for n, (case, handler, body) in enumerate(answers):
        case.risk_tier = case.risk_tier or "A"
        draft = triage.save_draft(handler, case, body)
        if reply_checks.findings(draft.body):
            counts["lint_drafts"] += 1
            continue
        review.submit(handler, draft)
        chain = CHAIN[draft.tier or "A"]
        # Every fifth answer is still waiting: stop one level short.
        stop = len(chain) - 1 if n % 5 == 0 else len(chain)
        for name in chain[:stop]:
            reviewer = reviewers[name]
            if reviewer is not None:
                review.approve(
                    reviewer, draft, rng.choice(["同意", "同意发布", "", "内容准确，同意"])
                )
        if draft.status == "approved":
            review.publish(duty, draft, "")
            counts["published"] += 1
        else:
            counts["in_review"] += 1
    return counts


def seed_rumour(
    source_a: Source, source_b: Source, unit: Unit, handler: Actor, duty: Actor
) -> None:
    """One rumour, verified and clarified: its page shows the verification, the review at
    tier C, the deliveries and the re-spread watch."""
    seed = Actor(label="seed")
    reply_templates.ensure_defaults(seed)
    first = ingest.ingest_items(
        seed, source_a, [ingest.IncomingItem(external_id="rumour-1", text=RUMOUR_TEXTS[0])]
    )[0]
    second = ingest.ingest_items(
        seed, source_b, [ingest.IncomingItem(external_id="rumour-2", text=RUMOUR_TEXTS[1])]
    )[0]
    case = db.session.get(Case, first.case_id)
    assert case is not None
    triage.dispatch(duty, case, unit)
    triage.acknowledge(handler, case)
    rumour = rumours.mark(duty, case, "县自来水厂水源被污染、自来水不能饮用", "多个账号转发")
    other = db.session.get(Case, second.case_id)
    if other is not None and other.id != case.id:
        rumours.add_case(duty, rumour, other)
    rumours.verify(
        handler,
        rumour,
        finding="经现场核查和第三方检测，水源地及出厂水各项指标均符合国家标准，上游化工厂无排污异常。",
        source_kind="document",
        source_title="县住建局、县生态环境分局《关于县自来水厂水质检测情况的通报》",
    )
    reply = rumours.draft_clarification(handler, rumour, CLARIFICATION)
    review.submit(handler, reply)
    for name in CHAIN["C"]:
        reviewer = _actor(name)
        if reviewer is not None:
            review.approve(reviewer, reply, "同意发布")
    if reply.status == "approved":
        review.publish(duty, reply, "")
