"""Reply templates (答复模板): wordings per kind, topic, request type and case state.

Placeholders in a template body are filled from the case when a draft is started:
``{留言人}``, ``{留言日期}``, ``{受理日期}``, ``{承办单位}``, ``{办理时限}``, ``{今天}``,
``{工单编号}`` (dates in Asia/Shanghai). A placeholder the case cannot fill (no deadline
yet, say) is left visible in the draft for the drafter to complete; the lint and the
reviewers see it.
"""

from __future__ import annotations

import string
from typing import Any

from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.errors import NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Case, ReplyTemplate, utcnow
from sentinel.models.case import CASE_STATUSES
from sentinel.models.review import REPLY_KINDS
from sentinel.services import audit
from sentinel.timefmt import format_local

PLACEHOLDERS = {
    "留言人": "第一条留言的署名（匿名时为“网友”）",
    "留言日期": "第一条留言的日期",
    "受理日期": "签收（受理）日期",
    "承办单位": "承办单位名称",
    "办理时限": "办理时限（到期日）",
    "今天": "今天的日期",
    "工单编号": "工单编号",
}

DEFAULT_TEMPLATES: list[dict[str, Any]] = [
    {
        "kind": "ack",
        "name": "受理告知（通用）",
        "body": "{留言人}您好！您于{留言日期}反映的问题已收悉，已交由{承办单位}办理，"
        "我们将在{办理时限}前给您答复。感谢您的关注与支持！",
    },
    {
        "kind": "answer",
        "name": "答复（通用）",
        "body": "{留言人}您好！您于{留言日期}反映的问题收悉。经{承办单位}核实，现答复如下：\n"
        "（请填写核实情况和处理结果）\n感谢您对我们工作的关心和支持！",
    },
    {
        "kind": "answer",
        "name": "答复（咨询）",
        "request_type": "咨询",
        "body": "{留言人}您好！关于您咨询的问题，经{承办单位}核实，答复如下：\n"
        "（请填写政策依据和办理方式）\n如仍有疑问，可拨打12345政务服务便民热线咨询。",
    },
    {
        "kind": "answer",
        "name": "答复（投诉）",
        "request_type": "投诉",
        "body": "{留言人}您好！您于{留言日期}投诉的问题收悉。{承办单位}高度重视，"
        "经调查核实：\n（请填写调查情况）\n处理结果：\n（请填写处理措施）\n"
        "感谢您的监督！",
    },
    {
        "kind": "notice",
        "name": "延期告知（通用）",
        "body": "{留言人}您好！您反映的问题仍在办理中，因需进一步核实，"
        "办理时限延长至{办理时限}，我们将在此之前给您答复。感谢您的理解！",
    },
    {
        "kind": "return",
        "name": "退回说明（通用）",
        "body": "{留言人}您好！经核实，您反映的问题不属于{承办单位}职责范围，"
        "已转交相关部门办理，请留意后续答复。",
    },
    {
        "kind": "clarification",
        "name": "辟谣（通用）",
        "body": "关于网传“（请填写谣言内容）”的情况说明\n近日，网上流传（请概述）。"
        "经{承办单位}核实，（请填写核实结果及权威依据）。"
        "请广大网民不信谣、不传谣，以官方发布的信息为准。",
    },
]


def ensure_defaults(actor: Actor) -> int:
    """Add the default templates when there is none of a kind yet; returns how many."""
    have = set(db.session.scalars(select(ReplyTemplate.kind).distinct()))
    added = 0
    for spec in DEFAULT_TEMPLATES:
        if spec["kind"] in have:
            continue
        db.session.add(ReplyTemplate(**spec))
        added += 1
    if added:
        db.session.flush()
        audit.record(actor, "reply_template.defaults", "reply_template", None, count=added)
    return added


def _fields(body: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(body) if f is not None}
    except ValueError as exc:
        raise ValidationFailed("模板中的花括号不成对，占位符请写成 {留言人} 这样") from exc


def save_template(
    actor: Actor,
    template: ReplyTemplate | None,
    *,
    kind: str,
    name: str,
    body: str,
    topic: str = "",
    request_type: str = "",
    case_state: str = "",
    active: bool = True,
) -> ReplyTemplate:
    """Create or update a template (administrators; audited)."""
    if kind not in REPLY_KINDS:
        raise ValidationFailed("请选择模板类型")
    name, body = name.strip(), body.strip()
    if not name:
        raise ValidationFailed("请填写模板名称")
    if not body:
        raise ValidationFailed("模板内容不能为空")
    unknown = _fields(body) - PLACEHOLDERS.keys()
    if unknown:
        raise ValidationFailed("未知的占位符：" + "、".join("{" + f + "}" for f in sorted(unknown)))
    if case_state and case_state not in CASE_STATUSES:
        raise ValidationFailed("未知的工单状态")
    if template is None:
        template = ReplyTemplate(kind=kind, name=name, body=body)
        db.session.add(template)
    template.kind = kind
    template.name = name[:100]
    template.body = body
    template.topic = topic.strip()[:60] or None
    template.request_type = request_type.strip()[:10] or None
    template.case_state = case_state or None
    template.active = active
    template.updated_by_id = actor.user_id
    template.updated_at = utcnow()
    db.session.flush()
    audit.record(actor, "reply_template.saved", "reply_template", template.id, kind=kind)
    return template


def get_template(template_id: int) -> ReplyTemplate:
    template = db.session.get(ReplyTemplate, template_id)
    if template is None:
        raise NotFound("模板不存在")
    return template


def candidates(case: Case, kind: str) -> list[ReplyTemplate]:
    """Active templates of ``kind`` that fit the case, the most specific first (a template
    naming a topic, request type or state the case does not have does not fit)."""
    out = []
    for t in db.session.scalars(
        select(ReplyTemplate).where(ReplyTemplate.kind == kind, ReplyTemplate.active)
    ):
        conditions = (
            (t.topic, case.topic),
            (t.request_type, case.request_type),
            (t.case_state, case.status),
        )
        if any(want is not None and want != have for want, have in conditions):
            continue
        out.append((sum(want is not None for want, _ in conditions), t))
    out.sort(key=lambda pair: (-pair[0], pair[1].id))
    return [t for _, t in out]


def values_for(case: Case) -> dict[str, str]:
    """The placeholder values the case can fill."""
    first = case.items[0] if case.items else None
    values = {
        "留言人": (first.author if first and first.author else "网友"),
        "留言日期": format_local(case.first_item_at, "%Y年%m月%d日"),
        "承办单位": case.unit.name if case.unit else "",
        "今天": format_local(utcnow(), "%Y年%m月%d日"),
        "工单编号": f"#{case.id}",
    }
    if case.acknowledged_at:
        values["受理日期"] = format_local(case.acknowledged_at, "%Y年%m月%d日")
    if case.due_at:
        values["办理时限"] = format_local(case.due_at, "%Y年%m月%d日")
    return {k: v for k, v in values.items() if v}


def render(template: ReplyTemplate, case: Case) -> str:
    """The template's body filled from the case; unfillable placeholders stay as they
    are, visibly, for the drafter."""
    values = values_for(case)
    out = []
    for literal, field, _, _ in string.Formatter().parse(template.body):
        out.append(literal)
        if field is not None:
            out.append(values.get(field, "{" + field + "}"))
    return "".join(out)
