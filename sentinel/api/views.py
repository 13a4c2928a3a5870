"""/api/v1: ingest items, read an item, the OpenAPI document and its browsable page."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from pydantic import ValidationError

from sentinel.api.openapi import openapi_document
from sentinel.api.schemas import ItemBatchIn, ItemBatchOut, ItemIn, ItemOut, ItemResult
from sentinel.auth.permissions import Actor
from sentinel.errors import (
    BadRequest,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    json_error,
)
from sentinel.extensions import db
from sentinel.models import Item
from sentinel.services import ingest, sources
from sentinel.services.ingest import IncomingItem

bp = Blueprint("api", __name__, url_prefix="/api/v1")
KNOWN_FIELDS = set(ItemIn.model_fields)

PUBLIC_ENDPOINTS = {"api.openapi_json", "api.docs", "api.docs_asset"}


@bp.before_request
def authenticate() -> Any:
    """Bearer token → source, before anything reads the body (401 before 400/413/422)."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("缺少 API 令牌（Authorization: Bearer …）")
    source = sources.source_for_token(token.strip())
    if source is None:
        raise Unauthorized("API 令牌无效或已吊销")
    g.api_source = source
    g.api_actor = Actor(label=f"source:{source.id}", ip=request.remote_addr)
    return None


# The deepest a body may nest: {"items": [{"extra": {...}}]} needs four levels; a channel's
# unknown fields get the rest. Deeper bodies are refused before anything recurses over them.
MAX_DEPTH = 32
# Characters no text column can hold: NUL (PostgreSQL refuses it in text and json) and lone
# UTF-16 surrogates (JSON "\ud800" escapes; not encodable as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# How either can appear in JSON text: \u0000, \uD800..\uDFFF (a preceding escaped
# backslash makes a false alarm, which only costs the full scan).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


class _BadNumber(ValueError):
    """A JSON number we cannot store (NaN, ±Infinity, out of float range)."""


def _reject_constant(name: str) -> Any:
    raise _BadNumber(f"JSON 中不允许 {name}（不是合法的 JSON 数值）")


def _parse_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _BadNumber("JSON 中的数值超出范围")
    return value


