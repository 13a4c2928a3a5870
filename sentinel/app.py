"""The application factory: a table of contents."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from sentinel.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the sentinel application.

    Configuration comes from defaults, then ``SENTINEL_*`` environment variables, then
    ``test_config``. Nothing connects to the database or Redis here.
    """
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "SENTINEL_INSTANCE_PATH"
    )
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    load_config(app, test_config)
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def register_logging(app: Flask) -> None:
    if not app.debug and not app.testing and not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )


def register_extensions(app: Flask) -> None:
    from sentinel import models, sqlite_fix  # noqa: F401  (every table registered before use)
    from sentinel.extensions import csrf, db, limiter, login_manager, migrate

    sqlite_fix.install()
    from sentinel.web.uploads import UploadRequest

    # Upload views' size limits must hold before CSRF reads the form (see web/uploads.py).
    app.request_class = UploadRequest
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"))
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> Any:
        # Active users whose session epoch still matches (web/auth.py).
        from sentinel.web.auth import load_user

        return load_user(user_id)

    if app.config["PROXY_FIX_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def register_blueprints(app: Flask) -> None:
    from sentinel.api import bp as api_bp
    from sentinel.extensions import csrf
    from sentinel.web import admin, auth, cases, imports, inbox, triage

    app.register_blueprint(auth.bp)
    app.register_blueprint(triage.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(admin.bp)
    from sentinel.web import calendar_admin, case_deadlines, deadline_rules, reminders

    calendar_admin.init_app(app)
    app.register_blueprint(deadline_rules.bp)
    app.register_blueprint(case_deadlines.bp)
    app.register_blueprint(reminders.bp)
    from sentinel.web import replies, rumours

    app.register_blueprint(replies.bp)
    app.register_blueprint(rumours.bp)
    from sentinel.web import lint_words

    app.register_blueprint(lint_words.bp)
    from sentinel.web import reports

    app.register_blueprint(reports.bp)
    from sentinel.web import faq

    faq.init_app(app)
    from sentinel.web import events

    app.register_blueprint(events.bp)
    from sentinel.web import consultations  # issue 12: 会商, leaders' board, alerts

    consultations.init_app(app)
    from sentinel.web import dashboard

    app.register_blueprint(dashboard.bp)
    # The API authenticates with bearer tokens, not cookies, so CSRF does not apply.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)


def register_errorhandlers(app: Flask) -> None:
    from sentinel.errors import register_errorhandlers as register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from sentinel.web import deadline_panel, helpers

    helpers.init_app(app)
    deadline_panel.init_app(app)


def register_commands(app: Flask) -> None:
    from sentinel.cli import register

    register(app)
