"""All models, imported here so Alembic and relationship() see every table."""

from sentinel.models import dashboard as _dashboard_indexes  # noqa: F401  (indexes only)
from sentinel.models.audit import AuditEvent
from sentinel.models.base import Base, utcnow
from sentinel.models.calendar import OfficeHours, WorkCalendar
from sentinel.models.case import Assignment, Case, Reply
from sentinel.models.correction import LabelCorrection
from sentinel.models.deadline import CaseReturn, DeadlineChange, DeadlineRule, Reminder
from sentinel.models.import_batch import ImportBatch
from sentinel.models.item import Item
from sentinel.models.job_run import JobRun
from sentinel.models.neardup import NearDupBand, NearDupSignature
from sentinel.models.report import ReportArchive
from sentinel.models.source import ApiToken, Source
from sentinel.models.unit import Unit
from sentinel.models.user import User

__all__ = [
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "Base",
    "Case",
    "CaseReturn",
    "DeadlineChange",
    "DeadlineRule",
    "ImportBatch",
    "Item",
    "JobRun",
    "LabelCorrection",
    "NearDupBand",
    "NearDupSignature",
    "OfficeHours",
    "Reminder",
    "Reply",
    "ReportArchive",
    "Source",
    "Unit",
    "User",
    "WorkCalendar",
    "utcnow",
]
