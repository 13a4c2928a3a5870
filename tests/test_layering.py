"""Layering rules that a grep can check: services flush, their callers commit."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parent.parent / "sentinel" / "services"

# Services that still commit by themselves, each with the change that ends it. Empty this
# as they go; a new entry needs a reason as good as these.
STILL_COMMITTING = {
    # run_batch commits per chunk so a retried import resumes; being reworked in the
    # "verbatim" work, after which its driver moves into jobs/imports.py.
    "imports.py",
}


def _commits(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
    ]


def test_services_do_not_commit():
    offenders = {
        p.name: lines
        for p in sorted(SERVICES.glob("*.py"))
        if p.name not in STILL_COMMITTING and (lines := _commits(p))
    }
    assert offenders == {}, f"services must flush and leave the commit to the caller: {offenders}"


def test_the_exceptions_are_still_needed():
    # An entry whose module no longer commits (or no longer exists) must be removed.
    stale = {
        name
        for name in STILL_COMMITTING
        if not (SERVICES / name).exists() or not _commits(SERVICES / name)
    }
    assert stale == set(), f"remove from STILL_COMMITTING (no longer commits): {sorted(stale)}"
