"""Fixtures for the classifiers tests.

One models directory is trained per test session (two versions: a plain one, then one with
officers' corrections), on a documented subset — at most ``LIMIT`` rows of each data set,
chosen by a hash of the text — so the whole suite runs in a few minutes on 2 cores. The
full-data figures come from ``sentinel train`` / ``python -m classifiers train``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from classifiers.bundle import BundleInfo
from classifiers.pipeline import Pipeline, clear_cache, get_pipeline
from classifiers.training import train_all

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data"
GOLD = Path(__file__).parent / "data" / "request_type_gold.csv"
LIMIT = 2500

#: Corrections an officer might make: a topic the shipped taxonomy lacks, and a request type.
CORRECTIONS = [
    {"text": t, "field": "topic", "label": "应急管理"}
    for t in (
        "山洪预警信息什么时候发布，村里应急避难场所在哪里",
        "防汛抢险物资储备不足，应急避难场所长期锁门",
        "台风来临前应急管理局能否提前发布转移通知",
        "地震应急演练流于形式，避难场所设施损坏",
        "森林防火期应急队伍值守不到位",
        "暴雨内涝应急排水泵站没有启动",
        "应急管理部门对危化品仓库检查不到位",
        "防汛应急预案没有公开，村民不知道往哪里转移",
        "山体滑坡隐患点应急监测设备坏了没人修",
        "应急避难场所被占用堆放杂物",
        "汛期应急值班电话一直打不通",
        "应急广播在暴雨时不响，村民没有收到转移通知",
    )
] + [{"text": "表扬A市社保中心窗口工作人员耐心细致", "field": "request_type", "label": "表扬"}]


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with one trained, active bundle (no corrections)."""
    root = tmp_path_factory.mktemp("models")
    train_all(
        root,
        data_dir=DATA_DIR,
        limit=LIMIT,
        progress=False,
        baselines=False,
        activate="always",
        gold_path=GOLD,
    )
    return root


@pytest.fixture(scope="session")
def first_version(models_dir: Path) -> str:
    """The version trained without corrections."""
    from classifiers.bundle import active_version

    version = active_version(models_dir)
    assert version is not None
    return version


@pytest.fixture(scope="session")
def corrected(models_dir: Path, first_version: str) -> BundleInfo:
    """A second version trained with :data:`CORRECTIONS` (activated unconditionally)."""
    info = train_all(
        models_dir,
        data_dir=DATA_DIR,
        limit=LIMIT,
        progress=False,
        baselines=False,
        activate="never",
        extra_rows=CORRECTIONS,
        gold_path=GOLD,
    )
    return info


@pytest.fixture()
def pipeline(models_dir: Path, first_version: str) -> Iterator[Pipeline]:
    """The session bundle's pipeline, with the first version active."""
    from classifiers.bundle import activate

    activate(models_dir, first_version)
    yield get_pipeline(models_dir)
    clear_cache()