def _read_body() -> bytes:
    """The request body, 413 past MAX_CONTENT_LENGTH whether or not it is chunked."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None and limit and request.environ.get("wsgi.input_terminated"):
        # A chunked body has no Content-Length: Werkzeug stops reading at the limit and
        # hands over the truncated body without an error, so read past it ourselves.
        stream = request.environ["wsgi.input"]
        chunks, size = [], 0
        while True:
            chunk = stream.read(min(64 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"请求体超过 {limit // (1024 * 1024)} MB 上限")
        return b"".join(chunks)
    return request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH


def _read_json() -> Any:
    if not request.is_json:
        raise UnsupportedMediaType("请求体应为 JSON，Content-Type 须为 application/json")
    raw = _read_body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("请求体不是 UTF-8 编码") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise BadRequest("请求体为空")
    try:
        payload = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列") from None
    except _BadNumber as exc:
        raise BadRequest(str(exc)) from None
    except RecursionError:
        raise BadRequest(f"JSON 嵌套过深（最多 {MAX_DEPTH} 层）") from None
    except ValueError:  # an integer of more than 4,300 digits (int() refuses it)
        raise BadRequest("JSON 中的整数位数过多") from None
    # JSON text (decoded as strict UTF-8, control characters refused inside strings) can
    # only carry NUL or a lone surrogate as a \u escape: without one, no string needs
    # scanning and only the nesting depth is checked (a thousand items' strings took a
    # tenth of an ingest request to scan one by one).
    _check_storable(payload, scan_strings=_UNSTORABLE_ESCAPE.search(text) is not None)
    return payload


def _check_storable(payload: Any, *, scan_strings: bool = True) -> None:
    """Refuse, with the item and field named, what no column could store.

    Iterative (a body nested 100,000 deep must not recurse) and over keys too: unknown
    fields go to the items' json column as they are. ``scan_strings=False`` checks the
    nesting depth only (the caller knows no string can hold an unstorable character).
    """
    problems: list[dict[str, Any]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(payload, ())]
    while stack and len(problems) < 20:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise ValidationFailed(
                f"JSON 嵌套过深（最多 {MAX_DEPTH} 层）",
                details=[_detail(path[:MAX_DEPTH], f"嵌套超过 {MAX_DEPTH} 层")],
            )
        # Without string scanning a leaf is visited only where its depth alone is an error.
        visit_leaves = scan_strings or len(path) >= MAX_DEPTH
        if isinstance(value, str):
            bad = _UNSTORABLE.search(value) if scan_strings else None
            if bad:
                problems.append(_detail(path, _unstorable_message(bad.group())))
        elif isinstance(value, dict):
            for key, child in value.items():
                bad = _UNSTORABLE.search(key) if scan_strings else None
                if bad:
                    problems.append(_detail(path, f"字段名{_unstorable_message(bad.group())}"))
                if visit_leaves or isinstance(child, dict | list):
                    stack.append((child, (*path, key)))
        elif isinstance(value, list):
            stack.extend(
                (child, (*path, i))
                for i, child in enumerate(value)
                if visit_leaves or isinstance(child, dict | list)
            )
    if problems:
        problems.sort(key=lambda d: (d["index"] is not None, d["index"] or 0, d["field"] or ""))
        raise ValidationFailed("部分条目含有无法保存的字符，整批未入库", details=problems)


def _unstorable_message(char: str) -> str:
    if char == "\x00":
        return "含有空字符（U+0000），无法保存"
    return f"含有不成对的代理字符（U+{ord(char):04X}），不是合法的 Unicode 文本"


def _detail(path: tuple[Any, ...], message: str) -> dict[str, Any]:
    index = None
    loc = list(path)
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        index = loc[1]
        loc = loc[2:]
    return {"index": index, "field": ".".join(str(p) for p in loc) or None, "message": message}


PYDANTIC_MESSAGES = {
    "missing": "缺少必填字段",
    "string_too_short": "不能为空",
    "string_too_long": "超过长度限制",
    "string_type": "应为字符串",
    "datetime_from_date_parsing": "时间格式无效，应为 ISO 8601",
    "datetime_parsing": "时间格式无效，应为 ISO 8601",
    "datetime_type": "时间格式无效，应为 ISO 8601",
    "literal_error": "取值无效（可选：comment, mention, message, letter, ticket）",
    "list_type": "应为数组",
    "too_short": "至少需要 1 条",
    "model_type": "应为 JSON 对象",
    "dict_type": "应为 JSON 对象",
    "extra_forbidden": "不支持的字段",
    "string_unicode": "不是合法的 Unicode 文本",
    "datetime_out_of_range": "时间超出范围",
    "datetime_too_early": "时间早于 2000-01-01",
    "datetime_too_late": "时间晚于当前时间一天以上",
}


def _message(error_type: str) -> str:
    """Chinese for a pydantic error type; never pydantic's English text."""
    if error_type in PYDANTIC_MESSAGES:
        return PYDANTIC_MESSAGES[error_type]
    if error_type.startswith(("datetime_", "date_", "time_", "timezone_")):
        return "时间格式无效，应为 ISO 8601"
    return "取值无效"


