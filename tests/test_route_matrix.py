"""Every route × every role × in-scope / out-of-scope target, built from ``app.url_map``.

``RULES`` is the one table of what each endpoint requires: the capability its decorator
checks (``sentinel.auth.permissions.CAPABILITIES`` says which roles carry it) and the
*scope kind* — which relation to the target the user needs. ``SCENARIOS`` gives, per
(endpoint, method), a request that succeeds when it is allowed. The test sends it as
every subject below and asserts the exact status; a refusal must leave every table as
it was, a success on a form must change something.

A route in ``app.url_map`` without an entry in ``RULES`` and ``SCENARIOS`` fails
``test_every_route_has_a_rule`` — add both when you add a route.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import g
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from sentinel.auth.permissions import CAPABILITIES, Actor
from sentinel.extensions import db
from sentinel.models import Base, Case, DeadlineChange, Reminder, User, utcnow
from sentinel.services import deadline_changes, imports, returns, triage, units, users
from tests.conftest import PASSWORD, SEED_ACTOR
from tests.support.replies import publish_answer

# --------------------------------------------------------------------------- the rules

# Scope kinds: what relation to the request's target the user needs (beyond the role).
SCOPES = {
    "public": "no login needed; the same answer for everyone",
    "api": "bearer token only: a browser session never authenticates the API (401)",
    "login": "any logged-in user",
    "none": "the capability alone; lists are filtered to the user's units",
    "case": "the target (case, import batch, reminder) is in the user's units "
    "(lead, assisting or office unit); otherwise 404",
    "lead": "as 'case', and the user's unit is the lead (主办) unit; an assisting unit gets 403",
    "approver": "as 'case', and the user has the role the case's deadline rule names "
    "(duty officer for the built-in rules) or is admin",
    "assist_ack": "as 'case', and the user belongs to that 协办 task's unit (or is admin)",
    "assist_done": "as 'case', and the user belongs to that 协办 task's unit, the lead "
    "unit or the office; another assisting unit gets 403",
    "picked": "the target is picked from the user's own list; an outside pick is a "
    "form error (302, nothing stored)",
}


@dataclass(frozen=True)
class Rule:
    capability: str | None  # a key of CAPABILITIES; None for public/api/login routes
    scope: str


RULES: dict[str, Rule] = {
    "static": Rule(None, "public"),
    "auth.index": Rule(None, "login"),
    "auth.login": Rule(None, "public"),
    "auth.logout": Rule(None, "login"),
    "api.create_items": Rule(None, "api"),
    "api.get_item": Rule(None, "api"),
    "api.openapi_json": Rule(None, "public"),
    "api.docs": Rule(None, "public"),
    "api.docs_asset": Rule(None, "public"),
    "admin.audit_page": Rule("admin.manage", "none"),
    "admin.jobs_page": Rule("jobs.view", "none"),
    "admin.models_page": Rule("models.manage", "none"),
    "admin.sources_page": Rule("admin.manage", "none"),
    "admin.units_page": Rule("admin.manage", "none"),
    "admin.users_page": Rule("admin.manage", "none"),
    "admin.user_edit": Rule("admin.manage", "none"),
    "admin.user_deactivate": Rule("admin.manage", "none"),
    "admin.user_activate": Rule("admin.manage", "none"),
    "admin.user_unlock": Rule("admin.manage", "none"),
    "admin.user_reset_password": Rule("admin.manage", "none"),
    "auth.change_password": Rule(None, "login"),
    "calendar_admin.index": Rule("admin.manage", "none"),
    "calendar_admin.set_day": Rule("admin.manage", "none"),
    "calendar_admin.import_year": Rule("admin.manage", "none"),
    "calendar_admin.office_hours": Rule("admin.manage", "none"),
    "deadline_rules.rules": Rule("admin.manage", "none"),
    "case_deadlines.request_change": Rule("case.answer", "lead"),
    "case_deadlines.decide_change": Rule("deadline.decide", "approver"),
    "case_deadlines.pending_changes": Rule("deadline.decide", "none"),
    "case_deadlines.return_case": Rule("case.acknowledge", "lead"),
    "case_deadlines.arbitrate": Rule("case.dispatch", "case"),
    "case_deadlines.add_assist": Rule("case.dispatch", "case"),
    "case_deadlines.acknowledge_assist": Rule("case.assist", "assist_ack"),
    "case_deadlines.finish_assist": Rule("case.assist", "assist_done"),
    "case_deadlines.edit_notice": Rule("notice.edit", "lead"),
    "cases.show": Rule("case.view", "case"),
    "cases.claim": Rule("case.claim", "case"),
    "cases.unclaim": Rule("case.claim", "case"),
    "cases.dispatch": Rule("case.dispatch", "case"),
    "cases.noise": Rule("case.noise", "case"),
    "cases.merge": Rule("case.merge", "case"),
    "cases.close": Rule("case.close", "case"),
    "cases.reopen": Rule("case.reopen", "case"),
    "cases.acknowledge": Rule("case.acknowledge", "lead"),
    "cases.reply": Rule("case.answer", "lead"),
    "cases.correct": Rule("case.correct", "case"),
    "cases.priority": Rule("case.priority", "case"),
    "cases.unmerge": Rule("case.merge", "case"),
    "imports.index": Rule("import.run", "none"),
    "imports.upload": Rule("import.run", "picked"),
    "imports.mapping": Rule("import.run", "case"),
    "imports.show": Rule("import.run", "case"),
    "imports.status": Rule("import.run", "case"),
    "imports.retry": Rule("import.run", "case"),
    "inbox.index": Rule("inbox.view", "none"),
    "reminders.my_reminders": Rule("case.view", "none"),
    "reminders.reminder_document": Rule("case.view", "case"),
    "triage.index": Rule("triage.view", "none"),
    "triage.feed": Rule("triage.view", "none"),
    "triage.bulk": Rule("triage.bulk", "case"),
    "lint_words.index": Rule("admin.manage", "none"),
    "lint_words.toggle": Rule("admin.manage", "none"),
    "lint_words.disable_shipped": Rule("admin.manage", "none"),
    "lint_words.import_words": Rule("admin.manage", "none"),
    "lint_words.check": Rule("admin.manage", "none"),
    "reports.index": Rule("report.view", "none"),
    "reports.generate": Rule("report.generate", "picked"),
    "reports.show": Rule("report.view", "case"),
    "reports.status": Rule("report.view", "case"),
    "reports.download": Rule("report.view", "case"),
    "reports.sla": Rule("report.view", "case"),
    "reports.cases": Rule("report.view", "case"),
    # Issue 12: 会商 consultations are scoped by the units their event's cases touch.
    "consultations.index": Rule("consult.view", "none"),
    "consultations.show": Rule("consult.view", "case"),
    "consultations.open_for_event": Rule("consult.manage", "case"),
    "consultations.assess": Rule("consult.manage", "case"),
    "consultations.responsible": Rule("consult.manage", "case"),
    "consultations.invite": Rule("consult.manage", "case"),
    "consultations.confirm": Rule("consult.confirm", "assist_done"),
    "consultations.minutes": Rule("consult.manage", "case"),
    "consultations.agreed_line": Rule("consult.manage", "case"),
    "consultations.clock_met": Rule("consult.manage", "case"),
    "consultations.decide": Rule("consult.manage", "case"),
    "consultations.review": Rule("consult.manage", "case"),
    "consultations.board_page": Rule("board.view", "none"),
    "consultations.board_data": Rule("board.view", "none"),
    "consultations.alert_feed": Rule("alerts.view", "none"),
    "consultations.alerts_admin": Rule("alerts.manage", "none"),
    "consultations.alert_retry": Rule("alerts.manage", "none"),
    "dashboard.index": Rule("dashboard.view", "none"),
    "dashboard.unit": Rule("dashboard.view", "case"),
    "dashboard.export": Rule("report.view", "case"),
    # Hot events (issue 12): an event is in scope when one of its cases is.
    "events.index": Rule("event.view", "none"),
    "events.index_json": Rule("event.view", "none"),
    "events.show": Rule("event.view", "case"),
    "events.show_json": Rule("event.view", "case"),
    "events.rename": Rule("event.manage", "case"),
    "events.noise": Rule("event.manage", "case"),
    "events.reopen": Rule("event.manage", "case"),
    "events.merge": Rule("event.manage", "case"),
    "events.move_out": Rule("event.manage", "case"),
    "events.escalate": Rule("event.manage", "case"),
    "events.mark_rumour": Rule("rumour.mark", "case"),
}

# Who sends each request: (username, variant). "in": the target lies in the user's units
# (the lead unit's handler, the county office); "out": a user of the same role in an
# unrelated unit; "assist": a handler whose unit assists (协办) on the target case.
SUBJECTS = [
    (None, "anon"),
    ("admin", "in"),
    ("duty", "in"),
    ("leader", "in"),
    ("reviewer", "in"),
    ("edu_handler", "in"),
    ("duty_health", "out"),
    ("leader_health", "out"),
    ("reviewer_health", "out"),
    ("health_handler", "out"),
    ("health_handler", "assist"),
]

OK = "ok"


def expected(rule: Rule, role: str | None, variant: str) -> str | int:
    """The answer the rule demands: OK (the scenario's success), or a refusal status.

    Refusals: 302 to the login page for anonymous users, 401 for the API without a
    token, 403 without the capability or without the needed relation, 404 when the
    target is outside the user's units (ids do not leak), "form" for a 302 that stores
    nothing."""
    if rule.scope == "public":
        return OK
    if rule.scope == "api":
        return 401
    if variant == "anon":
        return "login"
    if rule.scope == "login":
        return OK
    assert rule.capability is not None
    if role not in CAPABILITIES[rule.capability]:
        return 403
    if rule.scope == "none":
        return OK
    if variant == "out":
        return "form" if rule.scope == "picked" else 404
    if rule.scope in ("case", "picked"):
        return OK
    if rule.scope == "lead":
        return 403 if variant == "assist" else OK
    if rule.scope == "approver":
        return OK if role in ("admin", "duty_officer") else 403
    if rule.scope == "assist_ack":
        return OK if role == "admin" else 403
    if rule.scope == "assist_done":
        return 403 if variant == "assist" else OK
    raise AssertionError(f"unknown scope kind {rule.scope!r}")


# --------------------------------------------------------------------------- the world

FAST_HASH = generate_password_hash(PASSWORD, "pbkdf2:sha256:1")  # logins in a loop


class World:
    """The office of ``conftest.Office`` plus out-of-scope users and a third unit; makes
    fresh targets in any state, so each allowed request acts on its own case."""

    def __init__(self, office: Any) -> None:
        self.office = office
        self.transport = units.create_unit(SEED_ACTOR, "县交通局", "department", office.root)
        for name, role in (
            ("duty_health", "duty_officer"),
            ("leader_health", "leader"),
            ("reviewer_health", "reviewer"),
        ):
            office.users[name] = users.create_user(
                SEED_ACTOR, name, "unused-password-1", role, [office.health]
            )
        for user in db.session.scalars(select(User)):
            user.password_hash = FAST_HASH
        db.session.commit()
        self.n = 0

    def actor(self, name: str) -> Actor:
        return self.office.actor(name)

    def next(self) -> int:
        self.n += 1
        return self.n

    def case(self, state: str = "new", assist: bool = False) -> Case:
        """A case in ``state``; with ``assist`` the health bureau assists (协办) on it
        (from dispatch on: a new or claimed case has no assisting units yet)."""
        n = self.next()
        case = self.office.case(f"第{n}号留言：小区{n}号楼门口的路灯坏了{n}天")
        duty, edu = self.actor("duty"), self.actor("edu_handler")
        if state != "new":
            triage.claim(duty, case)
        if state not in ("new", "claimed"):
            triage.dispatch(duty, case, self.office.edu)
        if assist and state not in ("new", "claimed"):
            returns.add_assist(duty, case, self.office.health, 1)
        if state == "returned":
            returns.return_case(edu, case, "function", "不属于本单位职能")
        if state in ("acknowledged", "answered", "closed"):
            triage.acknowledge(edu, case)
        if state in ("answered", "closed"):
            publish_answer(self.office, case, "您好，已安排维修。")
        if state == "closed":
            triage.close(duty, case)
        db.session.commit()
        return case


@dataclass
class Req:
    method: str
    url: str
    data: dict[str, Any] = field(default_factory=dict)
    ok: int = 200  # the status when allowed
    changes: bool | None = None  # when allowed: must change the database (None: not checked)
    headers: dict[str, str] = field(default_factory=dict)


Scenario = Callable[[World, str], Req]


def _csv_batch(w: World) -> Any:
    data = "留言详情,留言编号\n路灯坏了,1\n".encode()
    batch = imports.create_batch(
        w.actor("duty"), w.office.source, "留言.csv", data, w.office_upload_dir
    )
    db.session.commit()
    return batch


def _reminder(w: World, variant: str) -> Reminder:
    from sentinel.services import notice_docx

    case = w.case("dispatched", assist=variant == "assist")
    os.makedirs(notice_docx.document_dir(), exist_ok=True)
    name = f"notice-{case.id}.docx"
    with open(os.path.join(notice_docx.document_dir(), name), "wb") as fh:
        fh.write(b"PK docx")
    reminder = Reminder(
        case_id=case.id, kind="notice", round=1, unit_id=w.office.edu.id, document_path=name
    )
    db.session.add(reminder)
    db.session.commit()
    return reminder


def _pending_change(w: World, variant: str) -> DeadlineChange:
    case = w.case("acknowledged", assist=variant == "assist")
    change = deadline_changes.request_change(
        w.actor("edu_handler"), case, "extension", 2, "需现场核查"
    )
    db.session.commit()
    return change


def _transport_task(w: World, variant: str) -> tuple[Case, Any]:
    """A 协办 task of the transport bureau; in the "assist" variant the health bureau
    assists on the same case (so it must not act on transport's task)."""
    case = w.case("dispatched", assist=variant == "assist")
    task = returns.add_assist(w.actor("duty"), case, w.transport, 1)
    db.session.commit()
    return case, task


def _report(w: World) -> Any:
    """An archived (ready) 留言办理情况 report of the education bureau."""
    from sentinel.services import reports

    archive = reports.request_report(
        SEED_ACTOR,
        {
            "kind": "sla",
            "fmt": "xlsx",
            "period": "month",
            "start": "2026-11-01",
            "end": "2026-11-30",
            "unit_id": w.office.edu.id,
        },
    )
    reports.generate(archive)
    db.session.commit()
    return archive


def _failed_batch(w: World) -> Any:
    batch = _csv_batch(w)
    batch.mapping = {"text": "留言详情", "external_id": "留言编号"}
    batch.status = "failed"
    batch.failure = "数据库连接中断"
    db.session.commit()
    return batch


def _draft_notice(w: World, variant: str) -> tuple[Case, Any]:
    """A case whose approved extension left a public notice draft (awaiting review)."""
    change = _pending_change(w, variant)
    notice = deadline_changes.decide_change(w.actor("duty"), change, True, "")
    db.session.commit()
    return change.case, notice


def _attached_item(w: World) -> tuple[Case, Any]:
    """A case with a second, automatically attached item (same text, same account)."""
    n = w.next()
    text = f"第{n}号重复留言：小区{n}号楼的电梯又坏了"
    first, second = w.office.ingest(text, text)
    assert second.duplicate and second.case_id == first.case_id
    return db.session.get(Case, first.case_id), second


def _fresh_user(w: World) -> User:
    user = users.create_user(
        SEED_ACTOR, f"matrix_user{w.next()}", "unused-password-1", "handler", [w.office.edu]
    )
    user.password_hash = FAST_HASH
    db.session.commit()
    return user


def _user_post(action: str, prepare: Callable[[User], None] | None = None, ok: int = 302):
    def build(w: World, variant: str) -> Req:
        user = _fresh_user(w)
        if prepare is not None:
            prepare(user)
            db.session.commit()
        return Req("POST", f"/admin/users/{user.id}/{action}", ok=ok, changes=True)

    return build


def _lock(user: User) -> None:
    user.failed_logins = 5
    user.locked_until = utcnow() + timedelta(hours=1)


def _own_password(w: World, variant: str) -> Req:
    # Every subject logs in with PASSWORD: undo the previous subject's change first.
    for user in db.session.scalars(select(User)):
        user.password_hash = FAST_HASH
        user.must_change_password = False
    db.session.commit()
    new = "another-horse-7"
    return Req(
        "POST",
        "/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
        302,
        True,
    )


def _get(url: str, ok: int = 200) -> Scenario:
    return lambda w, v: Req("GET", url, ok=ok, changes=False)


def _case_post(state: str, action: str, data: dict[str, Any] | None = None) -> Scenario:
    def build(w: World, variant: str) -> Req:
        case = w.case(state, assist=variant == "assist")
        return Req("POST", f"/cases/{case.id}/{action}", dict(data or {}), 302, True)

    return build


def _merge(w: World, variant: str) -> Req:
    into = w.case("new")
    case = w.case("new")
    return Req("POST", f"/cases/{case.id}/merge", {"into_id": str(into.id)}, 302, True)


def _lint_word(w: World, variant: str) -> Req:
    from sentinel.services import lint_words

    row = lint_words.add_word(w.actor("admin"), f"矩阵词{w.next()}", "敏感词")
    db.session.commit()
    return Req("POST", f"/admin/lint-words/{row.id}/toggle", {"active": "0"}, 302, True)


def _shipped_word(w: World, variant: str) -> Req:
    from sentinel.services import lint_words

    entries = lint_words.shipped_entries()
    word = entries[w.next() % len(entries)].word
    return Req("POST", "/admin/lint-words/shipped", {"word": word}, 302, True)


def _event(w: World, variant: str, status: str = "open") -> Any:
    """A fresh event holding the item of a fresh case (dispatched to the education bureau;
    the health bureau assists in the "assist" variant)."""
    from sentinel.models import Event, EventItem

    case = w.case("dispatched", assist=variant == "assist")
    item = case.items[0]
    now = utcnow()
    event = Event(
        title=f"矩阵事件{w.next()}",
        keywords=[],
        places=[],
        status=status,
        first_at=now,
        last_at=now,
        item_count=1,
        asker_count=1,
        profile={"路灯": 1.0},
        stats={},
    )
    db.session.add(event)
    db.session.flush()
    link = db.session.scalar(select(EventItem).where(EventItem.item_id == item.id))
    if link is None:
        link = EventItem(item_id=item.id, case_id=case.id, placed_by="auto", item_at=now)
        db.session.add(link)
    link.event_id = event.id
    db.session.commit()
    return event


def _consultation(w: World, variant: str, state: str = "open") -> Any:
    """A consultation on a fresh event: "open" (level not assessed), "ready" (assessed,
    responsible unit named, education bureau invited) or "decided"."""
    from sentinel.services import consultations

    duty = w.actor("duty")
    c = consultations.open_consultation(duty, _event(w, variant))
    if state in ("ready", "decided"):
        consultations.assess(duty, c, "large")
        if c.responsible_unit_id != w.office.edu.id:
            consultations.set_responsible(duty, c, w.office.edu)
        consultations.invite(duty, c, w.office.edu)
    if state == "decided":
        consultations.decide(duty, c, "由教育局牵头回应")
    db.session.commit()
    return c


def _consult_post(action: str, data: dict[str, Any] | None = None, state: str = "open"):
    def build(w: World, variant: str) -> Req:
        c = _consultation(w, variant, state)
        payload = {k: (v(w) if callable(v) else v) for k, v in (data or {}).items()}
        return Req("POST", f"/consultations/{c.id}/{action}", payload, 302, True)

    return build


def _failed_delivery(w: World) -> Any:
    from sentinel.models import Alert, AlertDelivery

    event = _event(w, "in")
    alert = Alert(
        event_id=event.id, kind="escalation", level="1", title="事件升级", unit_ids=[], path=""
    )
    db.session.add(alert)
    db.session.flush()
    delivery = AlertDelivery(
        alert_id=alert.id, channel="webhook", target="wecom", status="failed", attempts=6
    )
    db.session.add(delivery)
    db.session.commit()
    return delivery


def _event_move_out(w: World, variant: str) -> Req:
    event = _event(w, variant)
    item_id = event.items[0].item_id
    return Req("POST", f"/events/{event.id}/move-out", {"item_id": str(item_id)}, 302, True)


SCENARIOS: dict[tuple[str, str], Scenario] = {
    ("consultations.index", "GET"): _get("/consultations/"),
    ("consultations.show", "GET"): lambda w, v: Req(
        "GET", f"/consultations/{_consultation(w, v).id}", changes=False
    ),
    ("consultations.open_for_event", "POST"): lambda w, v: Req(
        "POST", f"/events/{_event(w, v).id}/consultation", {"level": "general"}, 302, True
    ),
    ("consultations.assess", "POST"): _consult_post("assess", {"level": "major"}),
    ("consultations.responsible", "POST"): _consult_post(
        "responsible", {"unit_id": lambda w: w.transport.id}
    ),
    ("consultations.invite", "POST"): _consult_post(
        "invite", {"unit_id": lambda w: w.transport.id}
    ),
    ("consultations.confirm", "POST"): lambda w, v: (
        lambda c: Req(
            "POST", f"/consultations/{c.id}/invites/{c.invites[0].id}/confirm", {}, 302, True
        )
    )(_consultation(w, v, "ready")),
    ("consultations.minutes", "POST"): _consult_post("minutes", {"minutes": "各单位通报情况"}),
    ("consultations.agreed_line", "POST"): _consult_post(
        "line", {"agreed_line": "已责成相关单位核查处理"}
    ),
    ("consultations.clock_met", "POST"): _consult_post("clocks/respond/met"),
    ("consultations.decide", "POST"): _consult_post(
        "decide", {"decision": "教育局牵头，当日回应"}, "ready"
    ),
    ("consultations.review", "POST"): _consult_post(
        "review", {"review": "回应及时，舆情平息"}, "decided"
    ),
    ("consultations.board_page", "GET"): _get("/board"),
    ("consultations.board_data", "GET"): _get("/board/data"),
    ("consultations.alert_feed", "GET"): _get("/alerts/feed?after=0"),
    ("consultations.alerts_admin", "GET"): _get("/admin/alerts"),
    ("consultations.alert_retry", "POST"): lambda w, v: Req(
        "POST", f"/admin/alerts/{_failed_delivery(w).id}/retry", ok=302, changes=True
    ),
    ("static", "GET"): _get("/static/css/app.css"),
    ("auth.index", "GET"): _get("/", 302),
    ("auth.login", "GET"): lambda w, v: Req("GET", "/login", ok=302 if v != "anon" else 200),
    ("auth.login", "POST"): lambda w, v: Req(
        "POST", "/login", {"username": "duty", "password": PASSWORD}, 302
    ),
    ("auth.logout", "POST"): lambda w, v: Req("POST", "/logout", ok=302, changes=True),
    ("api.create_items", "POST"): lambda w, v: Req(
        "POST", "/api/v1/items", ok=201, headers={"Content-Type": "application/json"}
    ),
    ("api.get_item", "GET"): lambda w, v: Req(
        "GET", f"/api/v1/items/{w.case().items[0].id}", changes=False
    ),
    ("api.openapi_json", "GET"): _get("/api/v1/openapi.json"),
    ("api.docs", "GET"): _get("/api/v1/docs"),
    ("api.docs_asset", "GET"): _get("/api/v1/docs/assets/swagger-ui.css"),
    ("admin.audit_page", "GET"): _get("/admin/audit"),
    ("admin.jobs_page", "GET"): _get("/admin/jobs"),
    ("admin.models_page", "GET"): _get("/admin/models"),
    # Activating a version that is not there: allowed, refused by the service, flashed.
    ("admin.models_page", "POST"): lambda w, v: Req(
        "POST", "/admin/models", {"version": "no-such-version"}, 302, False
    ),
    ("admin.sources_page", "GET"): _get("/admin/sources"),
    ("admin.sources_page", "POST"): lambda w, v: Req(
        "POST",
        "/admin/sources",
        {"name": f"矩阵渠道{w.next()}", "platform": "weibo", "account": "x"},
        200,
        True,
    ),
    ("admin.units_page", "GET"): _get("/admin/units"),
    ("admin.units_page", "POST"): lambda w, v: Req(
        "POST",
        "/admin/units",
        {"name": f"矩阵单位{w.next()}", "kind": "department", "parent_id": w.office.root.id},
        302,
        True,
    ),
    ("admin.users_page", "GET"): _get("/admin/users"),
    ("admin.users_page", "POST"): lambda w, v: Req(
        "POST",
        "/admin/users",
        {
            "username": f"matrix{w.next()}",
            "password": PASSWORD,
            "role": "handler",
            "unit_ids": [str(w.office.edu.id)],
        },
        302,
        True,
    ),
    ("admin.user_edit", "GET"): lambda w, v: Req(
        "GET", f"/admin/users/{_fresh_user(w).id}", changes=False
    ),
    ("admin.user_edit", "POST"): lambda w, v: Req(
        "POST",
        f"/admin/users/{_fresh_user(w).id}",
        {"role": "handler", "unit_ids": [str(w.office.health.id)], "display_name": "改名"},
        302,
        True,
    ),
    ("admin.user_deactivate", "POST"): _user_post("deactivate"),
    ("admin.user_activate", "POST"): _user_post(
        "activate", lambda user: users.deactivate_user(SEED_ACTOR, user)
    ),
    ("admin.user_unlock", "POST"): _user_post("unlock", _lock),
    # The generated password is shown once, in the page itself (200, not a redirect).
    ("admin.user_reset_password", "POST"): _user_post("reset-password", ok=200),
    ("auth.change_password", "GET"): _get("/password"),
    ("auth.change_password", "POST"): _own_password,
    ("calendar_admin.index", "GET"): _get("/admin/calendar/"),
    ("calendar_admin.set_day", "POST"): lambda w, v: Req(
        "POST",
        "/admin/calendar/day",
        {"day": f"2031-05-{w.next() % 28 + 1:02d}", "kind": "holiday", "name": "测试"},
        302,
        True,
    ),
    ("calendar_admin.import_year", "POST"): lambda w, v: Req(
        "POST", "/admin/calendar/import", {"text": "2032-01-01,holiday,元旦"}, 302, True
    ),
    ("calendar_admin.office_hours", "POST"): lambda w, v: Req(
        "POST",
        "/admin/calendar/office-hours",
        {"unit_id": w.office.edu.id, "periods": f"08:{w.next() % 50 + 10}-12:00"},
        302,
        True,
    ),
    ("deadline_rules.rules", "GET"): _get("/admin/deadlines"),
    ("deadline_rules.rules", "POST"): lambda w, v: Req(
        "POST",
        "/admin/deadlines",
        {
            "clock": "resolution",
            "request_type": "咨询",
            "start_event": "acknowledge",
            "amount": str(w.next() % 20 + 1),
            "amount_unit": "days",
            "approver_role": "duty_officer",
            "active": "1",
        },
        302,
        True,
    ),
    ("case_deadlines.request_change", "POST"): _case_post(
        "acknowledged", "deadline-change", {"kind": "extension", "days": "2", "reason": "需核查"}
    ),
    ("case_deadlines.decide_change", "POST"): lambda w, v: Req(
        "POST",
        f"/deadline-changes/{_pending_change(w, v).id}/decide",
        {"decision": "approve", "note": ""},
        302,
        True,
    ),
    ("case_deadlines.pending_changes", "GET"): _get("/deadline-changes"),
    ("case_deadlines.return_case", "POST"): _case_post(
        "dispatched", "return", {"reason": "function", "note": "非本单位职能"}
    ),
    ("case_deadlines.arbitrate", "POST"): lambda w, v: Req(
        "POST",
        f"/cases/{w.case('returned').id}/arbitrate",
        {"unit_id": w.office.edu.id, "note": "仲裁"},
        302,
        True,
    ),
    ("case_deadlines.add_assist", "POST"): lambda w, v: Req(
        "POST",
        f"/cases/{w.case('dispatched', assist=v == 'assist').id}/assist",
        {"unit_id": w.transport.id, "days": "1"},
        302,
        True,
    ),
    ("case_deadlines.acknowledge_assist", "POST"): lambda w, v: (
        lambda case, task: Req(
            "POST", f"/cases/{case.id}/assist/{task.id}/acknowledge", ok=302, changes=True
        )
    )(*_transport_task(w, v)),
    ("case_deadlines.finish_assist", "POST"): lambda w, v: (
        lambda case, task: Req(
            "POST", f"/cases/{case.id}/assist/{task.id}/done", ok=302, changes=True
        )
    )(*_transport_task(w, v)),
    ("case_deadlines.edit_notice", "POST"): lambda w, v: (
        lambda case, notice: Req(
            "POST",
            f"/cases/{case.id}/notices/{notice.id}",
            {"body": "您好，您的留言办理时限已延长，我们将在新的时限内答复。"},
            302,
            True,
        )
    )(*_draft_notice(w, v)),
    ("cases.unmerge", "POST"): lambda w, v: (
        lambda case, item: Req(
            "POST", f"/cases/{case.id}/items/{item.id}/unmerge", ok=302, changes=True
        )
    )(*_attached_item(w)),
    ("cases.show", "GET"): lambda w, v: Req(
        "GET", f"/cases/{w.case('dispatched', assist=v == 'assist').id}", changes=False
    ),
    ("cases.claim", "POST"): _case_post("new", "claim"),
    ("cases.unclaim", "POST"): _case_post("claimed", "unclaim"),
    ("cases.dispatch", "POST"): lambda w, v: Req(
        "POST", f"/cases/{w.case('new').id}/dispatch", {"unit_id": w.office.edu.id}, 302, True
    ),
    ("cases.noise", "POST"): _case_post("new", "noise", {"reason": "spam"}),
    ("cases.merge", "POST"): _merge,
    ("cases.close", "POST"): _case_post("answered", "close"),
    ("cases.reopen", "POST"): _case_post("closed", "reopen"),
    ("cases.acknowledge", "POST"): _case_post("dispatched", "acknowledge"),
    ("cases.reply", "POST"): _case_post(
        "acknowledged", "reply", {"body": "您好，已处理。", "submit": "answer"}
    ),
    ("cases.correct", "POST"): _case_post(
        "dispatched", "correct", {"field": "request_type", "value": "投诉"}
    ),
    ("cases.priority", "POST"): _case_post(
        "dispatched", "priority", {"priority": "2", "reason": "涉及安全隐患"}
    ),
    ("imports.index", "GET"): _get("/imports/"),
    ("imports.upload", "POST"): lambda w, v: Req(
        "POST",
        "/imports/",
        {
            "source_id": str(w.office.source.id),
            "file": (io.BytesIO("留言详情\n路灯坏了\n".encode()), "留言.csv"),
        },
        302,
        True,
    ),
    ("imports.mapping", "GET"): lambda w, v: Req(
        "GET", f"/imports/{_csv_batch(w).id}/mapping", changes=False
    ),
    ("imports.mapping", "POST"): lambda w, v: Req(
        "POST",
        f"/imports/{_csv_batch(w).id}/mapping",
        {"map_text": "留言详情", "map_external_id": "留言编号"},
        302,
        True,
    ),
    ("imports.show", "GET"): lambda w, v: Req("GET", f"/imports/{_csv_batch(w).id}"),
    ("imports.status", "GET"): lambda w, v: Req("GET", f"/imports/{_csv_batch(w).id}/status"),
    ("imports.retry", "POST"): lambda w, v: Req(
        "POST", f"/imports/{_failed_batch(w).id}/retry", ok=302, changes=True
    ),
    ("inbox.index", "GET"): _get("/inbox/"),
    ("reminders.my_reminders", "GET"): _get("/reminders"),
    ("reminders.reminder_document", "GET"): lambda w, v: Req(
        "GET", f"/reminders/{_reminder(w, v).id}/document", changes=False
    ),
    ("triage.index", "GET"): _get("/triage/"),
    ("triage.feed", "GET"): _get("/triage/feed?after=0"),
    ("triage.bulk", "POST"): lambda w, v: Req(
        "POST",
        "/triage/bulk",
        {"action": "claim", "case_ids": [str(w.case("new").id)]},
        302,
        True,
    ),
    ("lint_words.index", "GET"): _get("/admin/lint-words"),
    ("lint_words.index", "POST"): lambda w, v: Req(
        "POST", "/admin/lint-words", {"word": f"矩阵词{w.next()}", "kind": "敏感词"}, 302, True
    ),
    ("lint_words.toggle", "POST"): _lint_word,
    ("lint_words.disable_shipped", "POST"): _shipped_word,
    ("lint_words.import_words", "POST"): lambda w, v: Req(
        "POST",
        "/admin/lint-words/import",
        {"file": (io.BytesIO(f"词,类别\n矩阵词{w.next()},敏感词\n".encode()), "词表.csv")},
        302,
        True,
    ),
    ("lint_words.check", "POST"): lambda w, v: Req(
        "POST", "/admin/lint-words/check", {"text": "电话13800138000"}, 200, False
    ),
    ("reports.index", "GET"): _get("/reports/"),
    ("reports.generate", "POST"): lambda w, v: Req(
        "POST",
        "/reports/",
        {
            "kind": "sla",
            "fmt": "xlsx",
            "period": "month",
            "day": "2026-11-15",
            "unit_id": str(w.office.edu.id),
        },
        302,
        True,
    ),
    ("reports.show", "GET"): lambda w, v: Req("GET", f"/reports/{_report(w).id}", changes=False),
    ("reports.status", "GET"): lambda w, v: Req(
        "GET", f"/reports/{_report(w).id}/status", changes=False
    ),
    ("reports.download", "GET"): lambda w, v: Req(
        "GET", f"/reports/{_report(w).id}/download", changes=False
    ),
    ("reports.sla", "GET"): lambda w, v: Req(
        "GET", f"/reports/sla?period=month&day=2026-11-15&unit_id={w.office.edu.id}", changes=False
    ),
    ("reports.cases", "GET"): lambda w, v: Req(
        "GET",
        f"/reports/cases?metric=dispatched&unit_id={w.office.edu.id}"
        "&start=2026-11-01&end=2026-11-30",
        changes=False,
    ),
    ("dashboard.index", "GET"): _get("/dashboard/"),
    ("dashboard.unit", "GET"): lambda w, v: Req(
        "GET", f"/dashboard/unit?unit_id={w.office.edu.id}", changes=False
    ),
    ("dashboard.export", "GET"): lambda w, v: Req(
        "GET",
        f"/dashboard/cases.xlsx?metric=volume&unit_id={w.office.edu.id}&subtree=1"
        "&start=2026-11-01&end=2026-11-30",
        changes=False,
    ),
    ("events.index", "GET"): _get("/events"),
    ("events.index_json", "GET"): _get("/events/feed.json"),
    ("events.show", "GET"): lambda w, v: Req("GET", f"/events/{_event(w, v).id}", changes=False),
    ("events.show_json", "GET"): lambda w, v: Req(
        "GET", f"/events/{_event(w, v).id}.json", changes=False
    ),
    ("events.rename", "POST"): lambda w, v: Req(
        "POST", f"/events/{_event(w, v).id}/rename", {"title": "新标题"}, 302, True
    ),
    ("events.noise", "POST"): lambda w, v: Req(
        "POST", f"/events/{_event(w, v).id}/noise", {"reason": "广告"}, 302, True
    ),
    ("events.reopen", "POST"): lambda w, v: Req(
        "POST", f"/events/{_event(w, v, 'noise').id}/reopen", {}, 302, True
    ),
    ("events.merge", "POST"): lambda w, v: Req(
        "POST",
        f"/events/{_event(w, v).id}/merge",
        {"into_id": str(_event(w, v).id)},
        302,
        True,
    ),
    ("events.move_out", "POST"): _event_move_out,
    ("events.mark_rumour", "POST"): lambda w, v: Req(
        "POST", f"/events/{_event(w, v).id}/rumour", {"title": "网传自来水被污染"}, 302, True
    ),
    ("events.escalate", "POST"): lambda w, v: Req(
        "POST",
        f"/events/{_event(w, v).id}/escalate",
        {"level": "1", "reason": "舆情升温"},
        302,
        True,
    ),
}

# FAQ knowledge base (issue 15): entries belong to a unit; approving, re-confirming and
# retiring need the entry's unit in the user's scope (404 otherwise).
RULES.update(
    {
        "faq.public_index": Rule(None, "public"),
        "faq.kb_index": Rule("faq.view", "none"),
        "faq.queue": Rule("faq.approve", "none"),
        "faq.decide": Rule("faq.approve", "case"),
        "faq.review_list": Rule("faq.approve", "none"),
        "faq.reconfirm": Rule("faq.approve", "case"),
        "faq.retire": Rule("faq.approve", "case"),
        "faq.export": Rule("faq.approve", "none"),
        "faq.import_upload": Rule("faq.approve", "none"),
        "faq.use_answer": Rule("case.draft", "lead"),
        "faq.edit_form": Rule("faq.approve", "case"),
        "faq.update": Rule("faq.approve", "case"),
    }
)


def _faq_entry(w: World, status: str, overdue: bool = False) -> Any:
    from sentinel.models import FaqEntry

    n = w.next()
    entry = FaqEntry(
        question=f"第{n}号问题：路灯坏了找谁修？",
        answer="请拨打城管热线报修。",
        unit_id=w.office.edu.id,
        status=status,
        visibility="internal" if status == "approved" else "draft",
        review_by=(utcnow() - timedelta(days=3)).date() if overdue else None,
    )
    db.session.add(entry)
    db.session.commit()
    return entry


def _faq_post(status: str, action: str, data: dict[str, Any], overdue: bool = False) -> Scenario:
    def build(w: World, variant: str) -> Req:
        entry = _faq_entry(w, status, overdue)
        return Req("POST", f"/kb/{entry.id}/{action}", dict(data), 302, True)

    return build


def _faq_import(w: World, variant: str) -> Req:
    data = f"编号,问题,答案\nM{w.next()},路灯坏了找谁修？,请拨打城管热线报修。\n".encode()
    return Req("POST", "/kb/import", {"file": (io.BytesIO(data), "faq.csv")}, 302, True)


def _faq_edit_form(w: World, variant: str) -> Req:
    entry = _faq_entry(w, "approved")
    return Req("GET", f"/kb/{entry.id}/edit", ok=200, changes=False)


def _faq_update(w: World, variant: str) -> Req:
    entry = _faq_entry(w, "approved")
    data = {
        "question": "路灯坏了找谁修？",
        "answer": "请拨打12319城管热线报修。",
        "unit_id": str(w.office.edu.id),
        "public": "1",
    }
    return Req("POST", f"/kb/{entry.id}/edit", data, 302, True)


def _faq_use(w: World, variant: str) -> Req:
    case = w.case("acknowledged", assist=variant == "assist")
    entry = _faq_entry(w, "approved")
    return Req("POST", f"/cases/{case.id}/faq/{entry.id}/use", {}, 302, True)


SCENARIOS.update(
    {
        ("faq.public_index", "GET"): _get("/faq?q=路灯"),
        ("faq.kb_index", "GET"): _get("/kb?q=路灯"),
        ("faq.queue", "GET"): _get("/kb/queue"),
        ("faq.decide", "POST"): _faq_post(
            "pending", "decide", {"decision": "approve", "visibility": "internal"}
        ),
        ("faq.review_list", "GET"): _get("/kb/review"),
        ("faq.reconfirm", "POST"): _faq_post("approved", "reconfirm", {}, overdue=True),
        ("faq.retire", "POST"): _faq_post("approved", "retire", {}),
        ("faq.export", "GET"): _get("/kb/export"),
        ("faq.import_upload", "POST"): _faq_import,
        ("faq.use_answer", "POST"): _faq_use,
        ("faq.edit_form", "GET"): _faq_edit_form,
        ("faq.update", "POST"): _faq_update,
    }
)

# --------------------------------------------------------------------------- issue 13
# Reply review (services/review.py) and 辟谣 (services/rumours.py): one block, appended.

RULES.update(
    {
        "replies.show": Rule("case.view", "case"),
        "replies.save": Rule("case.draft", "lead"),
        "replies.fix": Rule("case.draft", "lead"),
        "replies.submit_for_review": Rule("case.answer", "lead"),
        "replies.approve": Rule("reply.review", "case"),
        "replies.reject": Rule("reply.review", "case"),
        "replies.tier": Rule("reply.review", "case"),
        "replies.publish": Rule("reply.publish", "case"),
        "replies.correct": Rule("case.draft", "lead"),
        "replies.new": Rule("case.draft", "lead"),
        "replies.queue": Rule("reply.review", "none"),
        "replies.templates_page": Rule("admin.manage", "none"),
        "replies.template_edit": Rule("admin.manage", "none"),
        "rumours.index": Rule("rumour.view", "none"),
        "rumours.show": Rule("rumour.view", "case"),
        "rumours.mark": Rule("rumour.mark", "case"),
        "rumours.verify": Rule("rumour.verify", "lead"),
        "rumours.attachment": Rule("rumour.view", "case"),
        "rumours.clarification": Rule("case.draft", "lead"),
        "rumours.referral": Rule("rumour.mark", "case"),
    }
)

REPLY_TEXT = "您好，您反映的路灯问题已安排维修，预计本周内修复。"


def _reply(w: World, variant: str, stage: str, body: str = REPLY_TEXT) -> Any:
    """An answer of the education bureau at ``stage``: draft, review, approved, final."""
    from sentinel.services import review

    case = w.case("acknowledged", assist=variant == "assist")
    edu = w.actor("edu_handler")
    reply = triage.save_draft(edu, case, body)
    if stage in ("review", "approved", "final"):
        review.submit(edu, reply)
    if stage in ("approved", "final"):
        review.approve(w.actor("reviewer"), reply)
    if stage == "final":
        review.publish(w.actor("duty"), reply, "")
    db.session.commit()
    return reply


def _reply_post(
    stage: str, action: str, data: dict[str, Any] | None = None, body: str = REPLY_TEXT
):
    def build(w: World, variant: str) -> Req:
        reply = _reply(w, variant, stage, body)
        return Req("POST", f"/replies/{reply.id}/{action}", dict(data or {}), 302, True)

    return build


def _template(w: World) -> Any:
    from sentinel.services import reply_templates

    template = reply_templates.save_template(
        w.actor("admin"), None, kind="answer", name=f"模板{w.next()}", body="{留言人}您好！"
    )
    db.session.commit()
    return template


def _rumour(w: World, variant: str, stage: str = "suspected") -> Any:
    from sentinel.services import rumours

    case = w.case("acknowledged", assist=variant == "assist")
    rumour = rumours.mark(w.actor("duty"), case, f"谣言{w.next()}")
    if stage == "verified":
        rumours.verify(
            w.actor("edu_handler"),
            rumour,
            finding="经核实不实",
            source_kind="attachment",
            attachment=("通报.pdf", b"%PDF report"),
        )
    db.session.commit()
    return rumour


SCENARIOS.update(
    {
        ("replies.show", "GET"): lambda w, v: Req(
            "GET", f"/replies/{_reply(w, v, 'review').id}", changes=False
        ),
        ("replies.save", "POST"): _reply_post("draft", "text", {"body": REPLY_TEXT + "谢谢！"}),
        ("replies.fix", "POST"): lambda w, v: (
            lambda reply: Req(
                "POST",
                f"/replies/{reply.id}/fix",
                {"start": reply.body.index("138"), "end": reply.body.index("138") + 11},
                302,
                True,
            )
        )(_reply(w, v, "draft", "您好，请致电13800138000联系经办人。")),
        ("replies.submit_for_review", "POST"): _reply_post("draft", "submit"),
        ("replies.approve", "POST"): _reply_post("review", "approve", {"opinion": "同意"}),
        ("replies.reject", "POST"): _reply_post("review", "reject", {"reasons": "请写明时间"}),
        ("replies.tier", "POST"): _reply_post("review", "tier", {"tier": "C"}),
        ("replies.publish", "POST"): _reply_post("approved", "publish", {"link": ""}),
        ("replies.correct", "POST"): _reply_post("final", "correct"),
        ("replies.new", "POST"): lambda w, v: Req(
            "POST",
            f"/cases/{w.case('acknowledged', assist=v == 'assist').id}/replies",
            {"kind": "answer", "body": REPLY_TEXT},
            302,
            True,
        ),
        ("replies.queue", "GET"): _get("/reviews"),
        ("replies.templates_page", "GET"): _get("/admin/reply-templates"),
        ("replies.templates_page", "POST"): lambda w, v: Req(
            "POST",
            "/admin/reply-templates",
            {"kind": "answer", "name": f"模板{w.next()}", "body": "{留言人}您好！", "active": "1"},
            302,
            True,
        ),
        ("replies.template_edit", "GET"): lambda w, v: Req(
            "GET", f"/admin/reply-templates/{_template(w).id}", changes=False
        ),
        ("replies.template_edit", "POST"): lambda w, v: Req(
            "POST",
            f"/admin/reply-templates/{_template(w).id}",
            {"kind": "answer", "name": "改名", "body": "{留言人}您好！已办理。", "active": "1"},
            302,
            True,
        ),
        ("rumours.index", "GET"): _get("/rumours"),
        ("rumours.show", "GET"): lambda w, v: Req(
            "GET", f"/rumours/{_rumour(w, v).id}", changes=False
        ),
        ("rumours.mark", "POST"): lambda w, v: Req(
            "POST",
            f"/cases/{w.case('dispatched', assist=v == 'assist').id}/rumour",
            {"title": "网传某校食物中毒"},
            302,
            True,
        ),
        ("rumours.verify", "POST"): lambda w, v: Req(
            "POST",
            f"/rumours/{_rumour(w, v).id}/verify",
            {"finding": "不实", "source_kind": "document", "source_title": "通报（2026）1号"},
            302,
            True,
        ),
        ("rumours.attachment", "GET"): lambda w, v: Req(
            "GET", f"/rumours/{_rumour(w, v, 'verified').id}/attachment", changes=False
        ),
        ("rumours.clarification", "POST"): lambda w, v: Req(
            "POST",
            f"/rumours/{_rumour(w, v, 'verified').id}/clarification",
            {"body": "经核实，网传内容不实，请不信谣、不传谣。"},
            302,
            True,
        ),
        ("rumours.referral", "POST"): lambda w, v: Req(
            "POST",
            f"/rumours/{_rumour(w, v).id}/referral",
            {"agency": "police", "reference": "受案号1"},
            302,
            True,
        ),
    }
)


# --------------------------------------------------------------------------- the checks


def _routes(app: Any) -> list[tuple[str, str, str]]:
    return sorted(
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    )


def test_every_route_has_a_rule(app):
    """A new route without a rule (or a rule for a route that is gone) fails here."""
    routes = _routes(app)
    missing_rule = sorted({(e, r) for e, _, r in routes if e not in RULES})
    missing_scenario = [(e, m, r) for e, m, r in routes if (e, m) not in SCENARIOS]
    problems = [
        f"{endpoint} ({path}) has no entry in RULES of tests/test_route_matrix.py: add "
        f"Rule(capability, scope kind) — scope kinds: {', '.join(SCOPES)}"
        for endpoint, path in missing_rule
    ] + [
        f"{endpoint} {method} {path} has no request in SCENARIOS of tests/test_route_matrix.py"
        for endpoint, method, path in missing_scenario
    ]
    endpoints = {e for e, _, _ in routes}
    problems += [f"RULES names {e}, which app.url_map lacks" for e in RULES.keys() - endpoints]
    problems += [
        f"SCENARIOS names {e} {m}, which app.url_map does not route"
        for e, m in SCENARIOS.keys() - {(e, m) for e, m, _ in routes}
    ]
    for endpoint, rule in RULES.items():
        assert rule.scope in SCOPES, f"{endpoint}: unknown scope kind {rule.scope!r}"
        assert rule.capability is None or rule.capability in CAPABILITIES, endpoint
    assert not problems, "\n".join(problems)


def db_state() -> str:
    """A digest of every row of every table (what "nothing changed" compares)."""
    db.session.rollback()  # see what the requests committed
    digest = hashlib.sha256()
    for table in Base.metadata.sorted_tables:
        rows = db.session.execute(select(table)).all()
        digest.update(table.name.encode())
        for row in sorted(repr(tuple(r)) for r in rows):
            digest.update(row.encode())
    db.session.rollback()
    return digest.hexdigest()


@pytest.fixture
def world(office, app):
    w = World(office)
    w.office_upload_dir = app.config["UPLOAD_DIR"]
    return w


def _fresh_globals() -> None:
    """Forget the previous request's ``g``: the test's app context is shared by every
    request, and Flask-Login keeps the current user there (``g._login_user``)."""
    for name in list(vars(g)):
        g.pop(name, None)


def _client(app: Any, username: str | None) -> Any:
    _fresh_globals()
    client = app.test_client()
    if username is not None:
        response = client.post("/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, f"login as {username} failed"
    return client


def _send(client: Any, req: Req) -> Any:
    _fresh_globals()
    data = dict(req.data)
    for key, value in data.items():  # a fresh file object for every send
        if isinstance(value, tuple) and hasattr(value[0], "getvalue"):
            data[key] = (io.BytesIO(value[0].getvalue()), value[1])
    return client.open(req.url, method=req.method, data=data, headers=req.headers)


@pytest.mark.parametrize(("endpoint", "method"), sorted(SCENARIOS))
def test_route_matrix(app, world, endpoint, method):
    """Each subject gets exactly the rule's answer; a refusal changes nothing."""
    rule = RULES[endpoint]
    failures: list[str] = []
    for username, variant in SUBJECTS:
        role = world.office.users[username].role if username else None
        want = expected(rule, role, variant)
        req = SCENARIOS[(endpoint, method)](world, variant)
        client = _client(app, username)
        before = db_state()
        response = _send(client, req)
        changed = db_state() != before
        who = f"{username or 'anonymous'} ({variant})"
        got = response.status_code
        if want == OK:
            if got != req.ok:
                failures.append(f"{who}: allowed, expected {req.ok}, got {got}")
            elif req.changes is True and not changed:
                failures.append(f"{who}: allowed, answered {got} but changed nothing")
            elif req.changes is False and changed:
                failures.append(f"{who}: a read changed the database")
            continue
        if want == "login":
            location = response.headers.get("Location", "")
            if got != 302 or "/login" not in location:
                failures.append(f"{who}: expected a redirect to /login, got {got} {location}")
        elif want == "form":
            if got != 302:
                failures.append(f"{who}: expected a refused form (302), got {got}")
        elif got != want:
            failures.append(f"{who}: expected {want}, got {got}")
        if changed:
            failures.append(f"{who}: refused with {got}, but the database changed")
    assert not failures, f"{method} {endpoint} ({rule}):\n" + "\n".join(failures)
