"""The OpenAPI document, built by apispec from the views' docstrings and pydantic schemas."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.yaml_utils import load_operations_from_docstring
from flask import Flask

from sentinel.api import schemas

_cache: dict[int, dict[str, Any]] = {}

SCHEMAS = (
    schemas.ItemIn,
    schemas.ItemBatchIn,
    schemas.ItemResult,
    schemas.ItemBatchOut,
    schemas.ItemOut,
    schemas.ErrorOut,
)


def openapi_document(app: Flask) -> dict[str, Any]:
    """Build (once per app) the OpenAPI 3.1 document of /api/v1."""
    if id(app) in _cache:
        return _cache[id(app)]
    spec = APISpec(
        title="sentinel 留言接收接口",
        version="1.0.0",
        openapi_version="3.1.0",
        info={"description": "各渠道按批推送留言；每个渠道一个令牌。"},
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for model in SCHEMAS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            if name not in spec.components.schemas:
                spec.components.schema(name, sub)
        if model.__name__ not in spec.components.schemas:
            spec.components.schema(model.__name__, schema)
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in {
            "api.openapi_json",
            "api.docs",
            "api.docs_asset",
        }:
            continue
        view = app.view_functions[rule.endpoint]
        operations = load_operations_from_docstring(view.__doc__ or "")
        for operation in operations.values():
            _resolve_refs(operation)
        path = str(rule.rule).replace("<int:", "{").replace("<", "{").replace(">", "}")
        spec.path(path=path, operations=operations)
    _cache[id(app)] = spec.to_dict()
    return _cache[id(app)]


def _resolve_refs(node: Any) -> None:
    """Turn ``schema: Name`` shorthands from docstrings into component $refs."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, str):
                node[key] = {"$ref": f"#/components/schemas/{value}"}
            else:
                _resolve_refs(value)
    elif isinstance(node, list):
        for value in node:
            _resolve_refs(value)
