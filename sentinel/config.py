"""Configuration: defaults, then SENTINEL_* environment variables, then a test mapping."""

from __future__ import annotations

import os
import string
from typing import Any, ClassVar


class DefaultConfig:
    """Defaults for an embedded, single-machine office install.

    Every value can be overridden with an environment variable of the same name
    prefixed by ``SENTINEL_`` (for example ``SENTINEL_REDIS_URL``). Values are parsed
    as JSON when possible, so ``SENTINEL_INGEST_MAX_BATCH=500`` is an int.
    """

    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None  # default: SQLite file in the instance folder
    REDIS_URL: str | None = None  # unset: jobs run in-process
    # "rq" (Redis), "thread" (in-process background thread) or "sync" (inline, for tests).
    JOBS_MODE: str | None = None
    TIMEZONE = "Asia/Shanghai"

    # Ingest limits: a batch of up to 1,000 items, a body of at most 8 MiB.
    INGEST_MAX_BATCH = 1000
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    # File import: uploads larger than this are refused with a clear message.
    IMPORT_MAX_BYTES = 50 * 1024 * 1024
    IMPORT_MAX_ROWS = 200_000
    # An import "running" with no chunk committed for this long has lost its worker: the
    # job's retry may take it over, and the page offers 重试.
    IMPORT_STALL_SECONDS = 600
    # A message dated more than this after its time of receipt is flagged as dated in the
    # future (clocks of channels and office PCs drift a little; minutes, not hours).
    INGEST_FUTURE_SKEW_SECONDS = 300

    # Login throttling per client IP (Flask-Limiter syntax). Only failed logins count, so
    # an office behind one NAT address is never locked out by its own successful logins.
    LOGIN_RATE_LIMIT = "10 per minute"
    # Per-account lockout: this many failed passwords within the window lock the account
    # for LOGIN_LOCKOUT_MINUTES (an administrator can unlock it earlier).
    LOGIN_LOCKOUT_THRESHOLD = 5
    LOGIN_LOCKOUT_WINDOW_MINUTES = 15
    LOGIN_LOCKOUT_MINUTES = 15
    # Password policy: minimum length; a password may never equal the username.
    PASSWORD_MIN_LENGTH = 8
    # Sessions end after this many minutes without activity, and in any case this many
    # hours after login.
    SESSION_IDLE_MINUTES = 30
    SESSION_MAX_HOURS = 12
    # Jobs. With RQ a started job whose worker stopped heartbeating is run again at the next
    # recovery sweep (every 30 s); attempts are each job's own ``max_attempts``.
    # How long a delivered-but-not-started run may sit before the sweep delivers it again;
    # in the in-process modes (no heartbeat) also how long a started run may go unfinished
    # before it is presumed lost — never less than the job's own timeout there.
    JOB_STALE_AFTER_S = 300
    # Workers and the cron scheduler heartbeat every HEARTBEAT_S; one silent for
    # HEARTBEAT_STALE_AFTER_S is dead: its job runs again and `sentinel health` fails.
    HEARTBEAT_S = 5
    HEARTBEAT_STALE_AFTER_S = 20
    # `sentinel health` fails when the oldest job waiting on a queue is older than this.
    QUEUE_MAX_WAIT_S = 300
    # Watchdog limits, shared by `sentinel health` and the admin banner: a periodic job whose
    # last success is older than its limit is late.
    RECOVERY_STALE_AFTER_S = 300
    # Classification. Topic confidence below this marks a case "needs a person"
    # (None: the bundle's own calibrated default).
    TOPIC_THRESHOLD: float | None = None
    # Request type: when the top two types are closer than this (probability) and carry
    # different deadlines, the case says so and needs a person (None: the bundle's 0.15).
    REQUEST_TYPE_MARGIN: float | None = None
    # Rumour suspicion from which a case is raised to "important" in the queue.
    RUMOUR_PRIORITY_THRESHOLD = 0.8
    # Near-duplicates (MinHash over character shingles): attach at or above, suggest
    # between the two thresholds; compare with open cases of the last N days.
    NEARDUP_ATTACH_THRESHOLD = 0.8
    NEARDUP_SUGGEST_THRESHOLD = 0.5
    NEARDUP_WINDOW_DAYS = 30
    # No silent merges (issue 10): a new item attaches to an existing case automatically
    # (identical text or near-duplicate) only when that case is open, owned by the same
    # unit and its first item is at most this many days from the new item; otherwise a new
    # case is opened and linked as a possible duplicate for a person to merge.
    AUTO_ATTACH_WINDOW_DAYS = 7
    # Retrain with officers' corrections as a periodic job (off by default).
    RETRAIN_ENABLED = False
    # Triage queue page size.
    TRIAGE_PAGE_SIZE = 50
    # Trust X-Forwarded-For from this many proxies (0: use the socket address).
    PROXY_FIX_HOPS = 0
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Send the session cookie over HTTPS only. Off for the plain-HTTP demo; turn it on
    # (SENTINEL_SESSION_COOKIE_SECURE=true) whenever the site is served over HTTPS.
    SESSION_COOKIE_SECURE = False
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Deadlines (issue 6). Office hours for hour-based clocks, unless a unit sets its own.
    OFFICE_HOURS = "08:30-12:00,13:30-17:30"
    # What the asker is told when an extension (延期) or pause (暂停) is approved: public
    # wording only ({action} 延长/暂停, {days}, {due_date}); the unit's internal reason is
    # never part of it. The draft it gives is editable before review.
    DEADLINE_NOTICE_TEMPLATE = (
        "您好，您反映的问题正在办理中。经审批，办理时限{action} {days} 个工作日，"
        "预计于 {due_date} 前答复，感谢您的理解。"
    )
    # Reminder ladder (DESIGN §4): 催办 at T-1 working day, 《催办通知书》 at T+1, 通报 at T+5.
    REMINDER_DUE_SOON_DAYS = 1
    REMINDER_NOTICE_AFTER_DAYS = 1
    REMINDER_REPORT_AFTER_DAYS = 5
    # Watchdog: alert when the deadline sweep has not succeeded for this long (the banner
    # and `sentinel health` both read it).
    SWEEP_STALE_AFTER_S = 600
    RETRAIN_STALE_AFTER_S = 3 * 24 * 3600
    NEARDUP_STALE_AFTER_S = 3 * 3600  # the near-duplicate index upkeep (every 10 minutes)
    # Per sweep: reminders delivered, and 《催办通知书》 documents written (the rest wait).
    SWEEP_DELIVERY_BATCH = 500
    SWEEP_MAX_DOCUMENTS = 50
    # E-mail for reminders; unset SMTP_HOST: in-app reminders only.
    SMTP_HOST: str | None = None
    SMTP_PORT = 25
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS = False
    SMTP_FROM = "sentinel@localhost"
    SMTP_TIMEOUT = 10
    # Reply review (先审后发, issue 13): review levels required per risk tier (A 普通,
    # B 重要, C 敏感) as "tier:levels" pairs, and the tiers whose last level (终审) must be
    # a leader's.
    REVIEW_LEVELS = "A:1,B:2,C:3"
    REVIEW_LEADER_TIERS = "C"
    # The tier a rumour clarification (辟谣) is reviewed at, at the least.
    RUMOUR_REVIEW_TIER = "C"
    # Re-spread: a new item at or above this MinHash similarity to a clarified rumour.
    RUMOUR_RESPREAD_THRESHOLD = 0.5
    # The authoritative source uploaded with a rumour's verification (a scan, a PDF).
    RUMOUR_ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024
    # Similar past answers shown while drafting: how many, and the lowest cosine shown.
    SIMILAR_ANSWERS_COUNT = 5
    SIMILAR_ANSWERS_MIN_SCORE = 0.2
    # Pre-publish lint (issue 13): links and e-mail addresses are allowed only on these
    # domains and their subdomains; everything else is a finding. JSON list in the env:
    # SENTINEL_LINT_ALLOWED_DOMAINS='["gov.cn", "example.org.cn"]'.
    LINT_ALLOWED_DOMAINS: tuple[str, ...] | list[str] = ("gov.cn",)
    # Word-list CSV uploads on the 错敏词 page.
    LINT_WORDS_MAX_BYTES = 2 * 1024 * 1024
    # Reports (issue 14): the issuing office printed on reports of the whole tree, and the
    # watchdog limit of the hourly scheduled-reports job.
    REPORT_OFFICE_NAME = "政务新媒体办公室"
    REPORTS_STALE_AFTER_S = 3 * 3600
    # FAQ knowledge base (咨询问答库, services/faq.py): an approved entry is re-confirmed by
    # its unit after this many days; overdue units are reminded every N days; a suggestion
    # whose question (or answer) is this similar to an entry updates it instead.
    FAQ_REVIEW_DAYS = 365
    FAQ_REMIND_EVERY_DAYS = 7
    FAQ_DUPLICATE_THRESHOLD = 0.6
    FAQ_STALE_AFTER_S = 3 * 24 * 3600  # the daily review reminder
    # The FAQ search index (services/faq.py, "the search index"): changes are applied
    # entry by entry with the statistics of the last full build; a full build runs in a
    # background thread once this many entries (or this share of the built ones) changed,
    # or the build is this old. Up to FAQ_INDEX_MAX_CHANGES changes are applied at a
    # search; more at once wait for that build. A process without an index builds it in
    # the request only for a knowledge base of at most FAQ_INDEX_INLINE_MAX entries.
    FAQ_INDEX_REFRESH_CHANGES = 500
    FAQ_INDEX_REFRESH_SHARE = 0.02
    FAQ_INDEX_REFRESH_AFTER_S = 6 * 3600
    FAQ_INDEX_MAX_CHANGES = 2000
    FAQ_INDEX_INLINE_MAX = 2000
    # The public FAQ page (no login): requests per client address.
    FAQ_PUBLIC_RATE_LIMIT = "30 per minute"

    # Events (热点/舆情事件, issue 12). An item joins the most similar event whose last item
    # is at most EVENT_WINDOW_DAYS older when the similarity reaches the threshold; an event
    # quiet for longer (up to EVENT_LONG_WINDOW_DAYS: a matter raised again months later)
    # only above the stricter long threshold.
    EVENT_SIMILARITY_THRESHOLD = 0.3
    EVENT_WINDOW_DAYS = 30
    EVENT_LONG_SIMILARITY_THRESHOLD = 0.45
    EVENT_LONG_WINDOW_DAYS = 365
    # Heat = sum of weight x component (services/event_heat.py); escalation levels 1 一般,
    # 2 较大, 3 重大 at these heats (ascending), each once per event.
    EVENT_HEAT_WEIGHTS: ClassVar[dict[str, float]] = {
        "volume": 6.0,
        "growth": 6.0,
        "askers": 6.0,
        "sources": 4.0,
        "engagement": 2.0,
        "negative": 8.0,
        "risk": 10.0,
        "rumour": 10.0,
    }
    EVENT_ESCALATION_THRESHOLDS: tuple[float, ...] = (60.0, 80.0, 100.0)
    # A heat-curve point at most this often per event (and whenever heat moves by >= 10 %).
    EVENT_HEAT_SAMPLE_S = 300
    EVENT_HEAT_STALE_AFTER_S = 1800  # the periodic heat refresh (every 5 minutes)

    # Escalation alerts and 会商 (issue 12, services/alerts.py, services/consultations.py).
    # Enterprise chat robot for alerts: its webhook URL and format (wecom, dingtalk or
    # feishu); unset URL: no webhook. The secret signs DingTalk/Feishu "加签" robots.
    ALERT_WEBHOOK_URL: str | None = None
    ALERT_WEBHOOK_FORMAT = "wecom"
    ALERT_WEBHOOK_SECRET: str | None = None
    ALERT_WEBHOOK_TIMEOUT = 5
    # E-mail alerts go to the users who may see the event (needs SMTP_HOST).
    ALERT_EMAIL_ENABLED = True
    # A failed delivery is retried after RETRY_BASE_S, then doubling up to RETRY_MAX_S,
    # until MAX_ATTEMPTS; then it stays failed and is listed on the alerts admin page.
    ALERT_RETRY_BASE_S = 30
    ALERT_RETRY_MAX_S = 1800
    ALERT_MAX_ATTEMPTS = 6
    # How often the page polls for new alerts and the leaders' board refreshes (seconds).
    ALERT_POLL_S = 5
    BOARD_REFRESH_S = 30
    ALERT_STALE_AFTER_S = 900  # watchdog for the retry / clock job (every minute)
    # Response clocks, 国办发〔2016〕61号: respond within 48 h; for 重大 (major) incidents
    # authoritative information within 5 h and a press conference within 24 h. Basis per
    # clock: "wall" (calendar hours, as 61号 counts) or "working" (office hours on the
    # working-day calendar, services/workcalendar.py).
    CONSULT_RESPOND_HOURS = 48
    CONSULT_RESPOND_BASIS = "wall"
    CONSULT_AUTHORITATIVE_HOURS = 5
    CONSULT_AUTHORITATIVE_BASIS = "wall"
    CONSULT_PRESS_HOURS = 24
    CONSULT_PRESS_BASIS = "wall"
    # A clock is "approaching" once this share of its span is left (owners are alerted).
    CONSULT_CLOCK_WARN_FRACTION = 0.2
    # 谁主管谁负责: topic → owning unit name, overriding what dispatch history suggests.
    CONSULT_TOPIC_UNITS: dict[str, str] = {}  # noqa: RUF012 (read-only; env gives JSON)


