"""Outgoing e-mail through the configured SMTP server (no ``SMTP_HOST``: no e-mail)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from flask import current_app


def _cfg(name: str, default: Any) -> Any:
    return current_app.config.get(name, default)


def smtp_configured() -> bool:
    """True when an SMTP server is configured (``SMTP_HOST``)."""
    return bool(_cfg("SMTP_HOST", None))


def send_email(recipients: list[str], subject: str, body: str) -> None:
    """Send one plain-text e-mail through the configured SMTP server."""
    message = EmailMessage()
    message["From"] = _cfg("SMTP_FROM", "sentinel@localhost")
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(body)
    host = _cfg("SMTP_HOST", None)
    port = int(_cfg("SMTP_PORT", 25))
    with smtplib.SMTP(host, port, timeout=float(_cfg("SMTP_TIMEOUT", 10))) as smtp:
        if _cfg("SMTP_STARTTLS", False):
            smtp.starttls()
        if _cfg("SMTP_USERNAME", None):
            smtp.login(_cfg("SMTP_USERNAME", ""), _cfg("SMTP_PASSWORD", ""))
        smtp.send_message(message)
