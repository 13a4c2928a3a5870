"""/api/v1: ingest items, read an item, the OpenAPI document and its browsable page."""

from __future__ import annotations

import json
import os
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
from sentinel.errors import BadRequest, Unauthorized, ValidationFailed, json_error
from sentinel.extensions import db
from sentinel.models import Item
from sentinel.services import ingest, sources
from sentinel.services.ingest import IncomingItem
from sentinel.timefmt import SHANGHAI

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


def _read_json() -> Any:
    raw = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("请求体不是 UTF-8 编码") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列") from None


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
}


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
                "message": PYDANTIC_MESSAGES.get(err["type"], err["msg"]),
            }
        )
    return details


def _incoming(item: ItemIn) -> IncomingItem:
    posted = item.created_at
    if posted is not None and posted.tzinfo is None:
        posted = posted.replace(tzinfo=SHANGHAI)  # offices write local time
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
    item = db.session.get(Item, item_id)
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
