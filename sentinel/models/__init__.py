"""All models, imported here so Alembic and relationship() see every table."""

from sentinel.models.audit import AuditEvent
from sentinel.models.base import Base, utcnow
from sentinel.models.calendar import OfficeHours, WorkCalendar
from sentinel.models.case import Assignment, Case, Reply
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
from sentinel.models.alert import Alert, AlertDelivery  # noqa: E402,I001
from sentinel.models.consultation import (  # noqa: E402,I001
    Consultation,
    ConsultationClock,
    ConsultationInvite,
)

__all__ = [
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "Base",
    "Case",
    "CaseReturn",
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
    "Alert",
    "AlertDelivery",
    "Consultation",
    "ConsultationClock",
    "ConsultationInvite",
]
