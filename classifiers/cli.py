"""Click commands: ``train``, ``classify``, ``model-versions``, ``model-activate``.

The spine registers them into the ``sentinel`` group; they also run standalone as
``python -m classifiers <command>``. The bundle directory is ``--models-dir``, else
``$SENTINEL_MODELS_DIR``, else ``instance/models`` under the current directory — or what a
``models_dir_provider`` passed to :func:`make_train_command` / :func:`make_classify_command`
returns (the Flask side passes the instance folder's ``models`` directory).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from classifiers.bundle import BundleError, list_versions, resolve_models_dir
from classifiers.bundle import activate as activate_version

__all__ = [
    "activate_command",
    "classify_command",
    "default_data_dir",
    "make_classify_command",
    "make_train_command",
    "read_corrections",
    "train_command",
    "versions_command",
]

ModelsDirProvider = Callable[[], str | Path]
CorrectionsProvider = Callable[[], Iterable[Mapping[str, Any]]]

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """``$SENTINEL_DATA_DIR``, else ``./data`` if present, else the repository's ``data/``."""
    import os

    env = os.environ.get("SENTINEL_DATA_DIR")
    if env:
        return Path(env)
    local = Path.cwd() / "data"
    if (local / "gov_topic").is_dir():
        return local
    return _PACKAGE_ROOT / "data"


def _default_gold() -> Path | None:
    """The adjudicated gold set (``data/labelling``), else the old 230-row test set."""
    for path in (
        _PACKAGE_ROOT / "data" / "labelling" / "request_type_gold.csv",
        _PACKAGE_ROOT / "tests" / "classifiers" / "data" / "request_type_gold.csv",
    ):
        if path.is_file():
            return path
    return None


def read_corrections(path: Path | str) -> list[dict[str, Any]]:
    """Officers' corrections from JSONL, CSV or XLSX with ``text``, ``field``, ``label``."""
    from classifiers.batch import decode_bytes, read_table

    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = [
            json.loads(line)
            for line in decode_bytes(path.read_bytes()).splitlines()
            if line.strip()
        ]
    else:
        rows = list(read_table(path))
    return [r for r in rows if isinstance(r, dict)]


def _models_dir(value: str | None, provider: ModelsDirProvider | None) -> Path:
    if value:
        return Path(value)
    if provider is not None:
        return Path(provider())
    return resolve_models_dir(None)


def make_train_command(
    *,
    models_dir_provider: ModelsDirProvider | None = None,
    corrections_provider: CorrectionsProvider | None = None,
) -> click.Command:
    """A ``train`` command; the providers let the Flask side supply the instance's models
    directory and the corrections stored in the database (``--with-corrections`` without a
    file)."""

    @click.command("train")
    @click.option(
        "--models-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="模型包目录（默认 $SENTINEL_MODELS_DIR 或 instance/models）",
    )
    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, exists=True),
        default=None,
        help="训练数据目录（默认 ./data）",
    )
    @click.option(
        "--with-corrections",
        "corrections",
        is_flag=False,
        flag_value="-",
        default=None,
        metavar="[FILE]",
        help="加入人工更正（JSONL/CSV/XLSX：text, field, label）；不带文件时取系统中的更正",
    )
    @click.option(
        "--topic-file",
        type=click.Path(dir_okay=False, exists=True),
        default=None,
        help="本单位的主题标注表（CSV/XLSX，列 text,label），替换默认主题分类",
    )
    @click.option(
        "--activate",
        "activate_mode",
        type=click.Choice(["if-not-worse", "always", "never"]),
        default=None,
        help="新版本的激活方式（默认：不带更正时 always，带更正时 if-not-worse）",
    )
    @click.option("--no-baselines", is_flag=True, help="不训练基线模型（更快）")
    @click.option("--limit", type=int, default=None, help="每个数据集最多使用的条数（测试用）")
    @click.option("--quiet", is_flag=True, help="不显示进度条")
    def train(
        models_dir: str | None,
        data_dir: str | None,
        corrections: str | None,
        topic_file: str | None,
        activate_mode: str | None,
        no_baselines: bool,
        limit: int | None,
        quiet: bool,
    ) -> None:
        """训练全部模型，打印评估指标（与基线对比），写入新的模型版本。"""
        from classifiers.training import format_metrics, format_request_type, train_all

        extra: list[Mapping[str, Any]] = []  # filled below
        if corrections == "-":
            if corrections_provider is None:
                raise click.UsageError("没有可用的更正来源：请给出更正文件 --with-corrections FILE")
            extra = list(corrections_provider())
        elif corrections:
            extra = list(read_corrections(corrections))
        mode = activate_mode or ("if-not-worse" if corrections else "always")
        started = time.perf_counter()
        info = train_all(
            _models_dir(models_dir, models_dir_provider),
            data_dir=Path(data_dir) if data_dir else default_data_dir(),
            extra_rows=extra,
            progress=not quiet,
            activate=mode.replace("-", "_"),
            topic_file=topic_file,
            gold_path=None if data_dir else _default_gold(),
            baselines=not no_baselines,
            limit=limit,
        )
        click.echo(format_metrics(info.metrics))
        block = format_request_type(info.metrics)
        if block:
            click.echo(block)
        click.echo(f"模型版本：{info.version}（更正 {len(extra)} 条）")
        click.echo(f"激活：{'是' if info.activated else '否'} — {info.note}")
        click.echo(f"用时：{time.perf_counter() - started:.0f} 秒；目录：{info.path}")

    return train


