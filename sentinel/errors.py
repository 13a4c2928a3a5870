"""SentinelError hierarchy and the two error renderers (HTML for pages, JSON for the API)."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class SentinelError(Exception):
    """Base of every error a service raises on purpose. ``message`` is shown to users."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(SentinelError):
    code = "validation_error"
    status = 422


class BadRequest(SentinelError):
    code = "bad_request"
    status = 400


class NotFound(SentinelError):
    code = "not_found"
    status = 404


class Forbidden(SentinelError):
    code = "forbidden"
    status = 403


class Unauthorized(SentinelError):
    code = "unauthorized"
    status = 401


class InvalidTransition(SentinelError):
    """A state-machine transition that is not allowed from the current state."""

    code = "invalid_transition"
    status = 409


class Conflict(SentinelError):
    code = "conflict"
    status = 409


class PayloadTooLarge(SentinelError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(SentinelError):
    code = "unsupported_media_type"
    status = 415


# Chinese messages for HTTP errors raised by Flask/Werkzeug itself.
HTTP_MESSAGES = {
    400: "请求格式有误",
    401: "未登录或凭证无效",
    403: "没有权限访问",
    404: "页面或数据不存在",
    405: "不支持的请求方法",
    409: "状态冲突，请刷新后重试",
    413: "上传内容超过大小限制",
    415: "不支持的内容类型",
    422: "提交的数据未通过校验",
    429: "操作过于频繁，请稍后再试",
    500: "服务器内部错误，请稍后再试",
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
}


def json_error(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Any:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def register_errorhandlers(app: Flask) -> None:
    """One handler for SentinelError and one for HTTP errors; each renders HTML or JSON."""

    @app.errorhandler(SentinelError)
    def handle_sentinel_error(error: SentinelError) -> Any:
        if _wants_json():
            return json_error(error.status, error.code, error.message, error.details)
        return render_template("errors/error.html", status=error.status, message=error.message), (
            error.status
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Any:
        status = error.code or 500
        message = HTTP_MESSAGES.get(status, error.description or "")
        if status == 400 and getattr(error, "description", "").startswith("The CSRF"):
            message = "页面已过期（CSRF 校验失败），请刷新后重试"
        if _wants_json():
            return json_error(status, HTTP_CODES.get(status, "error"), message)
        return render_template("errors/error.html", status=status, message=message), status

    @app.errorhandler(500)
    def handle_server_error(error: Exception) -> Any:
        message = HTTP_MESSAGES[500]
        if _wants_json():
            return json_error(500, "internal_error", message)
        return render_template("errors/error.html", status=500, message=message), 500
