"""Source (a platform account or intake channel) and its API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sentinel.models.base import Base, utcnow
from sentinel.models.unit import Unit

PLATFORMS = {
    "wechat": "微信",
    "weibo": "微博",
    "douyin": "抖音",
    "toutiao": "今日头条",
    "kuaishou": "快手",
    "website": "网站",
    "mailbox": "政府信箱",
    "hotline12345": "12345热线",
    "api": "接口",
    "import": "文件导入",
}


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    platform: Mapped[str] = mapped_column(String(20))
    account: Mapped[str] = mapped_column(String(120), default="")
    # The unit that runs the account: its duty officers see what arrives here.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit | None] = relationship()
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="source")

    @property
    def platform_label(self) -> str:
        return PLATFORMS.get(self.platform, self.platform)

    @property
    def names_platform(self) -> bool:
        """True when the name already ends with its platform in brackets (“云和交警（抖音）”)."""
        platform = self.platform_label
        return self.name.endswith((f"（{platform}）", f"({platform})"))

    @property
    def label(self) -> str:
        """The name with its platform, once: “云和交警（抖音）”, not “云和交警（抖音）（抖音）”."""
        return self.name if self.names_platform else f"{self.name}（{self.platform_label}）"


class ApiToken(Base):
    """An API token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    source: Mapped[Source] = relationship(back_populates="tokens")
