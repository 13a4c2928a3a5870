"""The RQ queue names, in one place, and the order a worker serves them in."""

from __future__ import annotations

MAINTENANCE = "maintenance"  # periodic work: recovery sweep, deadline sweep, retrain
DEFAULT = "default"  # item processing
IMPORTS = "imports"  # file imports (long)

# A worker takes the first non-empty queue in this order. Periodic work comes first so a
# backlog elsewhere never delays the recovery or deadline sweep by more than the job a
# worker is busy with; the standard set-up also runs a worker for MAINTENANCE alone.
ORDER: tuple[str, ...] = (MAINTENANCE, DEFAULT, IMPORTS)


def ordered(names: set[str] | list[str] | tuple[str, ...]) -> list[str]:
    """``names`` in serving order: known queues by ``ORDER``, then any others by name."""
    known = [q for q in ORDER if q in names]
    return known + sorted(set(names) - set(ORDER))
