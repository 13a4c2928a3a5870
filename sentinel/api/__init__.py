"""JSON API under /api/v1 (bearer tokens per source), described by OpenAPI."""

from sentinel.api.views import bp

__all__ = ["bp"]
