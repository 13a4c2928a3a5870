"""A/B of the FAQ search before and after a change, in one process on the same entries.

    .venv/bin/python bench/faq_ab.py OLD_REPO_DIR [--entries 50000] [--queries 200]

Loads ``classifiers/faq_search.py`` from OLD_REPO_DIR (e.g. a checkout of main) and from
this tree, builds both indexes over the same entries (bench/faq.py's), then runs the same
queries alternately through both, so the machine's load hits both alike. Prints wall and
thread CPU percentiles per side and whether the top 3 agree.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from faq import pct, variant  # noqa: E402
from faq_quality import load  # noqa: E402


def module(path: str, name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old_repo")
    ap.add_argument("--entries", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    old = module(os.path.join(args.old_repo, "classifiers", "faq_search.py"), "faq_search_old")
    new = module(os.path.join(ROOT, "classifiers", "faq_search.py"), "faq_search_new")
    entries, queries = load()
    analysed = [new.analyse(q, a) for _, q, a in entries]
    rows = []
    for i in range(args.entries):
        _key, q, a = entries[i % len(entries)]
        terms = analysed[i % len(entries)]
        k = i // len(entries)
        if k:
            q, a, terms = variant(q, k), variant(a[:600], k), variant(terms, k)
        rows.append((i, q, a, terms))
    indexes = {}
    for label, mod in (("old", old), ("new", new)):
        t0 = time.perf_counter()
        indexes[label] = mod.FaqIndex.build(rows)
        print(f"{label}_build_s={time.perf_counter() - t0:.1f}")
    texts = [t for _, t, split in queries if split == "test"][: args.queries]
    wall: dict[str, list[float]] = {"old": [], "new": []}
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    same = 0
    for text in texts:
        tops = {}
        for label, index in indexes.items():
            c0, t0 = time.thread_time(), time.perf_counter()
            tops[label] = [k for k, _ in index.search(text, 3)]
            wall[label].append((time.perf_counter() - t0) * 1000)
            cpu[label].append((time.thread_time() - c0) * 1000)
        same += tops["old"] == tops["new"]
    print(f"entries={args.entries} queries={len(texts)} load={os.getloadavg()}")
    for label in ("old", "new"):
        print(
            f"{label}_search_p50_ms={pct(wall[label], 50):.1f} "
            f"{label}_search_p95_ms={pct(wall[label], 95):.1f} "
            f"{label}_cpu_p50_ms={pct(cpu[label], 50):.1f} "
            f"{label}_cpu_p95_ms={pct(cpu[label], 95):.1f}"
        )
    print(f"same_top3={same}/{len(texts)}")


if __name__ == "__main__":
    main()
