"""ReportArchive: every issued report (留言办理情况 and the periodic reports), kept as filed.

The file is written once under the instance folder and its SHA-256 recorded, so a
download years later is byte-identical to what was filed upward.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.case import Assignment, Case
from sentinel.models.deadline import CaseReturn, DeadlineChange
from sentinel.models.unit import Unit
from sentinel.models.user import User

REPORT_KINDS = {
    "sla": "留言办理情况",
    "daily": "日监测",
    "weekly": "周研判",
    "monthly": "月报",
    "quarterly": "季通报",
    "annual": "年度报告",
}
REPORT_FORMATS = {"xlsx": "Excel (XLSX)", "docx": "Word (DOCX)", "pdf": "PDF"}
REPORT_STATUSES = {
    "pending": "排队中",
    "running": "生成中",
    "ready": "已生成",
    "failed": "生成失败",
}


class ReportArchive(Base):
    __tablename__ = "report_archives"
    __table_args__ = (Index("ix_report_archives_kind_period", "kind", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    fmt: Mapped[str] = mapped_column(String(10))
    # The exact parameters the report was generated from (kind, dates, unit, format).
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(String(200))
    # The root of the unit subtree the report covers; None = the whole tree.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    period_start: Mapped[date]
    period_end: Mapped[date]  # inclusive, local (Asia/Shanghai) date
    status: Mapped[str] = mapped_column(String(20), default="pending")
    progress: Mapped[int] = mapped_column(default=0)
    # True for the reports the RQ cron schedule generates (one per kind and period).
    scheduled: Mapped[bool] = mapped_column(default=False)
    job_run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id"))
    generated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    generated_by_label: Mapped[str] = mapped_column(String(80), default="")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    generated_at: Mapped[datetime | None]
    file_path: Mapped[str | None] = mapped_column(String(255))  # relative to instance/reports
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)

    unit: Mapped[Unit | None] = relationship()
    generated_by: Mapped[User | None] = relationship()

    @property
    def kind_label(self) -> str:
        return REPORT_KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return REPORT_STATUSES.get(self.status, self.status)


# The report's aggregations (services/sla_report.py): each family of figures is one
# range scan on the time column that puts a row in a period.
# Case families read only these columns: index-only range scans on PostgreSQL.
Index(
    "ix_cases_report_answered",
    Case.answered_at,
    Case.unit_id,
    Case.deadline_state,
    Case.status,
    Case.clock_started_at,
    Case.id,
)
Index("ix_cases_report_received", Case.first_item_at, Case.owner_unit_id, Case.status, Case.id)
Index(
    "ix_cases_report_acknowledged",
    Case.acknowledged_at,
    Case.unit_id,
    Case.response_due_at,
    Case.status,
    Case.id,
)
# Lead assignments (dispatch / 签收 counts, first-response times) and answers given after
# the due time (the overdue figure of a past period): partial and covering, so each is an
# index-only range scan over only the rows it can count.
LEAD = "role = 'lead'"
Index(
    "ix_assignments_report_lead_assigned",
    Assignment.assigned_at,
    Assignment.unit_id,
    Assignment.case_id,
    Assignment.id,
    postgresql_where=text(LEAD),
    sqlite_where=text(LEAD),
)
Index(
    "ix_assignments_report_lead_acknowledged",
    Assignment.acknowledged_at,
    Assignment.unit_id,
    Assignment.assigned_at,
    Assignment.case_id,
    Assignment.id,
    postgresql_where=text(LEAD),
    sqlite_where=text(LEAD),
)
ANSWERED_LATE = "answered_at > due_at AND status <> 'merged'"
Index(
    "ix_cases_report_answered_late",
    Case.answered_at,
    Case.due_at,
    Case.closed_at,
    Case.unit_id,
    Case.id,
    postgresql_where=text(ANSWERED_LATE),
    sqlite_where=text(ANSWERED_LATE),
)
# Cases returned twice or more (多次退单, about 1 in 100): read whole for the 退单 family.
PING_PONG = "return_count >= 2"
Index(
    "ix_cases_report_ping_pong",
    Case.id,
    postgresql_where=text(PING_PONG),
    sqlite_where=text(PING_PONG),
)
Index("ix_assignments_role_assigned", Assignment.role, Assignment.assigned_at)
Index("ix_assignments_role_acknowledged", Assignment.role, Assignment.acknowledged_at)
Index("ix_case_returns_returned_at", CaseReturn.returned_at)
Index("ix_deadline_changes_decided", DeadlineChange.status, DeadlineChange.decided_at)
