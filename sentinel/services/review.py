"""Reply review (先审后发, issue 13): drafts and versions, 初审 → 复审 → 终审, publishing.

A reply moves ``draft`` → ``review`` → ``approved`` → ``final`` (published). The number of
levels that must approve follows the reply's risk tier (``REVIEW_LEVELS``: A 普通 one,
B 重要 two, C 敏感 three); in the tiers of ``REVIEW_LEADER_TIERS`` the last level (终审)
must be a leader's. Rules that hold everywhere:

* the people who wrote the text (any version) never approve it, and one person approves
  at most one level of a round;
* each step stores the sha256 of the exact text it approved; any edit after a step
  starts a new round at 初审, and publishing checks that every approval of the round is
  of the very text being published;
* the pre-publish lint (``services/reply_checks.py``) runs before submitting, before every
  approval and before publishing: any finding blocks the step;
* publishing is recorded by hand (link and time) until a channel can post back; the text
  is then frozen by its hash, and a later correction is a new reply linked to the first.

Services flush; the caller commits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from sentinel.auth.permissions import Actor, can, case_in_scope, is_lead_unit
from sentinel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Case, Reply, ReplyVersion, ReviewStep, User, utcnow
from sentinel.models.review import LEVEL_LABELS, REPLY_KINDS
from sentinel.services import audit, reply_checks

TIERS = ("A", "B", "C")
TIER_NAMES = {"A": "普通", "B": "重要", "C": "敏感"}
MAX_REPLY_LENGTH = 5000
MAX_OPINION = 1000
MAX_LINK = 500


def text_hash(body: str) -> str:
    """sha256 (hex) of the exact text, UTF-8."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def required_levels(tier: str) -> int:
    """How many review levels a reply of ``tier`` needs (setting ``REVIEW_LEVELS``)."""
    raw = current_app.config["REVIEW_LEVELS"]
    if isinstance(raw, str):
        pairs = (part.split(":", 1) for part in raw.split(",") if ":" in part)
        levels = {k.strip(): v.strip() for k, v in pairs}
    else:
        levels = dict(raw)
    return max(1, min(3, int(levels.get(tier, 1))))


def leader_signs_off(tier: str) -> bool:
    """True when the last level of ``tier`` (终审) must be a leader's."""
    return tier in str(current_app.config["REVIEW_LEADER_TIERS"])


def case_tier(case: Case) -> str:
    """The tier a new reply starts at: the case's risk tier from the classifier (A when
    the case has none)."""
    return case.risk_tier if case.risk_tier in TIERS else "A"


def level_label(level: int, tier: str) -> str:
    """初审/复审/终审; the last level of a tier is its 终审 (B's second level is 复审)."""
    return LEVEL_LABELS.get(level, f"第{level}级")


def clean_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationFailed("答复内容不能为空")
    if len(body) > MAX_REPLY_LENGTH:
        raise ValidationFailed(f"答复内容不能超过 {MAX_REPLY_LENGTH} 字")
    return body


# --------------------------------------------------------------------------- who may


def may_draft(user: User, reply_or_case: Reply | Case, kind: str = "answer") -> bool:
    """Drafting and editing: the lead unit's handlers (and admins); a 延期/暂停 notice
    also by the office, which approved the change and worded it."""
    case = reply_or_case.case if isinstance(reply_or_case, Reply) else reply_or_case
    if isinstance(reply_or_case, Reply):
        kind = reply_or_case.kind
    if not case_in_scope(user, case):
        return False
    if can(user, "case.draft") and is_lead_unit(user, case):
        return True
    return kind == "notice" and can(user, "case.dispatch")


def _check_draft(actor: Actor, reply_or_case: Reply | Case, kind: str = "answer") -> None:
    if actor.user is None:
        return
    case = reply_or_case.case if isinstance(reply_or_case, Reply) else reply_or_case
    if not case_in_scope(actor.user, case):
        raise NotFound("工单不存在或不在您的管辖范围内")
    if not may_draft(actor.user, reply_or_case, kind):
        raise Forbidden("只有主办单位可以起草和修改答复")


