"""The forgetting curve: R = exp(-Δt / S).

Δt is the time since the memory was last recalled (or created, if never), in days. S is its stability in days:
BASE_DAYS × strength, and strength grows by one each time the memory is recalled — so memories that keep being
used decay ever more slowly (Ebbinghaus; MemoryBank's use of it). Pinned memories never decay.
"""

from __future__ import annotations

import math
from datetime import datetime

BASE_DAYS = 30.0
DEFAULT_THRESHOLD = 0.05


def retention(now: datetime, created_at: str, last_recalled_at: str | None, strength: float, *,
              pinned: bool = False, base_days: float = BASE_DAYS) -> float:
    if pinned:
        return 1.0
    from .timeparse import parse_time

    # Stored numbers are not trusted: an unreadable time or strength (an edited file) never makes a memory look
    # decayed, so `forget --decayed` cannot erase it on the strength of garbage; `memcli doctor` reports the row.
    try:
        since = parse_time(last_recalled_at or created_at)
    except (ValueError, TypeError, OverflowError):
        return 1.0
    if not isinstance(strength, (int, float)) or not math.isfinite(strength):
        strength = 1.0
    days = max(0.0, (now - since).total_seconds() / 86400.0)
    stability = base_days * max(strength, 1e-6)
    return math.exp(-days / stability)
