"""Serve with gunicorn: threads in one process for the embedded mode, processes for production."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from gunicorn.app.base import BaseApplication


class SentinelServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from sentinel.app import create_app

        app = create_app()
        if app.config["JOBS_MODE"] == "thread":
            # Embedded mode: this single process also runs the periodic schedule.
            from sentinel.jobs.periodic import start_thread_scheduler

            start_thread_scheduler(app)
        return app


def serve(host: str, port: int, workers: int | None) -> None:
    embedded = not os.environ.get("SENTINEL_REDIS_URL")
    if workers is None:
        workers = 1 if embedded else max(2, multiprocessing.cpu_count() * 2)
    if embedded and workers != 1:
        raise SystemExit("嵌入模式（未配置 Redis）只能使用 1 个进程")
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 8,
        "timeout": 120,
        "accesslog": "-",
        # No query strings in the access log: searches may contain personal data.
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
        "errorlog": "-",
    }
    SentinelServer(options).run()