def authors(reply: Reply) -> set[int]:
    """Everyone who wrote a version of the text (they never approve it)."""
    ids = {
        author
        for author in db.session.scalars(
            select(ReplyVersion.author_id).where(ReplyVersion.reply_id == reply.id)
        )
        if author is not None
    }
    if reply.author_id is not None:
        ids.add(reply.author_id)
    return ids


def steps(reply: Reply) -> list[ReviewStep]:
    """Every review step of the reply, oldest first."""
    return list(
        db.session.scalars(
            select(ReviewStep).where(ReviewStep.reply_id == reply.id).order_by(ReviewStep.id)
        )
    )


def approvals(reply: Reply) -> list[ReviewStep]:
    """The approvals of the current round, by level."""
    return list(
        db.session.scalars(
            select(ReviewStep)
            .where(
                ReviewStep.reply_id == reply.id,
                ReviewStep.round == reply.review_round,
                ReviewStep.decision == "approve",
            )
            .order_by(ReviewStep.level)
        )
    )


def next_level(reply: Reply) -> int:
    return len(approvals(reply)) + 1


def versions(reply: Reply) -> list[ReplyVersion]:
    return list(
        db.session.scalars(
            select(ReplyVersion)
            .where(ReplyVersion.reply_id == reply.id)
            .order_by(ReplyVersion.number.desc())
        )
    )


def review_refusal(user: User, reply: Reply) -> str | None:
    """Why ``user`` may not approve or reject ``reply`` now (None: they may)."""
    if reply.status != "review":
        return "该答复不在审核中"
    if not can(user, "reply.review"):
        return "当前角色不能审核答复"
    if not case_in_scope(user, reply.case):
        return "工单不在您的管辖范围内"
    if user.id in authors(reply):
        return "起草或修改过该答复的人不能审核它"
    done = approvals(reply)
    if any(step.reviewer_id == user.id for step in done):
        return "您已审核过本轮，请由下一级审核人审核"
    tier = reply.tier or "A"
    level = len(done) + 1
    if level == required_levels(tier) and leader_signs_off(tier) and user.role != "leader":
        return f"{tier_label(tier)}答复的终审须由领导签发"
    return None


def tier_label(tier: str) -> str:
    return TIER_NAMES.get(tier, tier)


def _check_review(actor: Actor, reply: Reply) -> None:
    if actor.user is None:
        raise Forbidden("审核须由审核人本人进行")
    if not case_in_scope(actor.user, reply.case):
        raise NotFound("工单不存在或不在您的管辖范围内")
    if not can(actor.user, "reply.review"):
        raise Forbidden("当前角色不能审核答复")
    refusal = review_refusal(actor.user, reply)
    if refusal is not None:
        if reply.status != "review":
            raise InvalidTransition(refusal)
        raise Forbidden(refusal)


# --------------------------------------------------------------------------- drafting


def current_draft(case: Case, kind: str = "answer") -> Reply | None:
    """The unpublished reply of ``kind`` on the case (the one being drafted or reviewed)."""
    for reply in reversed(case.replies):
        if reply.kind == kind and reply.status != "final":
            return reply
    return None


def _add_version(actor: Actor, reply: Reply, body: str, note: str | None) -> ReplyVersion:
    number = (
        db.session.scalar(
            select(ReplyVersion.number)
            .where(ReplyVersion.reply_id == reply.id)
            .order_by(ReplyVersion.number.desc())
            .limit(1)
        )
        or 0
    ) + 1
    version = ReplyVersion(
        reply_id=reply.id,
        number=number,
        body=body,
        text_hash=text_hash(body),
        author_id=actor.user_id,
        note=note,
    )
    db.session.add(version)
    return version


def record_first_version(actor: Actor, reply: Reply, note: str | None = None) -> None:
    """Version 1 of a reply another service created (the 延期/暂停 notice drafted when the
    change is approved): its hash and tier, so it enters review like any draft."""
    reply.text_hash = text_hash(reply.body)
    reply.tier = reply.tier or case_tier(reply.case)
    _add_version(actor, reply, reply.body, note)
    db.session.flush()