def _details(exc: ValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = list(err["loc"])
        index = None
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
            index = loc[1]
            loc = loc[2:]
        elif loc[:1] == ["items"]:
            loc = loc[:1]
        field = ".".join(str(p) for p in loc) or None
        details.append(
            {
                "index": index,
                "field": field,
                "message": _message(err["type"]),
            }
        )
    return details


def _incoming(item: ItemIn) -> IncomingItem:
    posted = item.created_at  # UTC (ItemIn reads a naive time as Beijing time)
    extra = dict(item.model_extra or {})
    return IncomingItem(
        external_id=item.external_id,
        text=item.text,
        kind=item.kind,
        author=item.author or None,
        posted_at=posted,
        url=item.url or None,
        extra=extra or None,
    )


@bp.post("/items")
def create_items() -> Any:
    """Ingest a batch of items.
    ---
    post:
      summary: 批量接收留言
      description: |
        一次最多 1000 条。任一条校验失败则整批拒收（422），不会部分入库。
        同一渠道内 external_id 相同的条目重复投递时不新增数据，返回原编号。
      security: [{bearerAuth: []}]
      requestBody:
        required: true
        content:
          application/json:
            schema: ItemBatchIn
      responses:
        202: {description: 已接收, content: {application/json: {schema: ItemBatchOut}}}
        400: {description: JSON 格式错误或非 UTF-8, content: {application/json: {schema: ErrorOut}}}
        401: {description: 令牌缺失或无效, content: {application/json: {schema: ErrorOut}}}
        413: {description: 请求体过大, content: {application/json: {schema: ErrorOut}}}
        415: {description: 不是 JSON, content: {application/json: {schema: ErrorOut}}}
        422: {description: 校验失败, content: {application/json: {schema: ErrorOut}}}
    """
    payload = _read_json()
    if not isinstance(payload, dict) or "items" not in payload:
        raise ValidationFailed(
            '请求体应为 {"items": [...]}',
            details=[{"index": None, "field": "items", "message": "缺少必填字段"}],
        )
    items = payload.get("items")
    limit = current_app.config["INGEST_MAX_BATCH"]
    if isinstance(items, list) and len(items) > limit:
        raise ValidationFailed(
            f"一批最多 {limit} 条，本批 {len(items)} 条",
            details=[{"index": None, "field": "items", "message": f"最多 {limit} 条"}],
        )
    try:
        batch = ItemBatchIn.model_validate(payload)
    except ValidationError as exc:
        raise ValidationFailed("部分条目未通过校验，整批未入库", details=_details(exc)) from None
    results = ingest.ingest_items(g.api_actor, g.api_source, [_incoming(i) for i in batch.items])
    db.session.commit()
    body = ItemBatchOut(
        items=[
            ItemResult(
                external_id=r.external_id,
                id=r.id,
                case_id=r.case_id,
                duplicate=r.duplicate,
                redelivered=r.redelivered,
            )
            for r in results
        ]
    )
    return Response(body.model_dump_json(), status=202, mimetype="application/json")


@bp.get("/items/<int:item_id>")
def get_item(item_id: int) -> Any:
    """Read one stored item of the token's source.
    ---
    get:
      summary: 查询单条留言
      security: [{bearerAuth: []}]
      parameters:
        - {name: item_id, in: path, required: true, schema: {type: integer}}
      responses:
        200: {description: 留言, content: {application/json: {schema: ItemOut}}}
        401: {description: 令牌缺失或无效, content: {application/json: {schema: ErrorOut}}}
        404: {description: 不存在或不属于该渠道, content: {application/json: {schema: ErrorOut}}}
    """
    # Ids are 32-bit: a larger one names no item (and SQLite cannot even bind past 64 bits).
    item = db.session.get(Item, item_id) if item_id < 2**31 else None
    if item is None or item.source_id != g.api_source.id:
        return json_error(404, "not_found", f"留言 {item_id} 不存在")
    out = ItemOut(
        id=item.id,
        external_id=item.external_id,
        case_id=item.case_id,
        source=item.source.name,
        kind=item.kind,
        text=item.text,
        text_verbatim=item.text_verbatim,
        author=item.author,
        url=item.url,
        created_at=item.posted_at,
        created_in_future=item.posted_in_future,
        received_at=item.received_at,
        duplicate=item.is_duplicate,
        topic=item.topic,
        sentiment=item.sentiment,
        request_type=item.request_type,
        rumour_score=item.rumour_score,
        risk_tier=item.risk_tier,
        model_version=item.model_version,
        case_status=item.case.status,
    )
    return Response(out.model_dump_json(), mimetype="application/json")


@bp.get("/openapi.json")
def openapi_json() -> Any:
    return jsonify(openapi_document(current_app))


@bp.get("/docs")
def docs() -> Any:
    return render_template("api/docs.html")


@bp.get("/docs/assets/<path:filename>")
def docs_asset(filename: str) -> Any:
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(os.path.abspath(swagger_ui_path), filename, max_age=86400)
