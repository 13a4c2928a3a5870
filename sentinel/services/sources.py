"""Sources (channels/accounts) and their API tokens."""

from __future__ import annotations

from sqlalchemy import select

from sentinel.auth.permissions import Actor
from sentinel.auth.tokens import hash_token, new_token, token_matches
from sentinel.errors import Conflict, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import ApiToken, Source, Unit, utcnow
from sentinel.models.source import PLATFORMS
from sentinel.services import audit


def create_source(
    actor: Actor, name: str, platform: str, account: str = "", unit: Unit | None = None
) -> Source:
    """Create a channel/account that items arrive on."""
    name = name.strip()
    if not name:
        raise ValidationFailed("渠道名称不能为空")
    if platform not in PLATFORMS:
        raise ValidationFailed(f"未知平台：{platform}（可选：{', '.join(PLATFORMS)}）")
    if db.session.scalar(select(Source.id).where(Source.name == name)):
        raise Conflict(f"渠道“{name}”已存在")
    source = Source(name=name, platform=platform, account=account or name, unit=unit)
    db.session.add(source)
    db.session.flush()
    audit.record(actor, "source.create", "source", source.id, platform=platform)
    return source


def issue_token(actor: Actor, source: Source) -> str:
    """Create an API token for the source. Returns the token; only its hash is stored."""
    token = new_token()
    db.session.add(ApiToken(source=source, token_hash=hash_token(token), prefix=token[:10]))
    db.session.flush()
    audit.record(actor, "source.token_issue", "source", source.id)
    return token


def revoke_tokens(actor: Actor, source: Source) -> int:
    count = 0
    for token in source.tokens:
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            count += 1
    audit.record(actor, "source.token_revoke", "source", source.id, count=count)
    return count


def source_for_token(token: str) -> Source | None:
    """The active source owning this (unrevoked) token, or None."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    # The lookup is by hash; the constant-time compare guards against any index-side leak.
    if row is None or row.revoked_at is not None or not token_matches(token, row.token_hash):
        return None
    if not row.source.active:
        return None
    return row.source


def get_source_by_name(name: str) -> Source:
    source = db.session.scalar(select(Source).where(Source.name == name))
    if source is None:
        raise NotFound(f"渠道“{name}”不存在")
    return source
