"""Jobs on items: the same classification, on the interactive or the bulk queue."""

from __future__ import annotations

from sentinel import queues
from sentinel.jobs.registry import job
from sentinel.services import processing


@job(queues.PROCESS_ITEMS, queue=queues.INTERACTIVE, timeout=300, max_attempts=5)
def process_items(item_ids: list[int]) -> dict[str, int]:
    """Classify newly ingested items (idempotent: processed items are skipped)."""
    return processing.process_items(item_ids)


@job(queues.PROCESS_ITEMS_BULK, queue=queues.BULK, timeout=300, max_attempts=5)
def process_items_bulk(item_ids: list[int]) -> dict[str, int]:
    """Classify items of a bulk ingest (large import, reclassify); idempotent."""
    return processing.process_items(item_ids, bulk=True)
