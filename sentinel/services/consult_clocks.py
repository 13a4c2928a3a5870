"""Response clocks of a consultation (国办发〔2016〕61号), as settings.

Every consultation has the "respond" clock (48 h); a 重大 (major) one also has
"authoritative" (authoritative information, 5 h) and "press" (press conference, 24 h).
Each clock counts either wall-clock hours (as 61号 does: the default) or working hours on
the working-day calendar (office hours of the responsible unit), per the clock's
``CONSULT_<KIND>_BASIS`` setting. A clock is frozen when it starts: a later change of the
settings never moves a running clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from sentinel.models.consultation import CLOCK_KINDS, Consultation, ConsultationClock
from sentinel.services import workcalendar

# Which assessment levels a clock applies to (None: every level, and before assessment).
CLOCK_LEVELS: dict[str, frozenset[str] | None] = {
    "respond": None,
    "authoritative": frozenset({"major"}),
    "press": frozenset({"major"}),
}
BASES = ("wall", "working")


@dataclass(frozen=True)
class ClockSpec:
    kind: str
    hours: float
    basis: str


def spec(kind: str, config: Any = None) -> ClockSpec:
    """The clock's length and basis from the settings (``CONSULT_<KIND>_HOURS/_BASIS``)."""
    config = config if config is not None else current_app.config
    hours = float(config[f"CONSULT_{kind.upper()}_HOURS"])
    basis = str(config[f"CONSULT_{kind.upper()}_BASIS"])
    if basis not in BASES:
        raise RuntimeError(f"SENTINEL_CONSULT_{kind.upper()}_BASIS must be wall or working")
    if hours <= 0:
        raise RuntimeError(f"SENTINEL_CONSULT_{kind.upper()}_HOURS must be positive")
    return ClockSpec(kind, hours, basis)


def applies(kind: str, level: str | None) -> bool:
    """True when the clock runs for a consultation assessed at ``level``."""
    levels = CLOCK_LEVELS[kind]
    return levels is None or (level is not None and level in levels)


def moment_after(start: datetime, hours: float, basis: str, unit_id: int | None) -> datetime:
    """``hours`` after ``start`` on the clock's basis (UTC)."""
    if basis == "wall":
        return start + timedelta(hours=hours)
    periods = workcalendar.office_periods(unit_id)
    moment, _provisional = workcalendar.add_working_hours(start, hours, periods)
    return moment


def due_and_warn(
    start: datetime, clock: ClockSpec, unit_id: int | None, warn_fraction: float
) -> tuple[datetime, datetime]:
    """The clock's deadline and the moment it becomes "approaching" (when
    ``warn_fraction`` of its span is left)."""
    due = moment_after(start, clock.hours, clock.basis, unit_id)
    warn = moment_after(start, clock.hours * (1.0 - warn_fraction), clock.basis, unit_id)
    return due, warn


def sync(consultation: Consultation, now: datetime) -> list[ConsultationClock]:
    """Start the clocks the consultation's level calls for; stop (cancel) unmet 重大-only
    clocks when the level is lowered, and resume them when it is raised again.

    Returns the clocks started now. Flushes nothing (the caller's service does)."""
    from sentinel.extensions import db

    fraction = float(current_app.config["CONSULT_CLOCK_WARN_FRACTION"])
    existing = {c.kind: c for c in consultation.clocks}
    started: list[ConsultationClock] = []
    for kind in CLOCK_KINDS:
        clock = existing.get(kind)
        wanted = applies(kind, consultation.level)
        if clock is None and wanted:
            clock_spec = spec(kind)
            due, warn = due_and_warn(
                consultation.opened_at, clock_spec, consultation.responsible_unit_id, fraction
            )
            clock = ConsultationClock(
                kind=kind,
                basis=clock_spec.basis,
                hours=clock_spec.hours,
                started_at=consultation.opened_at,
                due_at=due,
                warn_at=warn,
            )
            consultation.clocks.append(clock)
            db.session.add(clock)
            started.append(clock)
        elif clock is not None and not wanted and clock.met_at is None:
            if clock.cancelled_at is None:
                clock.cancelled_at = now
        elif clock is not None and wanted and clock.cancelled_at is not None:
            clock.cancelled_at = None
    return started


def nearest(consultation: Consultation) -> ConsultationClock | None:
    """The running clock that runs out first (the board's order)."""
    running = [c for c in consultation.clocks if c.is_running]
    return min(running, key=lambda c: c.due_at) if running else None


def remaining_label(clock: ConsultationClock, now: datetime) -> str:
    """ "剩余 3 小时 20 分" / "已超时 1 小时 5 分" / "已完成"."""
    if clock.met_at is not None:
        return "已按时完成" if clock.met_at <= clock.due_at else "已完成（超时）"
    if clock.cancelled_at is not None:
        return "已取消"
    seconds = int((clock.due_at - now).total_seconds())
    prefix = "剩余" if seconds >= 0 else "已超时"
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = (f"{days} 天 " if days else "") + f"{hours} 小时 {minutes} 分"
    return f"{prefix} {text}"
