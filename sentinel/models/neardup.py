"""The shared near-duplicate index: MinHash signatures and LSH band keys of recent cases.

Kept in the database so that every worker process queries the same index without
rebuilding it, and so that it changes in the same transaction as the cases it describes
(a rolled-back job leaves no entry behind; a merge removes its case's entries).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.models.base import Base


class NearDupSignature(Base):
    """One indexed case: its first item's MinHash signature (uint32 values, little-endian)."""

    __tablename__ = "neardup_signatures"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    # When the case was created: the window (NEARDUP_WINDOW_DAYS) and pruning use it.
    created_at: Mapped[datetime] = mapped_column(index=True)
    # num_perm, seed and LSH bands×rows the band keys were made with; entries of another
    # scheme are re-indexed by the maintenance job.
    scheme: Mapped[str] = mapped_column(String(40))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class NearDupBand(Base):
    """One LSH band key of an indexed case; cases sharing a key are candidates."""

    __tablename__ = "neardup_bands"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True, index=True
    )