def create_draft(
    actor: Actor,
    case: Case,
    kind: str,
    body: str,
    *,
    corrects: Reply | None = None,
    rumour_id: int | None = None,
    tier: str | None = None,
    note: str | None = None,
) -> Reply:
    """Start a reply of ``kind`` on ``case`` with its first version (audited)."""
    if kind not in REPLY_KINDS:
        raise ValidationFailed("未知的答复类型")
    _check_draft(actor, case, kind)
    body = clean_body(body)
    reply = Reply(
        case=case,
        kind=kind,
        status="draft",
        body=body,
        author_id=actor.user_id,
        tier=tier or case_tier(case),
        text_hash=text_hash(body),
        corrects_id=corrects.id if corrects is not None else None,
        rumour_id=rumour_id,
    )
    db.session.add(reply)
    db.session.flush()
    _add_version(actor, reply, body, note)
    audit.record(
        actor,
        "reply.drafted",
        "case",
        case.id,
        reply_id=reply.id,
        kind=kind,
        tier=reply.tier,
        length=len(body),
        corrects_id=reply.corrects_id,
    )
    db.session.flush()
    return reply


def save_text(actor: Actor, reply: Reply, body: str, note: str | None = None) -> bool:
    """Save a new text of ``reply`` as a new version. Returns False when unchanged.

    Any edit after a review step sends the reply back to 初审: a new round starts, and the
    earlier approvals no longer count (they approved another text)."""
    _check_draft(actor, reply)
    if reply.status == "final":
        raise InvalidTransition("已发布的答复不能修改；如需更正，请起草更正答复")
    body = clean_body(body)
    if body == reply.body and reply.text_hash == text_hash(body):
        return False
    had_steps = reply.status in ("review", "approved") and bool(approvals(reply))
    reply.body = body
    reply.text_hash = text_hash(body)
    version = _add_version(actor, reply, body, note)
    if reply.status in ("review", "approved"):
        reply.review_round += 1
        reply.status = "review"
    db.session.flush()
    audit.record(
        actor,
        "reply.edited",
        "case",
        reply.case_id,
        reply_id=reply.id,
        version=version.number,
        length=len(body),
        note=note,
        back_to_first_level=had_steps,
    )
    db.session.flush()
    return True


def apply_mask(actor: Actor, reply: Reply, start: int, end: int) -> bool:
    """One-click mask: replace the finding at ``[start, end)`` by its mask (a new version).
    Only a finding the lint reports now, with a mask, can be masked this way."""
    finding = next(
        (
            f
            for f in reply_checks.findings(reply.body)
            if f.start == start and f.end == end and f.mask
        ),
        None,
    )
    if finding is None:
        raise ValidationFailed("该处已不是可遮蔽的问题，请刷新页面后重试")
    body = reply.body[:start] + finding.mask + reply.body[end:]
    return save_text(actor, reply, body, note=f"mask:{finding.kind}")


def apply_suggestion(actor: Actor, reply: Reply, start: int, end: int) -> bool:
    """Replace a wrong word at ``[start, end)`` by the word list's suggested form."""
    finding = next(
        (
            f
            for f in reply_checks.findings(reply.body)
            if f.start == start and f.end == end and f.suggestion
        ),
        None,
    )
    if finding is None:
        raise ValidationFailed("该处已没有可替换的建议，请刷新页面后重试")
    body = reply.body[:start] + finding.suggestion + reply.body[end:]
    return save_text(actor, reply, body, note=f"fix:{finding.kind}")


# --------------------------------------------------------------------------- review


def _lint_gate(reply: Reply, step: str) -> None:
    found = reply_checks.findings(reply.body)
    if found:
        raise reply_checks.LintBlocked(found, step)


def submit(actor: Actor, reply: Reply) -> None:
    """The drafter sends the reply to review (初审 first). Lint must find nothing."""
    _check_draft(actor, reply)
    if actor.user is not None and not can(actor.user, "case.answer") and reply.kind != "notice":
        raise Forbidden("当前角色不能提交答复")
    if reply.status != "draft":
        raise InvalidTransition(f"答复当前为“{reply.status_label}”，不能再次提交")
    if reply.kind == "answer" and reply.corrects_id is None and not reply.case.is_open:
        raise InvalidTransition(f"工单已{reply.case.status_label}，不能提交答复")
    _lint_gate(reply, "提交审核")
    reply.status = "review"
    reply.review_round += 1
    reply.submitted_at = utcnow()
    reply.submitted_by_id = actor.user_id
    db.session.flush()
    audit.record(
        actor,
        "reply.submitted",
        "case",
        reply.case_id,
        reply_id=reply.id,
        tier=reply.tier,
        levels=required_levels(reply.tier or "A"),
        text_hash=reply.text_hash,
    )


