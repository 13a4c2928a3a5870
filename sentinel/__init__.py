"""sentinel — 政务新媒体留言办理平台 (government new-media message handling)."""

from sentinel.app import create_app

__all__ = ["create_app"]
