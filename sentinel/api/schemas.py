"""API request/response schemas (pydantic): validation and the OpenAPI components."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from classifiers.data import REQUEST_TYPES
from sentinel.timefmt import SHANGHAI

ItemKind = Literal["comment", "mention", "message", "letter", "ticket"]

# A message posted before the web existed in China, or more than a day ahead of our clock
# (senders' clocks drift), is a sender's bug. Such a date would also sit on top of the
# "newest" queue for ever, or not convert to UTC / Shanghai time at all (year 1, 9999).
EARLIEST_POSTED = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)


class ItemIn(BaseModel):
    """One item. Unknown fields (engagement counts, platform ids…) are kept in ``extra``."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    external_id: str = Field(min_length=1, max_length=200, description="渠道内唯一编号")
    text: str = Field(min_length=1, max_length=20000, description="留言内容")
    author: str | None = Field(default=None, max_length=200)
    created_at: datetime | None = Field(
        default=None, description="发布时间，ISO 8601；无时区时按北京时间理解"
    )
    url: str | None = Field(default=None, max_length=2000)
    kind: ItemKind = "comment"

    @field_validator("created_at")
    @classmethod
    def _posted_in_range(cls, value: datetime | None) -> datetime | None:
        """UTC; a naive time is Beijing time (offices write local time)."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=SHANGHAI)
        try:
            posted = value.astimezone(UTC)
        except OverflowError:  # e.g. year 1 at +14:00, year 9999 at -14:00
            raise PydanticCustomError("datetime_out_of_range", "时间超出范围") from None
        if posted < EARLIEST_POSTED:
            raise PydanticCustomError("datetime_too_early", "时间早于 2000-01-01")
        if posted > datetime.now(UTC) + FUTURE_SLACK:
            raise PydanticCustomError("datetime_too_late", "时间晚于当前时间一天以上")
        return posted


class ItemBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(min_length=1, description="最多 1000 条")


class ItemResult(BaseModel):
    external_id: str
    id: int
    case_id: int
    duplicate: bool = Field(description="与已有工单内容相同或为重复投递")
    redelivered: bool = Field(description="同一 external_id 已收到过，本次未新增")


class ItemBatchOut(BaseModel):
    items: list[ItemResult]


class ItemOut(BaseModel):
    id: int
    external_id: str
    case_id: int
    source: str
    kind: str
    text: str
    # False: ``text`` is the normalised form (item stored before received texts were kept).
    text_verbatim: bool = True
    author: str | None
    url: str | None
    created_at: datetime | None
    # ``created_at`` was later than ``received_at`` beyond the clock-skew allowance.
    created_in_future: bool = False
    received_at: datetime
    duplicate: bool
    topic: str | None = None
    sentiment: str | None = None
    # 诉求类型: one of the classifier's labels (classifiers.data.REQUEST_TYPES).
    request_type: str | None = Field(
        default=None, json_schema_extra={"enum": [*REQUEST_TYPES, None]}
    )
    rumour_score: float | None = None
    risk_tier: str | None = None
    model_version: str | None = None
    case_status: str


class ErrorDetail(BaseModel):
    index: int | None = None
    field: str | None = None
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorOut(BaseModel):
    error: ErrorBody