def approve(actor: Actor, reply: Reply, opinion: str = "") -> ReviewStep:
    """One review level approves the exact current text (lint must find nothing)."""
    _check_review(actor, reply)
    _lint_gate(reply, "审核通过")
    tier = reply.tier or "A"
    level = next_level(reply)
    step = ReviewStep(
        reply_id=reply.id,
        round=reply.review_round,
        level=level,
        decision="approve",
        tier=tier,
        reviewer_id=actor.user_id,
        at=utcnow(),
        opinion=opinion.strip()[:MAX_OPINION] or None,
        text_hash=text_hash(reply.body),
    )
    db.session.add(step)
    if level >= required_levels(tier):
        reply.status = "approved"
    db.session.flush()
    audit.record(
        actor,
        "reply.approved",
        "case",
        reply.case_id,
        reply_id=reply.id,
        level=level,
        tier=tier,
        text_hash=step.text_hash,
        complete=reply.status == "approved",
    )
    return step


def reject(actor: Actor, reply: Reply, reasons: str) -> ReviewStep:
    """A reviewer returns the reply to the drafter with reasons (required)."""
    _check_review(actor, reply)
    reasons = reasons.strip()
    if not reasons:
        raise ValidationFailed("退回修改时请填写理由")
    step = ReviewStep(
        reply_id=reply.id,
        round=reply.review_round,
        level=next_level(reply),
        decision="reject",
        tier=reply.tier or "A",
        reviewer_id=actor.user_id,
        at=utcnow(),
        opinion=reasons[:MAX_OPINION],
        text_hash=text_hash(reply.body),
    )
    db.session.add(step)
    reply.status = "draft"
    db.session.flush()
    audit.record(
        actor, "reply.rejected", "case", reply.case_id, reply_id=reply.id, level=step.level
    )
    return step


def set_tier(actor: Actor, reply: Reply, tier: str, reason: str = "") -> None:
    """A reviewer raises the reply's tier, or lowers it with a reason (both audited).

    The approvals of the round stand; the required levels follow the new tier, so a
    raised reply goes back to review for the missing levels."""
    if tier not in TIERS:
        raise ValidationFailed("请选择风险等级")
    if actor.user is not None:
        if not case_in_scope(actor.user, reply.case):
            raise NotFound("工单不存在或不在您的管辖范围内")
        if not can(actor.user, "reply.review"):
            raise Forbidden("只有审核人可以调整风险等级")
    if reply.status == "final":
        raise InvalidTransition("已发布的答复不能调整风险等级")
    before = reply.tier or "A"
    if tier == before:
        raise ValidationFailed(f"风险等级已是 {tier}")
    reason = reason.strip()
    lowering = tier < before
    if lowering and not reason:
        raise ValidationFailed("降低风险等级须填写理由")
    reply.tier = tier
    if reply.status in ("review", "approved"):
        done = approvals(reply)
        enough = len(done) >= required_levels(tier)
        if enough and leader_signs_off(tier):
            last = done[required_levels(tier) - 1].reviewer
            enough = last is not None and last.role == "leader"
        reply.status = "approved" if enough else "review"
    db.session.flush()
    audit.record(
        actor,
        "reply.tier_lowered" if lowering else "reply.tier_raised",
        "case",
        reply.case_id,
        reply_id=reply.id,
        **{"from": before, "to": tier},
        reason=reason[:MAX_OPINION] or None,
    )


# --------------------------------------------------------------------------- publishing


