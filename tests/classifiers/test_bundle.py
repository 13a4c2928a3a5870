"""Bundle versions: listing, activation, rollback, and what a process picks up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from classifiers.bundle import (
    BundleError,
    BundleInfo,
    activate,
    active_version,
    list_versions,
    resolve_models_dir,
)
from classifiers.pipeline import clear_cache, get_pipeline
from tests.support.bundles import older_format_copy


def test_bundle_layout_and_meta(models_dir: Path, first_version: str) -> None:
    """A version holds its models, SnowNLP file, word lists and metrics."""
    path = models_dir / first_version
    for name in ("meta.json", "model.joblib", "sentiment.marshal.3", "wordlists/tier_c.txt"):
        assert (path / name).is_file(), name
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    assert meta["version"] == first_version
    assert len(meta["data_hash"]) == 64
    assert meta["trained_at"]
    assert 0 < meta["metrics"]["topic"]["macro_f1"] <= 1


def test_rollback_and_reactivation(
    models_dir: Path, first_version: str, corrected: BundleInfo
) -> None:
    """Versions are listed newest first; activating an older one is the rollback."""
    try:
        versions = [v.version for v in list_versions(models_dir)]
        assert versions[:2] == [corrected.version, first_version]
        activate(models_dir, corrected.version)
        assert get_pipeline(models_dir).version == corrected.version
        activate(models_dir, first_version)  # rollback
        assert active_version(models_dir) == first_version
        assert get_pipeline(models_dir).version == first_version
        assert [v.version for v in list_versions(models_dir) if v.active] == [first_version]
    finally:
        activate(models_dir, first_version)
        clear_cache()


def test_activating_unknown_version_fails(models_dir: Path) -> None:
    """Unknown versions are refused with a Chinese message; ACTIVE is untouched."""
    before = active_version(models_dir)
    with pytest.raises(BundleError, match="模型版本不存在"):
        activate(models_dir, "no-such-version")
    assert active_version(models_dir) == before


def test_models_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Explicit > $SENTINEL_MODELS_DIR > ./instance/models."""
    monkeypatch.delenv("SENTINEL_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_models_dir(None) == tmp_path / "instance" / "models"
    monkeypatch.setenv("SENTINEL_MODELS_DIR", str(tmp_path / "env"))
    assert resolve_models_dir(None) == tmp_path / "env"
    assert resolve_models_dir(tmp_path / "x") == tmp_path / "x"


def test_empty_dir_lists_nothing(tmp_path: Path) -> None:
    """A fresh instance has no versions and no active one."""
    assert list_versions(tmp_path / "missing") == []
    assert active_version(tmp_path) is None


def test_bundle_from_older_code_is_refused_with_a_clear_message(
    models_dir: Path, first_version: str
) -> None:
    """A bundle written by an older feature/bundle format is listed but never loaded:
    activation, loading and the per-process pipeline all say why, in Chinese."""
    from classifiers import LIBRARY_VERSION
    from classifiers.pipeline import Pipeline

    old = older_format_copy(models_dir, first_version, "20000101-000000-oldcode")
    try:
        listed = {v.version: v for v in list_versions(models_dir)}
        assert listed[first_version].compatible
        info = listed[old.name]
        assert not info.compatible and info.to_dict()["compatible"] is False
        assert f"当前程序需要格式 {LIBRARY_VERSION}" in info.incompatibility
        with pytest.raises(BundleError, match=r"旧版程序训练.*sentinel train"):
            activate(models_dir, old.name)
        assert active_version(models_dir) == first_version
        with pytest.raises(BundleError, match="旧版程序训练"):
            Pipeline.load(old)
        # An ACTIVE pointer left by an older deployment: refused at load, not mid-predict.
        (models_dir / "ACTIVE").write_text(old.name + "\n", encoding="utf-8")
        clear_cache()
        with pytest.raises(BundleError, match="旧版程序训练"):
            get_pipeline(models_dir)
    finally:
        activate(models_dir, first_version)
        clear_cache()
        shutil.rmtree(old)
