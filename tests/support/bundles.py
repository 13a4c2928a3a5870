"""Model bundles for tests that need one an older code version wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def older_format_copy(models_dir: Path, version: str, name: str) -> Path:
    """Copy bundle ``version`` to ``name`` with ``meta.json`` saying format "0" trained it."""
    target = Path(models_dir) / name
    shutil.copytree(Path(models_dir) / version, target)
    meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
    meta.update(version=name, library_version="0")
    (target / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return target