def publish_refusal(reply: Reply) -> str | None:
    """Why the reply cannot be published now (None: it can): approved by every level
    its tier needs, each approval of the exact current text, the leader's 终审 where
    required."""
    if reply.status != "approved":
        return "答复尚未通过全部审核"
    tier = reply.tier or "A"
    done = approvals(reply)
    needed = required_levels(tier)
    current = text_hash(reply.body)
    if len(done) < needed:
        return "答复尚未通过全部审核"
    if any(step.text_hash != current for step in done):
        return "审核通过的文本与当前文本不一致，请重新送审"
    if leader_signs_off(tier):
        last = done[needed - 1].reviewer
        if last is None or last.role != "leader":
            return "敏感答复须由领导终审签发"
    return None


def publish(actor: Actor, reply: Reply, link: str, published_at: datetime | None = None) -> Reply:
    """Record that the approved reply was published by hand on the channel (link and
    time), freeze its text, and apply its effect: an answer moves the case to answered
    and stops the clock; a clarification records its deliveries (services/rumours.py)."""
    case = reply.case
    if actor.user is not None:
        if not case_in_scope(actor.user, case):
            raise NotFound("工单不存在或不在您的管辖范围内")
        if not can(actor.user, "reply.publish"):
            raise Forbidden("当前角色不能发布答复")
    if reply.status == "final":
        raise InvalidTransition("该答复已发布")
    refusal = publish_refusal(reply)
    if refusal is not None:
        raise InvalidTransition(refusal)
    _lint_gate(reply, "发布")
    link = (link or "").strip()
    if len(link) > MAX_LINK:
        raise ValidationFailed(f"发布链接不能超过 {MAX_LINK} 个字符")
    if link and not link.startswith(("http://", "https://")):
        raise ValidationFailed("发布链接须以 http:// 或 https:// 开头")
    now = utcnow()
    when = published_at or now
    if when > now:
        raise ValidationFailed("发布时间不能晚于现在")
    if reply.kind == "answer" and reply.corrects_id is None:
        from sentinel.services import triage

        reply.published_at = when
        triage.complete_answer(actor, case, reply)
    reply.status = "final"
    reply.published_at = when
    reply.published_by_id = actor.user_id
    reply.published_link = link or None
    reply.published_hash = text_hash(reply.body)
    reply.publish_method = "manual"
    db.session.flush()
    audit.record(
        actor,
        "reply.published",
        "case",
        case.id,
        reply_id=reply.id,
        kind=reply.kind,
        method="manual",
        text_hash=reply.published_hash,
        published_at=when.isoformat(),
        corrects_id=reply.corrects_id,
    )
    if reply.rumour_id is not None:
        from sentinel.services import rumours

        rumours.on_clarification_published(actor, reply)
    db.session.flush()
    return reply


def start_correction(actor: Actor, published: Reply) -> Reply:
    """A correction of a published reply: a new draft, linked to the first one, starting
    from the published text. It goes through review and publishing like any reply."""
    if published.status != "final":
        raise InvalidTransition("只能更正已发布的答复")
    first = published
    while first.corrects_id is not None:
        parent = db.session.get(Reply, first.corrects_id)
        if parent is None:
            break
        first = parent
    pending = next(
        (r for r in published.case.replies if r.corrects_id == first.id and r.status != "final"),
        None,
    )
    if pending is not None:
        raise InvalidTransition("已有一份更正在起草或审核中")
    return create_draft(
        actor,
        published.case,
        published.kind,
        published.body,
        corrects=first,
        rumour_id=published.rumour_id,
        tier=published.tier,
        note="correction",
    )


# --------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueueRow:
    reply: Reply
    level: int
    level_label: str
    waiting_since: datetime


def queue_for(user: User) -> list[QueueRow]:
    """ "待我审核": replies in review that ``user`` may approve now (role, unit scope, not
    their own text, not a level they already approved), oldest first."""
    if not can(user, "reply.review"):
        return []
    replies = db.session.scalars(
        select(Reply).where(Reply.status == "review").order_by(Reply.submitted_at, Reply.id)
    ).all()
    rows = []
    for reply in replies:
        if review_refusal(user, reply) is not None:
            continue
        done = approvals(reply)
        since = done[-1].at if done else (reply.submitted_at or reply.updated_at)
        level = len(done) + 1
        rows.append(QueueRow(reply, level, level_label(level, reply.tier or "A"), since))
    return rows
