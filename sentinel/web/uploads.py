"""Per-view upload size limits that hold before anything reads the request body.

Flask lets a view raise ``request.max_content_length``, but CSRF protection parses the
form in a ``before_request`` hook, under the app-wide ``MAX_CONTENT_LENGTH`` (8 MiB),
before the view runs — so a larger upload failed with 413 whatever the view said. The
request class below decides the limit from the matched endpoint, which is known before
any hook runs, so every reader of the body (CSRF included) sees the view's limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Request, current_app

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "upload_limit_setting"


def upload_limit(setting: str) -> Callable[[F], F]:
    """Let the decorated view accept request bodies up to ``app.config[setting]`` bytes.

    Put it directly under ``@bp.route`` so it marks the function Flask registers.
    """

    def mark(view: F) -> F:
        setattr(view, _ATTRIBUTE, setting)
        return view

    return mark


class UploadRequest(Request):
    """The app's request class: the body limit of the view being called."""

    @property  # type: ignore[override]
    def max_content_length(self) -> int | None:
        if self._max_content_length is not None or not current_app or not self.endpoint:
            return super().max_content_length
        view = current_app.view_functions.get(self.endpoint)
        setting = getattr(view, _ATTRIBUTE, None)
        if setting is None:
            return super().max_content_length
        return int(current_app.config[setting])

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value
