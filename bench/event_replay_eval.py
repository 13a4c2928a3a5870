"""Score an event replay against hand-labelled events (issue 12's contract).

    sentinel events replay --input FILE --assignments A.jsonl --events E.jsonl
    python bench/event_replay_eval.py A.jsonl E.jsonl [data/labelling/hot_events.csv]

For each labelled event: the replayed event holding most of its messages, the share of its
messages there (must be >= 80 %) and the share of that event's messages that are about it
(must be >= 70 %); then the heat rank of the largest labelled event (must be in the top 10).
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

DEFAULT_LABELS = Path(__file__).resolve().parent.parent / "data" / "labelling" / "hot_events.csv"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    labels_path = Path(argv[2]) if len(argv) > 2 else DEFAULT_LABELS
    with open(argv[0], encoding="utf-8") as fh:
        assigned = {row["id"]: row["event_id"] for row in map(json.loads, fh)}
    with open(argv[1], encoding="utf-8") as fh:
        events = [json.loads(line) for line in fh]
    with open(labels_path, encoding="utf-8") as fh:
        labels = {r["留言编号"]: r["event"] for r in csv.DictReader(fh)}
    size = Counter(e for e in assigned.values() if e is not None)
    by_label: dict[str, list[str]] = defaultdict(list)
    for message_id, label in labels.items():
        by_label[label].append(message_id)
    ranked = [e["event_id"] for e in sorted(events, key=lambda e: -float(e["heat"]))]
    passed = 0
    largest: tuple[int, str, str | None] = (0, "", None)
    for label, ids in sorted(by_label.items(), key=lambda kv: -len(kv[1])):
        counts = Counter(assigned.get(i) for i in ids)
        event_id, n = max(
            ((e, c) for e, c in counts.items() if e is not None),
            key=lambda ec: ec[1],
            default=(None, 0),
        )
        recall = n / len(ids)
        purity = n / size[event_id] if event_id else 0.0
        ok = recall >= 0.8 and purity >= 0.7
        passed += ok
        if len(ids) > largest[0]:
            largest = (len(ids), label, event_id)
        print(
            f"{'PASS' if ok else 'FAIL'} {label:26s} messages={len(ids):3d} "
            f"event={event_id} held={recall:.0%} purity={purity:.0%} event_size={size[event_id]}"
        )
    _, label, event_id = largest
    rank = ranked.index(event_id) + 1 if event_id in ranked else None
    print(f"events_passed={passed}/{len(by_label)}")
    print(f"largest_event={label} heat_rank={rank} (of {len(ranked)} events)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
