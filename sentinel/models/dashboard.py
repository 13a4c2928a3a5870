"""Indexes for the dashboards' aggregates (services/dashboard.py).

Each covers every column its query reads, so PostgreSQL answers from the index alone
(index-only scans) instead of visiting a 1,000,000-row heap:

- the period's cases by arrival time, with the labels and units the charts group by;
- the period's answers by answer time, with the unit and on-time state.
"""

from __future__ import annotations

from sqlalchemy import Index

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
Index(
    "ix_cases_dash_answers",
    Case.answered_at,
    Case.unit_id,
    Case.deadline_state,
    Case.status,
)
