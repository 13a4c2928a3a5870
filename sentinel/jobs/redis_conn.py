"""One Redis connection per process, created on first use (never at import time)."""

from __future__ import annotations

from flask import Flask
from redis import Redis

_connections: dict[str, Redis] = {}


def redis_connection(app: Flask) -> Redis:
    url = app.config["REDIS_URL"]
    conn = _connections.get(url)
    if conn is None:
        conn = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        _connections[url] = conn
    return conn
