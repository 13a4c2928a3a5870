"""Benchmark: FAQ search latency over 50,000 approved entries, on SQLite and PostgreSQL.

    python bench/faq.py [--entries 50000] [--queries 200] [--backend sqlite|postgresql|both]

Fills a scratch database (migrated with ``flask db upgrade``) with ``--entries`` approved
entries and one version row each, then runs ``services.faq.search_ids`` — the search
behind the public page, triage and ``sentinel faq search`` — for real citizen messages
(留言详情 of ``data/gov_replies``, whole messages as queries). Prints ``key=value`` lines:

* ``faq_index_build_s``: the first search after a change (reads the entries, builds the
  in-process index);
* ``faq_search_p50_ms`` / ``faq_search_p95_ms``: per query afterwards (the version check
  against the database included), one process, one thread; ``faq_search_cpu_*``: the
  same in CPU time of the thread (what the search costs, apart from waiting for a core
  on a loaded machine);
* ``faq_edit_p50_ms``: editing one entry through ``services.faq.edit`` and committing;
  ``faq_change_visible_p50/p95_ms``: the first search after such a commit (it applies
  the change to the index); ``faq_search_after_changes_p95_ms``: searches once 20 entries
  changed; ``faq_full_builds``: full builds in the run (1: no rebuild after a change).

Entries: the 2,474 distinct subjects + replies of gov_replies, and variants of them with
other place names and numbers (A市A1区 → C市C7区, …) up to ``--entries``, so the vocabulary
grows as it would with more offices. PostgreSQL: ``SENTINEL_BENCH_PG_URL`` (default
``postgresql://postgres@127.0.0.1:5432/sentinel_bench_faq``), dropped and recreated.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from faq_quality import load  # noqa: E402

PG_URL = os.environ.get(
    "SENTINEL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/sentinel_bench_faq"
)
_PLACE = re.compile(r"([A-Z])(\d*)(市|区|县)")


def variant(text: str, k: int) -> str:
    """The text with its anonymised place names and digits shifted by ``k``."""
    letter = chr(ord("A") + k % 26)

    def place(m: re.Match[str]) -> str:
        return f"{letter}{(int(m.group(2) or 0) + k) % 97}{m.group(3)}"

    text = _PLACE.sub(place, text)
    return re.sub(r"\d+", lambda m: str((int(m.group(0)) + k) % 10000), text)


def fill(app, n: int) -> None:  # type: ignore[no-untyped-def]
    from classifiers.faq_search import analyse
    from sentinel.extensions import db
    from sentinel.models import FaqEntry, FaqVersion

    entries, _ = load()
    # Segmenting is done once per distinct text when entries are written; variants shift
    # the base entry's terms the same way as its text.
    analysed = [analyse(q, a) for _, q, a in entries]
    now = datetime.now(UTC)
    today = now.date()
    rows, versions = [], []
    for i in range(n):
        key, q, a = entries[i % len(entries)]
        terms = analysed[i % len(entries)]
        k = i // len(entries)
        if k:
            q, a, terms = variant(q, k), variant(a[:600], k), variant(terms, k)
        rows.append(
            {
                "id": i + 1,
                "question": q,
                "answer": a,
                "search_terms": terms,
                "visibility": "public" if i % 2 else "internal",
                "status": "approved",
                "valid_from": today,
                "external_ref": f"{key}-{k}",
                "use_count": 0,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        versions.append(
            {
                "entry_id": i + 1,
                "version": 1,
                "question": q,
                "answer": a,
                "visibility": rows[-1]["visibility"],
                "status": "approved",
                "change": "imported",
                "created_at": now,
            }
        )
    with app.app_context():
        for start in range(0, n, 5000):
            db.session.execute(db.insert(FaqEntry), rows[start : start + 5000])
            db.session.execute(db.insert(FaqVersion), versions[start : start + 5000])
        db.session.commit()


def run(url: str, n: int, n_queries: int, label: str) -> None:
    from flask_migrate import upgrade

    from sentinel.app import create_app
    from sentinel.extensions import db
    from sentinel.services import faq

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": tmp,
                "JOBS_MODE": "sync",
                "SECRET_KEY": "bench",
            }
        )
        with app.app_context():
            upgrade()
        t0 = time.perf_counter()
        fill(app, n)
        fill_s = time.perf_counter() - t0
        _, queries = load()
        texts = [t for _, t, split in queries if split == "test"][:n_queries]
        with app.app_context():
            t0 = time.perf_counter()
            faq.search_ids(texts[0], 3, wait=True)
            build_s = time.perf_counter() - t0
            times, cpu = [], []
            for text in texts:
                c0, t0 = time.thread_time(), time.perf_counter()
                ids = faq.search_ids(text, 3)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
                assert ids, "a real message found nothing"
            edits, visible, visible_cpu = change_entries(texts, n)
            times_after = []
            for text in texts:
                t0 = time.perf_counter()
                faq.search_ids(text, 3)
                times_after.append((time.perf_counter() - t0) * 1000)
            builds = faq.stats["builds"]
            db.session.remove()
            db.engine.dispose()
        print(f"backend={label} entries={n} queries={len(times)}")
        print(f"faq_fill_s={fill_s:.1f}")
        print(f"faq_index_build_s={build_s:.1f}")
        print(f"faq_search_p50_ms={pct(times, 50):.1f}")
        print(f"faq_search_p95_ms={pct(times, 95):.1f}")
        print(f"faq_search_cpu_p50_ms={pct(cpu, 50):.1f}")
        print(f"faq_search_cpu_p95_ms={pct(cpu, 95):.1f}")
        print(f"faq_edit_p50_ms={pct(edits, 50):.1f}")
        print(f"faq_change_visible_p50_ms={pct(visible, 50):.1f}")
        print(f"faq_change_visible_p95_ms={pct(visible, 95):.1f}")
        print(f"faq_change_visible_cpu_p50_ms={pct(visible_cpu, 50):.1f}")
        print(f"faq_search_after_changes_p95_ms={pct(times_after, 95):.1f}")
        print(f"faq_full_builds={builds}")


def pct(values: list[float], p: int) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else 0.0


CHANGES = 20


def change_entries(texts: list[str], n: int) -> tuple[list[float], list[float], list[float]]:
    """Edit ``CHANGES`` entries through the service (as the edit page does), committing
    each; returns the edit times and the wall and CPU time of the first search after each
    commit (the version check applying the change included): the change is visible then."""
    from sentinel.auth.permissions import Actor
    from sentinel.extensions import db
    from sentinel.models import FaqEntry
    from sentinel.services import faq

    actor = Actor.system("bench")
    edits, visible, visible_cpu = [], [], []
    for k in range(CHANGES):
        entry = db.session.get(FaqEntry, 1 + (k * 2477) % n)
        assert entry is not None
        t0 = time.perf_counter()
        faq.edit(
            actor,
            entry,
            question=entry.question + "（已更新）",
            answer=entry.answer,
            topic=entry.topic,
            unit_id=entry.unit_id,
            visibility=entry.visibility,
            review_by=entry.review_by,
        )
        db.session.commit()
        edits.append((time.perf_counter() - t0) * 1000)
        c0, t0 = time.thread_time(), time.perf_counter()
        ids = faq.search_ids(texts[k], 3)
        visible.append((time.perf_counter() - t0) * 1000)
        visible_cpu.append((time.thread_time() - c0) * 1000)
        assert ids
        built = faq.current_index()
        assert built is not None and entry.id in built.index.keys[built.n_built :]
    return edits, visible, visible_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/faq.db", args.entries, args.queries, "sqlite")
    if args.backend in ("postgresql", "both"):
        from tests.support import processes

        processes.recreate_database(PG_URL)
        try:
            run(PG_URL, args.entries, args.queries, "postgresql")
        finally:
            processes.recreate_database(PG_URL, create=False)


if __name__ == "__main__":
    main()
