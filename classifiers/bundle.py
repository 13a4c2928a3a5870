"""Versioned model bundles under a models directory.

Layout::

    <models_dir>/
      ACTIVE                      the active version (one line)
      <version>/
        meta.json                 version, trained_at, data_hash, metrics, settings
        model.joblib              featurizer and every model
        sentiment.marshal.3       SnowNLP's Bayes sentiment model (SnowNLP's own format)
        wordlists/*.txt           risk words used by this bundle (editable)

A version is written to a temporary directory and renamed into place, so a reader never
sees half a bundle; ``ACTIVE`` is replaced atomically too.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifiers import LIBRARY_VERSION

__all__ = [
    "BundleError",
    "BundleInfo",
    "activate",
    "active_version",
    "check_compatible",
    "list_versions",
    "read_meta",
    "resolve_models_dir",
]

ACTIVE_FILE = "ACTIVE"
META_FILE = "meta.json"
MODEL_FILE = "model.joblib"


class BundleError(Exception):
    """A models directory has no usable bundle, or a version does not exist."""


@dataclass(frozen=True)
class BundleInfo:
    """What ``meta.json`` says about one version."""

    version: str
    path: Path
    trained_at: str
    data_hash: str
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    active: bool = False
    activated: bool = False  # set by train_all: did this run make it the active version?
    note: str = ""
    library_version: str = ""  # the feature/bundle format the version was trained with

    @property
    def compatible(self) -> bool:
        """Whether this code can load the version (same feature and bundle format)."""
        return self.library_version == LIBRARY_VERSION

    @property
    def incompatibility(self) -> str:
        """Why the version cannot be used (Chinese, for CLI and admin pages), or ``""``."""
        if self.compatible:
            return ""
        return (
            f"模型版本 {self.version} 由旧版程序训练（模型格式 {self.library_version or '未知'}，"
            f"当前程序需要格式 {LIBRARY_VERSION}），不能使用；请运行 sentinel train 重新训练"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for an admin page or the API)."""
        return {
            "version": self.version,
            "path": str(self.path),
            "trained_at": self.trained_at,
            "data_hash": self.data_hash,
            "metrics": self.metrics,
            "settings": self.settings,
            "active": self.active,
            "note": self.note,
            "library_version": self.library_version,
            "compatible": self.compatible,
        }


def resolve_models_dir(models_dir: str | Path | None = None) -> Path:
    """``models_dir``, else ``$SENTINEL_MODELS_DIR``, else ``instance/models`` under the cwd."""
    if models_dir:
        return Path(models_dir)
    env = os.environ.get("SENTINEL_MODELS_DIR")
    return Path(env) if env else Path.cwd() / "instance" / "models"


def read_meta(models_dir: str | Path, version: str) -> BundleInfo:
    """Read one version's ``meta.json``."""
    path = Path(models_dir) / version
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"模型版本不存在：{version}") from exc
    return BundleInfo(
        version=meta["version"],
        path=path,
        trained_at=meta.get("trained_at", ""),
        data_hash=meta.get("data_hash", ""),
        metrics=meta.get("metrics", {}),
        settings=meta.get("settings", {}),
        active=version == active_version(models_dir),
        note=meta.get("note", ""),
        library_version=str(meta.get("library_version", "")),
    )


def check_compatible(info: BundleInfo) -> BundleInfo:
    """Return ``info``, or raise :class:`BundleError` when this code cannot load it.

    A bundle pickles the feature extractor and the fitted models; code that changed how
    features are cut would silently mis-read an older bundle, so it is refused by its
    recorded format instead (``LIBRARY_VERSION``, written by training).
    """
    if not info.compatible:
        raise BundleError(info.incompatibility)
    return info


def list_versions(models_dir: str | Path) -> list[BundleInfo]:
    """All complete versions, newest first (by trained_at)."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    out = [
        read_meta(root, p.name)
        for p in root.iterdir()
        if p.is_dir() and (p / META_FILE).is_file() and (p / MODEL_FILE).is_file()
    ]
    return sorted(out, key=lambda b: (b.trained_at, b.version), reverse=True)


def active_version(models_dir: str | Path) -> str | None:
    """The active version, or ``None`` when nothing has been activated yet."""
    try:
        version = (Path(models_dir) / ACTIVE_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version or None


def activate(models_dir: str | Path, version: str) -> BundleInfo:
    """Make ``version`` the active bundle (also the rollback operation).

    Processes pick the change up on their next :func:`classifiers.pipeline.get_pipeline`.
    A version trained by an older code version is refused (:func:`check_compatible`).
    """
    root = Path(models_dir)
    if not ((root / version / META_FILE).is_file() and (root / version / MODEL_FILE).is_file()):
        raise BundleError(f"模型版本不存在或不完整：{version}")
    check_compatible(read_meta(root, version))
    _atomic_write(root / ACTIVE_FILE, version + "\n")
    return read_meta(root, version)


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` into a bundle directory."""
    (path / META_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8"
    )


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