# The placeholders DEADLINE_NOTICE_TEMPLATE may use (services/deadline_changes.py).
NOTICE_FIELDS = frozenset({"action", "days", "due_date"})


def load_config(app: Any, test_config: dict[str, Any] | None) -> None:
    """Fill ``app.config``: defaults → ``SENTINEL_*`` env → ``test_config``; then validate."""
    app.config.from_object(DefaultConfig)
    app.config.from_prefixed_env("SENTINEL")
    if test_config:
        app.config.update(test_config)

    cfg = app.config
    if not cfg.get("DATABASE_URL"):
        cfg["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "sentinel.db")
    cfg["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(cfg["DATABASE_URL"])
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(cfg["SQLALCHEMY_DATABASE_URI"]))
    if not cfg.get("JOBS_MODE"):
        cfg["JOBS_MODE"] = "rq" if cfg.get("REDIS_URL") else "thread"
    if cfg["JOBS_MODE"] not in {"rq", "thread", "sync"}:
        raise RuntimeError(
            f"SENTINEL_JOBS_MODE must be rq, thread or sync, not {cfg['JOBS_MODE']!r}"
        )
    if cfg["JOBS_MODE"] == "rq" and not cfg.get("REDIS_URL"):
        raise RuntimeError("SENTINEL_JOBS_MODE=rq needs SENTINEL_REDIS_URL")
    fields = {f for _, f, _, _ in string.Formatter().parse(cfg["DEADLINE_NOTICE_TEMPLATE"]) if f}
    if not fields <= NOTICE_FIELDS:
        raise RuntimeError(
            "SENTINEL_DEADLINE_NOTICE_TEMPLATE may use only "
            + ", ".join("{" + f + "}" for f in sorted(NOTICE_FIELDS))
        )
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _instance_secret(app.instance_path)
    cfg.setdefault("MODELS_DIR", os.path.join(app.instance_path, "models"))
    cfg.setdefault("UPLOAD_DIR", os.path.join(app.instance_path, "uploads"))


def normalise_database_url(url: str) -> str:
    """Accept a plain ``postgresql://`` URL and use the psycopg 3 driver for it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine_options(uri: str) -> dict[str, Any]:
    if uri.startswith("sqlite"):
        # Web threads and the in-process job thread share one file: wait for locks.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}


def _instance_secret(instance_path: str) -> str:
    """A per-install random secret, created once, so a demo needs no setup."""
    import secrets

    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    with open(path) as fh:
        return fh.read().strip()