def make_classify_command(*, models_dir_provider: ModelsDirProvider | None = None) -> click.Command:
    """A ``classify`` command (batch classification of a file)."""

    @click.command("classify")
    @click.option(
        "--input",
        "input_path",
        required=True,
        type=click.Path(dir_okay=False, exists=True),
        help="输入文件：JSONL（id, text）或带 text 列的 CSV/XLSX",
    )
    @click.option(
        "--output",
        "output_path",
        required=True,
        type=click.Path(dir_okay=False),
        help="输出 JSONL 文件（- 为标准输出）",
    )
    @click.option(
        "--models-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="模型包目录（默认 $SENTINEL_MODELS_DIR 或 instance/models）",
    )
    @click.option("--quiet", is_flag=True, help="不显示进度条")
    def classify(input_path: str, output_path: str, models_dir: str | None, quiet: bool) -> None:
        """对文件逐行分类，按输入顺序每行输出一个 JSON 对象。"""
        from classifiers.batch import InputError, classify_file
        from classifiers.pipeline import get_pipeline

        try:
            pipeline = get_pipeline(_models_dir(models_dir, models_dir_provider))
        except BundleError as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            if output_path == "-":
                stats = classify_file(pipeline, input_path, sys.stdout, progress=not quiet)
            else:
                stats = classify_file(pipeline, input_path, output_path, progress=not quiet)
        except InputError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(
            f"共 {stats['rows']} 行：分类 {stats['classified']} 行，出错 {stats['errors']} 行"
            f"（模型版本 {pipeline.version}）",
            err=True,
        )

    return classify


@click.command("model-versions")
@click.option("--models-dir", type=click.Path(file_okay=False), default=None)
def versions_command(models_dir: str | None) -> None:
    """列出模型版本及其指标（* 为当前版本）。"""
    root = _models_dir(models_dir, None)
    for info in list_versions(root):
        m = info.metrics
        click.echo(
            f"{'*' if info.active else ' '} {info.version}  {info.trained_at}  "
            f"主题F1={m.get('topic', {}).get('macro_f1', 0):.3f}  "
            f"微博情感={m.get('sentiment', {}).get('weibo_accuracy', 0):.3f}  "
            f"谣言AUC(CED)={m.get('rumour', {}).get('auc_ced') or 0:.3f}"
        )


@click.command("model-activate")
@click.argument("version")
@click.option("--models-dir", type=click.Path(file_okay=False), default=None)
def activate_command(version: str, models_dir: str | None) -> None:
    """激活（或回滚到）指定的模型版本。"""
    try:
        info = activate_version(_models_dir(models_dir, None), version)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"已激活模型版本 {info.version}")


train_command = make_train_command()
classify_command = make_classify_command()


@click.group()
def main() -> None:
    """sentinel 分类模型：训练、批量分类、版本管理。"""


main.add_command(train_command)
main.add_command(classify_command)
main.add_command(versions_command)
main.add_command(activate_command)
