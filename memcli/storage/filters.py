"""Filters (memcli/types.py) as a SQL condition: constant fragments, values as parameters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..types import Filters

TIME_FIELDS = ("occurred_at", "created_at")
PART = 500  # ids per IN (...) list: well under SQLite's parameter limit


def where(filters: Filters, alias: str = "m") -> tuple[str, list]:
    if filters.time_field not in TIME_FIELDS:
        raise ValueError(f"bad time field {filters.time_field!r}")
    clauses: list[str] = ["1=1"]
    params: list[object] = []
    if filters.active_only:  # active and not expired (remember --expires)
        clauses.append(f"{alias}.status = 'active' AND {not_expired(alias)}")
        params.append(utc_now())
    ids = [int(i) for i in filters.ids]
    kinds = list(filters.kinds)
    for column, values in (("id", ids), ("kind", kinds)):
        if values:
            clauses.append(f"{alias}.{column} IN ({marks(values)})")
            params.extend(values)
    if filters.scope is not None:
        clauses.append(f"{alias}.scope = ?")
        params.append(filters.scope)
    for tag in filters.tags:
        clauses.append(f"EXISTS (SELECT 1 FROM memory_tags t WHERE t.memory_id = {alias}.id AND t.tag = ?)")
        params.append(tag)
    if filters.since:
        clauses.append(f"{alias}.{filters.time_field} >= ?")
        params.append(filters.since)
    if filters.until:
        clauses.append(f"{alias}.{filters.time_field} < ?")
        params.append(filters.until)
    if filters.source_id is not None:
        clauses.append(f"EXISTS (SELECT 1 FROM memory_messages mm JOIN messages msg ON msg.id = mm.message_id "
                       f"WHERE mm.memory_id = {alias}.id AND msg.source_id = ?)")
        params.append(filters.source_id)
    return " AND ".join(clauses), params


def not_expired(alias: str) -> str:
    """The SQL of forgetting.is_expired, negated: no --expires time, or one still to come. Its parameter is
    utc_now(): the time is a value, not an engine's function, so SQLite and Postgres read it alike."""
    return f"({alias}.expires_at IS NULL OR {alias}.expires_at > ?)"


def utc_now() -> str:
    """Now, as memcli stores times (ISO 8601 UTC, seconds)."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def marks(values: Sequence) -> str:
    """'?,?,?' for an IN list of these values."""
    return ",".join("?" * len(values))


def parts(ids: Sequence[int], size: int = PART) -> Iterator[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
