"""Enterprise chat robot webhooks: WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书).

Each robot takes a JSON POST in its own format and answers 200 with an error code in the
body, so a 200 alone is not success: the body's code must be 0 as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

FORMATS = {"wecom": "企业微信群机器人", "dingtalk": "钉钉群机器人", "feishu": "飞书群机器人"}


class DeliveryFailed(Exception):
    """The robot refused the message or could not be reached (the text says why)."""


def payload(fmt: str, title: str, text: str) -> dict[str, Any]:
    """The robot's JSON body for a message with a title and a markdown/plain text."""
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": f"**{title}**\n{text}"}}
    if fmt == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": f"### {title}\n{text}"}}
    if fmt == "feishu":
        return {"msg_type": "text", "content": {"text": f"{title}\n{text}"}}
    raise ValueError(f"unknown webhook format {fmt!r}")


def sign(
    fmt: str, url: str, body: dict[str, Any], secret: str | None, now: float | None = None
) -> tuple[str, dict[str, Any]]:
    """Apply a robot's "加签" signature: DingTalk signs in the query string (milliseconds),
    Feishu in the body (seconds); WeCom robots have no signature."""
    if not secret:
        return url, body
    now = time.time() if now is None else now
    if fmt == "dingtalk":
        stamp = str(int(now * 1000))
        digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256)
        signature = urllib.parse.quote_plus(base64.b64encode(digest.digest()).decode())
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}timestamp={stamp}&sign={signature}", body
    if fmt == "feishu":
        stamp = str(int(now))
        digest = hmac.new(f"{stamp}\n{secret}".encode(), b"", hashlib.sha256)
        return url, {**body, "timestamp": stamp, "sign": base64.b64encode(digest.digest()).decode()}
    return url, body


def post(url: str, body: dict[str, Any], timeout: float) -> None:
    """POST the JSON body; raise DeliveryFailed unless the robot accepted it."""
    if not url.startswith(("http://", "https://")):
        raise DeliveryFailed("机器人地址须以 http:// 或 https:// 开头")
    data = json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"无法连接：{reason}"[:300]) from exc
    try:
        answer = json.loads(raw or b"{}")
    except ValueError as exc:
        raise DeliveryFailed("机器人的应答不是 JSON") from exc
    if not isinstance(answer, dict):
        raise DeliveryFailed("机器人的应答格式不对")
    # WeCom/DingTalk: errcode; Feishu: code (older robots: StatusCode).
    for key in ("errcode", "code", "StatusCode"):
        if key in answer and answer[key] not in (0, "0"):
            message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage")
            raise DeliveryFailed(f"机器人拒收：{key}={answer[key]} {message or ''}".strip()[:300])
