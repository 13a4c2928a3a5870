"""Deadline clocks (办理时限): rules, the two clocks of a case, and how they read.

Two clocks per case:

- **first response** (首次响应): by default 4 working hours from dispatch, stopped by 签收;
- **resolution** (办理时限): by request type (咨询 3, 求助 5, 投诉/建议/举报 13 working days;
  urgent the same working day), by default from 签收, stopped by the answer.

The rule used is frozen on the case (``Case.clock_spec``) so later rule edits do not move
deadlines already given. Deadlines computed across a year whose holiday schedule is not
loaded are *provisional* (``Case.due_provisional``) and recomputed by
:func:`recompute_provisional` once the year is imported (and by every sweep).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import g, has_app_context
from sqlalchemy import select

from classifiers.data import REQUEST_TYPES
from sentinel.auth.permissions import Actor
from sentinel.errors import ValidationFailed
from sentinel.extensions import db
from sentinel.models import Case, CaseReturn, DeadlineChange, DeadlineRule, utcnow
from sentinel.models.case import OPEN_STATUSES
from sentinel.models.deadline import AMOUNT_UNITS, CLOCKS, START_EVENTS
from sentinel.models.user import ROLES
from sentinel.services import audit, workcalendar
from sentinel.timefmt import SHANGHAI, format_local

# Clock bookkeeping (set, stopped, recomputed, reminders) is audited under its own object
# type, keyed by case id, so the case's transition history stays one line per transition;
# the case page shows both.
DEADLINE_OBJECT = "case_deadline"
APPROVER_ROLES = ("duty_officer", "leader", "admin")
# Why pending 延期/暂停 requests end when the case leaves the unit that asked.
CHANGES_VOID_REASON = "工单已退回/改派"


@dataclass(frozen=True)
class ClockRule:
    """The parts of a rule a clock needs (from the table, or the built-in defaults)."""

    clock: str
    amount: int
    amount_unit: str
    start_event: str
    approver_role: str
    rule_id: int | None = None

    def spec(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "amount": self.amount,
            "unit": self.amount_unit,
            "start": self.start_event,
            "approver": self.approver_role,
        }

    @property
    def describe(self) -> str:
        if self.amount == 0 and self.amount_unit == "days":
            return "当日办结"
        start = START_EVENTS[self.start_event]
        return f"{self.amount} {AMOUNT_UNITS[self.amount_unit]}（自{start}起）"


# Used when the rules table has no matching row (the migration seeds the same rules).
BUILTIN_RESPONSE = ClockRule("response", 4, "hours", "dispatch", "duty_officer")
BUILTIN_RESOLUTION_DAYS = {"咨询": 3, "求助": 5, "投诉": 13, "建议": 13, "举报": 13}
BUILTIN_DEFAULT_DAYS = 13


def _builtin(case: Case, clock: str) -> ClockRule:
    if clock == "response":
        return BUILTIN_RESPONSE
    if case.priority >= 2:
        return ClockRule("resolution", 0, "days", "acknowledge", "leader")
    days = BUILTIN_RESOLUTION_DAYS.get(case.request_type or "", BUILTIN_DEFAULT_DAYS)
    return ClockRule("resolution", days, "days", "acknowledge", "duty_officer")


def _rules() -> list[DeadlineRule]:
    cache = g.setdefault("_deadline_rules", None) if has_app_context() else None
    if cache is None:
        cache = list(db.session.scalars(select(DeadlineRule).where(DeadlineRule.active)))
        if has_app_context():
            g._deadline_rules = cache
    return cache


def forget_rules() -> None:
    """Drop the per-request rule cache (after an edit)."""
    if has_app_context():
        g.pop("_deadline_rules", None)


def select_rule(case: Case, clock: str) -> ClockRule:
    """The most specific active rule for ``case``: urgent > unit > source > request type."""
    best: tuple[int, DeadlineRule] | None = None
    for rule in _rules():
        if rule.clock != clock:
            continue
        if rule.urgent and case.priority < 2:
            continue
        if rule.request_type and rule.request_type != case.request_type:
            continue
        if rule.source_id and rule.source_id != case.source_id:
            continue
        if rule.unit_id and rule.unit_id != case.unit_id:
            continue
        score = (
            8 * rule.urgent
            + 4 * bool(rule.unit_id)
            + 2 * bool(rule.source_id)
            + bool(rule.request_type)
        )
        if best is None or score > best[0] or (score == best[0] and rule.id > best[1].id):
            best = (score, rule)
    if best is None:
        return _builtin(case, clock)
    rule = best[1]
    return ClockRule(
        clock, rule.amount, rule.amount_unit, rule.start_event, rule.approver_role, rule.id
    )


def compute_due(
    spec: dict[str, Any], start: datetime, extra_days: int, unit_id: int | None
) -> tuple[datetime, bool]:
    """Due time for a clock ``spec`` started at ``start``, plus approved extra working days."""
    periods = workcalendar.office_periods(unit_id)
    snap = workcalendar.snapshot()
    if spec["unit"] == "hours":
        due, provisional = workcalendar.add_working_hours(start, spec["amount"], periods, snap)
        if extra_days:
            local = due.astimezone(SHANGHAI)
            day, more = workcalendar.add_working_days(local.date(), extra_days, snap)
            due = datetime.combine(day, local.timetz()).astimezone(due.tzinfo)
            provisional = provisional or more
        return due, provisional
    return workcalendar.working_days_deadline(start, spec["amount"] + extra_days, periods, snap)


def _set_resolution(case: Case, start: datetime) -> None:
    spec = (case.clock_spec or {}).get("resolution")
    if spec is None:
        return
    case.clock_started_at = start
    case.due_at, provisional = compute_due(spec, start, case.extension_days, case.unit_id)
    case.due_provisional = bool(case.due_provisional or provisional)


def _record(actor: Actor, case: Case, event: str) -> None:
    audit.record(
        actor,
        "case.deadline_set",
        DEADLINE_OBJECT,
        case.id,
        event=event,
        response_due_at=case.response_due_at.isoformat() if case.response_due_at else None,
        due_at=case.due_at.isoformat() if case.due_at else None,
        provisional=case.due_provisional,
        rules={k: v.get("rule_id") for k, v in (case.clock_spec or {}).items()},
    )


def cancel_pending_changes(actor: Actor, case: Case, reason: str = CHANGES_VOID_REASON) -> int:
    """Cancel the case's pending 延期/暂停 requests (audited); returns how many.

    A request belongs to the unit and the clock it was made under; once the case is
    returned (退单) or dispatched again it must not block the next unit's own request
    nor be approved onto that unit's clock.
    """
    changes = db.session.scalars(
        select(DeadlineChange).where(
            DeadlineChange.case_id == case.id, DeadlineChange.status == "pending"
        )
    ).all()
    now = utcnow()
    for change in changes:
        change.status = "cancelled"
        change.decided_at = now
        change.decided_by_id = actor.user_id
        change.decision_note = reason
        audit.record(
            actor,
            "case.deadline_change_cancelled",
            "case",
            case.id,
            change_id=change.id,
            kind=change.kind,
            reason=reason,
        )
    if changes:
        db.session.flush()
    return len(changes)


def on_dispatch(actor: Actor, case: Case, now: datetime) -> None:
    """Hook from ``triage.dispatch`` and arbitration: (re)start the clocks for the new
    handling unit; requests made under the previous clock are cancelled."""
    cancel_pending_changes(actor, case)
    response = select_rule(case, "response")
    resolution = select_rule(case, "resolution")
    case.clock_spec = {"response": response.spec(), "resolution": resolution.spec()}
    case.extension_days = 0
    case.paused_until = None
    case.deadline_state = None
    case.deadline_round = (case.deadline_round or 0) + 1
    case.due_provisional = False
    case.response_due_at = None
    case.due_at = None
    case.clock_started_at = None
    if response.start_event == "dispatch":
        case.response_due_at, provisional = compute_due(response.spec(), now, 0, case.unit_id)
        case.due_provisional = provisional
    if resolution.start_event == "dispatch":
        _set_resolution(case, now)
    if case.return_count:  # a returned case dispatched again: close its open returns
        for record in db.session.scalars(
            select(CaseReturn).where(CaseReturn.case_id == case.id, CaseReturn.outcome.is_(None))
        ):
            record.outcome = "redispatched"
            record.outcome_unit_id = case.unit_id
    _record(actor, case, "dispatch")


def on_acknowledge(actor: Actor, case: Case, now: datetime) -> None:
    """Hook from ``triage.acknowledge`` (签收): start the clocks that start at 签收."""
    spec = case.clock_spec or {}
    if not spec:  # dispatched before the clocks existed
        on_dispatch(actor, case, case.dispatched_at or now)
        spec = case.clock_spec or {}
    if spec.get("response", {}).get("start") == "acknowledge":
        case.response_due_at, provisional = compute_due(spec["response"], now, 0, case.unit_id)
        case.due_provisional = bool(case.due_provisional or provisional)
    if spec.get("resolution", {}).get("start") == "acknowledge":
        _set_resolution(case, now)
    _record(actor, case, "acknowledge")


def on_answer(actor: Actor, case: Case, now: datetime) -> None:
    """Hook from ``triage.answer``: stop the resolution clock, on time or late."""
    if case.due_at is None:
        return
    case.deadline_state = "met" if now <= case.due_at else "late"
    audit.record(
        actor,
        "case.deadline_stopped",
        DEADLINE_OBJECT,
        case.id,
        state=case.deadline_state,
        due_at=case.due_at.isoformat(),
    )


def on_priority_change(actor: Actor, case: Case, reason: str) -> bool:
    """Hook from ``triage.set_priority``: pick the resolution rule again for the new
    priority (urgent → same day, otherwise by request type), freeze it on the case and
    recompute the deadline from the clock's start, keeping approved extensions.

    Nothing happens before dispatch (the rule is chosen then) or after the answer
    stopped the clock. Returns True when the deadline changed; the change is audited.
    """
    return _reselect_resolution(actor, case, "priority", reason)


def on_request_type_change(actor: Actor, case: Case, reason: str) -> bool:
    """Hook from ``corrections.correct``: the request type decides the resolution rule
    (咨询 3, 求助 5, 投诉/建议/举报 13 working days), so a corrected type picks the rule
    again, freezes it and recomputes the deadline from the clock's start (approved
    extensions kept). Same conditions and audit as :func:`on_priority_change`."""
    return _reselect_resolution(actor, case, "request_type", reason)


def resolution_rules_differ(first: str, second: str) -> bool:
    """Whether two request types get different resolution rules (amount, unit or start)
    for a non-urgent case with no unit or source yet (the classifier's question: does an
    unsure type change the deadline?)."""
    from types import SimpleNamespace

    specs = []
    for request_type in (first, second):
        probe = SimpleNamespace(priority=0, request_type=request_type, source_id=None, unit_id=None)
        rule = select_rule(probe, "resolution")  # type: ignore[arg-type]
        specs.append((rule.amount, rule.amount_unit, rule.start_event))
    return specs[0] != specs[1]


def _reselect_resolution(actor: Actor, case: Case, event: str, reason: str) -> bool:
    spec = dict(case.clock_spec or {})
    if not spec or not case.is_open or case.answered_at is not None:
        return False
    rule = select_rule(case, "resolution")
    old = spec.get("resolution")
    if old == rule.spec():
        return False
    spec["resolution"] = rule.spec()
    case.clock_spec = spec  # a new dict, so the JSON column is seen as changed
    old_due = case.due_at
    start = case.dispatched_at if rule.start_event == "dispatch" else case.acknowledged_at
    if start is None:  # the clock starts later (签收): it will use the new rule then
        case.clock_started_at = None
        case.due_at = None
    else:
        case.due_provisional = False
        _set_resolution(case, start)
    if case.due_at != old_due:
        case.deadline_state = None
        case.deadline_round = (case.deadline_round or 0) + 1  # a new reminder ladder
    audit.record(
        actor,
        "case.deadline_recomputed",
        DEADLINE_OBJECT,
        case.id,
        event=event,
        reason=reason,
        old_due_at=old_due.isoformat() if old_due else None,
        due_at=case.due_at.isoformat() if case.due_at else None,
        provisional=case.due_provisional,
        rules={k: v.get("rule_id") for k, v in spec.items()},
    )
    return case.due_at != old_due


def recompute(case: Case) -> bool:
    """Recompute both clocks of ``case`` from their frozen rules; True when changed."""
    spec = case.clock_spec or {}
    before = (case.response_due_at, case.due_at, case.due_provisional)
    provisional = False
    response = spec.get("response")
    if response and case.response_due_at is not None:
        start = case.dispatched_at if response["start"] == "dispatch" else case.acknowledged_at
        if start is not None:
            case.response_due_at, provisional = compute_due(response, start, 0, case.unit_id)
    resolution = spec.get("resolution")
    if resolution and case.clock_started_at is not None:
        case.due_at, more = compute_due(
            resolution, case.clock_started_at, case.extension_days, case.unit_id
        )
        provisional = provisional or more
    case.due_provisional = provisional
    return (case.response_due_at, case.due_at, case.due_provisional) != before


def recompute_provisional(actor: Actor) -> int:
    """Recompute every open case whose deadline is provisional (after a year is loaded).

    Returns how many deadlines changed; each change is audited with old and new times.
    """
    workcalendar.invalidate()
    changed = 0
    cases = db.session.scalars(
        select(Case).where(Case.due_provisional, Case.status.in_(OPEN_STATUSES))
    ).all()
    for case in cases:
        old_due = case.due_at
        if recompute(case):
            changed += 1
            audit.record(
                actor,
                "case.deadline_recomputed",
                DEADLINE_OBJECT,
                case.id,
                old_due_at=old_due.isoformat() if old_due else None,
                due_at=case.due_at.isoformat() if case.due_at else None,
                provisional=case.due_provisional,
            )
    db.session.flush()
    return changed


# --------------------------------------------------------------------------- rules admin


def save_rule(actor: Actor, rule: DeadlineRule | None, **values: Any) -> DeadlineRule:
    """Create or update a rule after validating it; audited with the values."""
    clock = values.get("clock", "resolution")
    if clock not in CLOCKS:
        raise ValidationFailed("请选择计时类型")
    if values.get("start_event") not in START_EVENTS:
        raise ValidationFailed("请选择起算事件")
    if values.get("amount_unit") not in AMOUNT_UNITS:
        raise ValidationFailed("请选择时限单位")
    if values.get("approver_role") not in ROLES:
        raise ValidationFailed("请选择审批角色")
    amount = values.get("amount")
    if not isinstance(amount, int) or not 0 <= amount <= 365:
        raise ValidationFailed("时限应为 0–365 之间的整数")
    request_type = values.get("request_type") or None
    if request_type is not None and request_type not in REQUEST_TYPES:
        raise ValidationFailed("诉求类型无效")
    created = rule is None
    if rule is None:
        rule = DeadlineRule()
        db.session.add(rule)
    rule.clock = clock
    rule.request_type = request_type
    rule.source_id = values.get("source_id") or None
    rule.unit_id = values.get("unit_id") or None
    rule.urgent = bool(values.get("urgent"))
    rule.start_event = values["start_event"]
    rule.amount = amount
    rule.amount_unit = values["amount_unit"]
    rule.approver_role = values["approver_role"]
    rule.active = bool(values.get("active", True))
    db.session.flush()
    forget_rules()
    audit.record(
        actor,
        "deadline_rule.create" if created else "deadline_rule.update",
        "deadline_rule",
        rule.id,
        clock=rule.clock,
        request_type=rule.request_type,
        source_id=rule.source_id,
        unit_id=rule.unit_id,
        urgent=rule.urgent,
        start=rule.start_event,
        amount=rule.amount,
        unit=rule.amount_unit,
        approver=rule.approver_role,
        active=rule.active,
    )
    return rule


# --------------------------------------------------------------------------- how clocks read


@dataclass(frozen=True)
class ClockView:
    """One clock as a badge: label, state (ok/soon/overdue/met/late/paused), text."""

    clock: str
    label: str
    state: str
    text: str
    due_at: datetime
    provisional: bool

    @property
    def title(self) -> str:
        suffix = (
            "（临时：跨越尚未导入节假日安排的年份，导入后自动重算）" if self.provisional else ""
        )
        return f"{self.label}截止 {format_local(self.due_at)}{suffix}"


def _hours(seconds: int) -> str:
    hours = seconds / 3600
    return f"{hours:.1f}".rstrip("0").rstrip(".")


def _remaining(due: datetime, now: datetime, unit: str, unit_id: int | None) -> tuple[str, str]:
    snap = workcalendar.snapshot()
    periods = _periods(unit_id)
    today = now.astimezone(SHANGHAI).date()
    due_day = due.astimezone(SHANGHAI).date()
    if now > due:
        if due_day < today:
            days = 0
            day = due_day
            while day < today:
                day += timedelta(days=1)
                days += snap.is_working_day(day)
            if days:
                return "overdue", f"超期 {days} 个工作日"
        seconds = workcalendar.working_seconds_between(due, now, periods, snap)
        return "overdue", f"超时 {_hours(seconds)} 工时" if seconds else "已超时"
    seconds = workcalendar.working_seconds_between(now, due, periods, snap)
    if unit == "hours" or due_day == today:
        state = "soon" if seconds <= 4 * 3600 else "ok"
        prefix = "今日到期，" if unit == "days" else ""
        return state, f"{prefix}剩 {_hours(seconds)} 工时"
    days = 0
    day = today
    while day < due_day:
        day += timedelta(days=1)
        days += snap.is_working_day(day)
    return ("soon" if days <= 1 else "ok"), f"剩 {days} 个工作日"


def _periods(unit_id: int | None) -> list[workcalendar.Period]:
    cache: dict[int | None, list[workcalendar.Period]] = g.setdefault("_office_periods", {})
    if unit_id not in cache:
        cache[unit_id] = workcalendar.office_periods(unit_id)
    return cache[unit_id]


def clock_views(case: Case, now: datetime | None = None) -> list[ClockView]:
    """The clocks to show for ``case`` (case page and list badges)."""
    now = now or utcnow()
    spec = case.clock_spec or {}
    views: list[ClockView] = []
    if case.response_due_at is not None:
        unit = spec.get("response", {}).get("unit", "hours")
        if case.status == "dispatched":
            state, text = _remaining(case.response_due_at, now, unit, case.unit_id)
        elif case.acknowledged_at is not None:
            late = case.acknowledged_at > case.response_due_at
            state, text = ("late", "超时签收") if late else ("met", "按时签收")
        else:
            state, text = "", ""
        if state:
            views.append(
                ClockView(
                    "response", "首次响应", state, text, case.response_due_at, case.due_provisional
                )
            )
    if case.due_at is not None:
        unit = spec.get("resolution", {}).get("unit", "days")
        if case.is_open:
            if case.paused_until is not None and case.paused_until > now:
                state, text = "paused", f"暂停至 {format_local(case.paused_until, '%m-%d')}"
            else:
                state, text = _remaining(case.due_at, now, unit, case.unit_id)
        elif case.deadline_state in ("met", "late"):
            state = case.deadline_state
            text = "按期办结" if state == "met" else "超期办结"
        else:
            state, text = "", ""
        if state:
            views.append(
                ClockView("resolution", "办理时限", state, text, case.due_at, case.due_provisional)
            )
    return views
