"""Jobs on items."""

from __future__ import annotations

from sentinel.jobs import queues
from sentinel.jobs.registry import job
from sentinel.services import processing


@job("process_items", queue=queues.DEFAULT, timeout=300, max_attempts=5)
def process_items(item_ids: list[int]) -> dict[str, int]:
    """Classify newly ingested items (idempotent: processed items are skipped)."""
    return processing.process_items(item_ids)
