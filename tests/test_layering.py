"""Layering rules that a grep can check: services flush, their callers commit."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parent.parent / "sentinel" / "services"

# Services that still commit by themselves, each with the change that ends it. Empty: the
# last one (imports.py) now offers steps that flush, and jobs/imports.py commits after each.
# A new entry needs a reason as good as that one was (a loop that must commit per step
# belongs in its job, not here), and goes as soon as the reason does.
STILL_COMMITTING: set[str] = set()


def _commit_lines(source: str) -> list[int]:
    tree = ast.parse(source)
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
    ]


def _commits(path: Path) -> list[int]:
    return _commit_lines(path.read_text(encoding="utf-8"))


def test_the_check_finds_commits():
    # The two tests below pass vacuously if the check finds nothing.
    source = "def f(s):\n    db.session.flush()\n    db.session.commit()\n    s.commit()\n"
    assert _commit_lines(source) == [3, 4]
    assert list(SERVICES.glob("*.py")), SERVICES


def test_services_do_not_commit():
    offenders = {
        p.name: lines
        for p in sorted(SERVICES.glob("*.py"))
        if p.name not in STILL_COMMITTING and (lines := _commits(p))
    }
    assert offenders == {}, f"services must flush and leave the commit to the caller: {offenders}"


def test_the_exceptions_are_still_needed():
    # An entry whose module no longer commits (or no longer exists) must be removed; with
    # the set empty this guards the next entry, if one is ever added.
    stale = {
        name
        for name in STILL_COMMITTING
        if not (SERVICES / name).exists() or not _commits(SERVICES / name)
    }
    assert stale == set(), f"remove from STILL_COMMITTING (no longer commits): {sorted(stale)}"
