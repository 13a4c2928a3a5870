"""Benchmark: the whole classification pipeline vs shipped SnowNLP sentiment, one core.

Run from the repository root after training a bundle::

    python bench/classify.py [--models-dir instance/models] [-n 3000]

Prints ``key=value`` lines, among them ``pipeline_items_per_s_per_core``,
``snownlp_items_per_s`` and ``model_load_s``. Texts are real citizen messages
(``data/gov_hot`` and ``data/gov_replies``, 留言详情). Everything runs in this one process
with BLAS threads pinned to 1, so the figures are per core.

``pipeline_vs_snownlp`` compares the two on the same texts: shipped SnowNLP reads the first
``--snownlp-n`` texts (default 300: it manages about 4 a second on a busy core), and the
pipeline is timed again on exactly those (message lengths vary: a rate over the first 300
texts is not a rate over 3,000). ``--snownlp-n 0`` gives SnowNLP all ``-n`` texts.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def gov_messages(limit: int) -> list[str]:
    """Real message bodies from the two government board files, in file order."""
    texts: list[str] = []
    files = ("data/gov_hot/messages_with_votes.csv", "data/gov_replies/messages_with_replies.csv")
    for rel in files:
        with open(ROOT / rel, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                texts.append(row["留言详情"])
                if len(texts) >= limit:
                    return texts
    return texts


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("-n", type=int, default=3000, help="messages for the pipeline")
    ap.add_argument(
        "--snownlp-n",
        type=int,
        default=300,
        help="messages for shipped SnowNLP, 0 = all -n (the pipeline is compared on these)",
    )
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--neardup-n", type=int, default=3000)
    args = ap.parse_args()

    from classifiers.bundle import resolve_models_dir  # light import

    models_dir = resolve_models_dir(args.models_dir)
    texts = gov_messages(args.n)

    t0 = time.perf_counter()
    from classifiers.pipeline import get_pipeline

    pipeline = get_pipeline(models_dir)
    model_load = time.perf_counter() - t0
    pipeline.predict(texts[:8])  # warm-up

    t0 = time.perf_counter()
    for start in range(0, len(texts), args.batch):
        pipeline.predict(texts[start : start + args.batch])
    pipe_rate = len(texts) / (time.perf_counter() - t0)

    # The retrained SnowNLP Bayes model alone, as the pipeline applies it (features included).
    models = pipeline.models
    t0 = time.perf_counter()
    for start in range(0, len(texts), args.batch):
        models.bayes.prob_positive(models.featurizer.transform(texts[start : start + args.batch]))
    bayes_rate = len(texts) / (time.perf_counter() - t0)

    from snownlp import SnowNLP

    sample = texts[: args.snownlp_n] if args.snownlp_n else texts
    SnowNLP(sample[0]).sentiments  # noqa: B018 - warm-up (loads its models)
    t0 = time.perf_counter()
    for text in sample:
        SnowNLP(text).sentiments  # noqa: B018
    snow_rate = len(sample) / (time.perf_counter() - t0)
    if len(sample) == len(texts):
        pipe_sample_rate = pipe_rate
    else:  # the pipeline on exactly SnowNLP's texts, for a like-for-like ratio
        t0 = time.perf_counter()
        for start in range(0, len(sample), args.batch):
            pipeline.predict(sample[start : start + args.batch])
        pipe_sample_rate = len(sample) / (time.perf_counter() - t0)

    from classifiers.neardup import NearDuplicateIndex, evaluate_pairs

    nd_texts = gov_messages(args.neardup_n)
    index = NearDuplicateIndex()
    t0 = time.perf_counter()
    for i, text in enumerate(nd_texts):
        index.query(text)
        index.add(i, text)
    nd_rate = len(nd_texts) / (time.perf_counter() - t0)
    nd = evaluate_pairs(nd_texts)

    print(f"model_version={pipeline.version}")
    print(f"texts={len(texts)} mean_chars={sum(map(len, texts)) / len(texts):.0f}")
    print(f"model_load_s={model_load:.2f}")
    print(f"pipeline_items_per_s_per_core={pipe_rate:.0f}")
    print(f"snownlp_texts={len(sample)} mean_chars={sum(map(len, sample)) / len(sample):.0f}")
    print(f"snownlp_items_per_s={snow_rate:.1f}")
    print(f"pipeline_on_snownlp_texts_items_per_s={pipe_sample_rate:.0f}")
    print(f"retrained_bayes_items_per_s={bayes_rate:.0f}")
    print(f"pipeline_vs_snownlp={pipe_sample_rate / snow_rate:.1f}")
    print(f"neardup_query_add_per_s={nd_rate:.0f}")
    for key, value in nd.items():
        print(f"neardup_{key}={value:.3f}" if value < 10 else f"neardup_{key}={value:.0f}")


if __name__ == "__main__":
    main()
