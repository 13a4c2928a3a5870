"""All models, imported here so Alembic and relationship() see every table."""

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
    EventTerm,
    HeatSample,
)
from sentinel.models.import_batch import ImportBatch
from sentinel.models.item import Item
from sentinel.models.job_run import JobRun
from sentinel.models.neardup import NearDupBand, NearDupSignature
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
    "EventTerm",
    "HeatSample",
    "ImportBatch",
    "Item",
    "JobRun",
    "LabelCorrection",
    "NearDupBand",
    "NearDupSignature",
    "OfficeHours",
    "Reminder",
    "Reply",
    "Source",
    "Unit",
    "User",
    "WorkCalendar",
    "utcnow",
]
