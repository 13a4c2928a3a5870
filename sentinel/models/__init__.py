"""All models, imported here so Alembic and relationship() see every table."""

from sentinel.models import dashboard as _dashboard_indexes  # noqa: F401  (indexes only)
from sentinel.models.alert import Alert, AlertDelivery
from sentinel.models.audit import AuditEvent
from sentinel.models.base import Base, utcnow
from sentinel.models.calendar import OfficeHours, WorkCalendar
from sentinel.models.case import Assignment, Case, Reply
from sentinel.models.consultation import (
    Consultation,
    ConsultationClock,
    ConsultationInvite,
)
from sentinel.models.correction import LabelCorrection
from sentinel.models.deadline import CaseReturn, DeadlineChange, DeadlineRule, Reminder
from sentinel.models.event import (
    Event,
    EventDetached,
    EventEscalation,
    EventItem,
    EventPending,
    EventTerm,
    HeatSample,
)
from sentinel.models.faq import FaqEntry, FaqSource, FaqUse, FaqVersion
from sentinel.models.import_batch import ImportBatch
from sentinel.models.item import Item
from sentinel.models.job_run import JobRun
from sentinel.models.lint_word import LintWord
from sentinel.models.neardup import NearDupBand, NearDupSignature
from sentinel.models.report import ReportArchive
from sentinel.models.review import (
    ReplyTemplate,
    ReplyVersion,
    ReviewStep,
    Rumour,
    RumourCase,
    RumourDelivery,
    RumourReferral,
    RumourSpread,
)
from sentinel.models.source import ApiToken, Source
from sentinel.models.unit import Unit
from sentinel.models.user import User

__all__ = [
    "Alert",
    "AlertDelivery",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "Base",
    "Case",
    "CaseReturn",
    "Consultation",
    "ConsultationClock",
    "ConsultationInvite",
    "DeadlineChange",
    "DeadlineRule",
    "Event",
    "EventDetached",
    "EventEscalation",
    "EventItem",
    "EventPending",
    "EventTerm",
    "FaqEntry",
    "FaqSource",
    "FaqUse",
    "FaqVersion",
    "HeatSample",
    "ImportBatch",
    "Item",
    "JobRun",
    "LabelCorrection",
    "LintWord",
    "NearDupBand",
    "NearDupSignature",
    "OfficeHours",
    "Reminder",
    "Reply",
    "ReplyTemplate",
    "ReplyVersion",
    "ReportArchive",
    "ReviewStep",
    "Rumour",
    "RumourCase",
    "RumourDelivery",
    "RumourReferral",
    "RumourSpread",
    "Source",
    "Unit",
    "User",
    "WorkCalendar",
    "utcnow",
]
