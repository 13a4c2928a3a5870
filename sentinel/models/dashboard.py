"""Indexes for the dashboards' aggregates (services/dashboard.py).

Each covers every column its query reads, so PostgreSQL answers from the index alone
(index-only scans) instead of visiting a 1,000,000-row heap:

- the period's cases by arrival time, with the labels and units the charts group by
  (answers use the report's ``ix_cases_report_answered``);
- cases still open (neither answered nor closed), by due time: the overdue figure
  (``sla_report._overdue_rows``) reads only these, not every case ever past due;
  and closing time, for the cases closed unanswered after an earlier period's cut-off.
"""

from __future__ import annotations

from sqlalchemy import Index, text

from sentinel.models.case import Case

Index(
    "ix_cases_dash_arrivals",
    Case.first_item_at,
    Case.status,
    Case.topic,
    Case.sentiment,
    Case.unit_id,
    Case.owner_unit_id,
)
OPEN_NOT_MERGED = "answered_at IS NULL AND closed_at IS NULL AND status <> 'merged'"
Index(
    "ix_cases_open_due",
    Case.due_at,
    Case.unit_id,
    Case.id,
    postgresql_where=text(OPEN_NOT_MERGED),
    sqlite_where=text(OPEN_NOT_MERGED),
)
Index(
    "ix_cases_dash_closed",
    Case.closed_at,
    Case.answered_at,
    Case.due_at,
    Case.unit_id,
    Case.status,
    Case.id,
)
