"""Agreement between the two labelling passes of the request-type gold set.

Run from the repository root::

    python data/labelling/agreement.py            # report
    python data/labelling/agreement.py --disagreements out.txt   # list for adjudication

Reads ``request_type_pass_a.csv`` and ``request_type_pass_b.csv`` (id,label) and prints:
the number of messages both passes labelled, raw agreement, Cohen's kappa (with its
standard error and a 95 % interval), per-class agreement (specific agreement
2·n_ii / (n_i. + n_.i), i.e. how often the passes agree on a class when either used it),
each pass's class counts and the full confusion matrix (rows pass A, columns pass B).
Only the Python standard library is used, so the figure can be checked anywhere.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = ("咨询", "求助", "投诉", "举报", "建议", "表扬", "其他")


def read_pass(path: Path) -> dict[str, str]:
    """``id -> label`` of one pass; refuses unknown labels and repeated ids."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rid, label = row["id"].strip(), row["label"].strip()
            if label not in LABELS:
                raise SystemExit(f"{path.name}: unknown label {label!r} for {rid}")
            if rid in out:
                raise SystemExit(f"{path.name}: id {rid} labelled twice")
            out[rid] = label
    return out


def cohen_kappa(pairs: list[tuple[str, str]]) -> tuple[float, float, float]:
    """Cohen's kappa of label pairs, its large-sample standard error, and p_o.

    The standard error is the Fleiss–Cohen–Everitt (1969) formula for kappa ≠ 0.
    """
    n = len(pairs)
    cells = Counter(pairs)
    row = Counter(a for a, _ in pairs)
    col = Counter(b for _, b in pairs)
    p_o = sum(cells[(k, k)] for k in LABELS) / n
    p_e = sum(row[k] * col[k] for k in LABELS) / (n * n)
    kappa = (p_o - p_e) / (1 - p_e)
    # Fleiss, Cohen & Everitt (1969), variance of kappa under kappa != 0.
    a = sum(cells[(k, k)] / n * (1 - (row[k] / n + col[k] / n) * (1 - kappa)) ** 2 for k in LABELS)
    b = (1 - kappa) ** 2 * sum(
        cells[(i, j)] / n * (col[i] / n + row[j] / n) ** 2 for i in LABELS for j in LABELS if i != j
    )
    c = (kappa - p_e * (1 - kappa)) ** 2
    se = math.sqrt(max(a + b - c, 0.0) / (n * (1 - p_e) ** 2))
    return kappa, se, p_o


def report(a: dict[str, str], b: dict[str, str]) -> str:
    """The agreement report as text."""
    common = sorted(set(a) & set(b))
    pairs = [(a[i], b[i]) for i in common]
    lines = [
        f"pass A labels: {len(a)}; pass B labels: {len(b)}; labelled by both: {len(common)}",
        f"only in A: {len(set(a) - set(b))}; only in B: {len(set(b) - set(a))}",
    ]
    kappa, se, p_o = cohen_kappa(pairs)
    lines += [
        f"raw agreement: {p_o:.3f} ({sum(x == y for x, y in pairs)}/{len(pairs)})",
        f"Cohen's kappa: {kappa:.3f} (SE {se:.3f}; 95 % CI {kappa - 1.96 * se:.3f}"
        f" – {kappa + 1.96 * se:.3f})",
        "",
        "class   A      B      both  specific agreement",
    ]
    row = Counter(x for x, _ in pairs)
    col = Counter(y for _, y in pairs)
    cells = Counter(pairs)
    for k in LABELS:
        denom = row[k] + col[k]
        spec = 2 * cells[(k, k)] / denom if denom else float("nan")
        lines.append(f"{k}    {row[k]:5d}  {col[k]:5d}  {cells[(k, k)]:5d}  {spec:.3f}")
    header = "      " + "".join(f"{k:>6}" for k in LABELS)
    lines += ["", "confusion (rows pass A, columns pass B):", header]
    for i in LABELS:
        lines.append(f"{i}  " + "".join(f"{cells[(i, j)]:6d}" for j in LABELS))
    off = Counter((x, y) for x, y in pairs if x != y)
    lines += ["", "most frequent disagreements (A -> B):"]
    lines += [f"  {x} -> {y}: {n}" for (x, y), n in off.most_common(12)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pass-a", type=Path, default=HERE / "request_type_pass_a.csv")
    parser.add_argument("--pass-b", type=Path, default=HERE / "request_type_pass_b.csv")
    parser.add_argument(
        "--disagreements", type=Path, help="write the disagreeing messages here for re-reading"
    )
    args = parser.parse_args(argv)
    a, b = read_pass(args.pass_a), read_pass(args.pass_b)
    print(report(a, b))
    adjudication = HERE / "adjudication.csv"
    if adjudication.exists():
        with open(adjudication, encoding="utf-8", newline="") as fh:
            final = {r["id"]: r["final"] for r in csv.DictReader(fh)}
        gold = {i: final.get(i, a[i]) for i in a if i in b}
        print("\nagreement of each pass with the adjudicated label:")
        for name, labels in (("pass A", a), ("pass B", b)):
            pairs = [(labels[i], gold[i]) for i in sorted(gold)]
            kappa, _, p_o = cohen_kappa(pairs)
            print(f"  {name}: raw {p_o:.3f}, kappa {kappa:.3f}")
        kept = Counter(
            ("A" if a[i] == f else "") + ("B" if b[i] == f else "") or "neither"
            for i, f in final.items()
        )
        print(
            f"  adjudicated {len(final)}: kept A {kept['A']}, kept B {kept['B']}, "
            f"neither {kept['neither']}"
        )
    if args.disagreements:
        with open(HERE / "request_type_sample.csv", encoding="utf-8", newline="") as fh:
            sample = {r["id"]: r for r in csv.DictReader(fh)}
        with open(args.disagreements, "w", encoding="utf-8") as out:
            for rid in sorted(set(a) & set(b), key=lambda r: (a[r], b[r], r)):
                if a[rid] != b[rid]:
                    r = sample[rid]
                    out.write(f"{rid} | A={a[rid]} B={b[rid]} | {r['subject']} | {r['text']}\n")
        print(f"\ndisagreements written to {args.disagreements}", file=sys.stderr)


if __name__ == "__main__":
    main()
