"""Checks for values that cross a boundary (import, JSON/JSONL ingest, MCP arguments, config): one schema per record
type, each field a check that returns None when the value is fine or says what is wrong in a few words. A record
that fails is refused whole with one line naming where and which field; nothing is written.

Stored data is checked again where it is read for ranking (storage/search.py, retention.py): a bad row is skipped
and `memcli doctor` reports it, never a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import InputError
from .types import KINDS, STATUSES

Check = Callable[[Any], "str | None"]
MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id is no memory's
MAX_LABEL = 200
MAX_QUERY_CHARS = 8_000  # ~1,500 words: far beyond a question; a 1 MB query took 65 s to rank
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
F32_MAX = float(np.finfo(np.float32).max)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def integer(lo: int = 0, hi: int = MAX_ID) -> Check:
    def check(v: Any) -> str | None:
        if not is_int(v):
            return "must be an integer"
        return None if lo <= v <= hi else f"must be between {lo} and {hi}"
    return check


def number(lo: float = -math.inf, hi: float = math.inf) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return "must be a number"
        if not math.isfinite(v):
            return "must be a finite number"
        return None if lo <= v <= hi else f"must be between {lo:g} and {hi:g}"
    return check


def string(v: Any) -> str | None:
    return None if isinstance(v, str) else "must be a string"


def optional(check: Check) -> Check:
    def opt(v: Any) -> str | None:
        return None if v is None else check(v)
    return opt


def one_of(*values: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in values else f"must be one of {', '.join(values)}"
    return check


def label(v: Any) -> str | None:
    """A scope or tag: 1..200 printable characters."""
    if not isinstance(v, str):
        return "must be a string"
    if not v.strip() or len(v) > MAX_LABEL or any(ord(c) < 32 or ord(c) == 127 for c in v):
        return f"must be 1 to {MAX_LABEL} printable characters"
    return None


def utc_time(v: Any) -> str | None:
    """memcli writes UTC ISO-8601 with a Z; anything else would sort wrongly against --before/--after."""
    return None if isinstance(v, str) and _ISO.fullmatch(v) else "must be a UTC time like 2024-05-01T10:00:00Z"


def time_or_empty(v: Any) -> str | None:
    return None if v is None or v == "" else utc_time(v)


def sha256_hex(v: Any) -> str | None:
    return None if isinstance(v, str) and _HEX64.fullmatch(v) else "must be 64 lowercase hex digits"


def list_of(check: Check, *, max_items: int = 1_000_000) -> Check:
    def checked(v: Any) -> str | None:
        if not isinstance(v, list):
            return "must be a list"
        if len(v) > max_items:
            return f"must have at most {max_items} items"
        for i, item in enumerate(v):
            problem = check(item)
            if problem:
                return f"item {i} {problem}"
        return None
    return checked


def flag(v: Any) -> str | None:
    """A scanner finding: {"kind": str, "rule": str, ...}."""
    if not isinstance(v, dict) or not isinstance(v.get("kind"), str) or not isinstance(v.get("rule"), str):
        return 'must be an object with string "kind" and "rule"'
    return None


def pair_of_strings(v: Any) -> str | None:
    return None if isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v) \
        else "must be [period, key]"


def link(v: Any) -> str | None:
    if not (isinstance(v, list) and len(v) == 2 and v[0] in ("derived_from", "merged_into", "superseded_by")
            and is_int(v[1]) and 1 <= v[1] <= MAX_ID):
        return "must be [derived_from|merged_into|superseded_by, memory id]"
    return None


def vector_problem(row: Any, dim: int | None = None) -> str | None:
    """A vector must be a list of finite float32 numbers, of the model's dimension, not all zero: a zero or
    overflowing vector has no direction, and cosine with it is undefined (it broke every recall)."""
    if not isinstance(row, (list, np.ndarray)) or len(row) == 0:
        return "must be a non-empty list of numbers"
    if dim is not None and len(row) != dim:
        return f"must have {dim} numbers"
    if isinstance(row, list) and not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in row):
        return "must hold numbers only"
    arr = np.asarray(row, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > F32_MAX):
        return "must hold finite numbers a float32 can hold"
    if not np.any(arr):
        return "must not be all zeros"
    return None


def vectors(v: Any) -> str | None:
    if not isinstance(v, list):
        return "must be a list of vectors"
    for i, row in enumerate(v):
        problem = vector_problem(row)
        if problem:
            return f"vector {i} {problem}"
    return None


def check_record(record: Mapping, schema: Mapping[str, Check], where: str, what: str,
                 required: tuple[str, ...] = ()) -> None:
    """Refuse the record (InputError naming `where` and the field) if a required field is missing or any field
    present fails its check."""
    missing = [k for k in required if k not in record]
    if missing:
        raise InputError(f"{where}: {what} lacks {', '.join(missing)}")
    for key, check in schema.items():
        if key in record:
            problem = check(record[key])
            if problem:
                raise InputError(f"{where}: {what} field {key!r} {problem}")


# -- the record types an export holds ------------------------------------------------------------------------------
SOURCE = {"id": integer(1), "origin": string, "format": string, "scope": label, "sha256": sha256_hex,
          "received_at": utc_time, "raw": string, "n_messages": integer(0), "stated_at": optional(time_or_empty),
          "redacted_at": time_or_empty}
MESSAGE = {"id": integer(1), "source_id": integer(1), "seq": integer(0), "text": string,
           "speaker": optional(string), "role": optional(string), "occurred_at": time_or_empty,
           "external_id": optional(string)}
MEMORY = {"id": integer(1), "kind": one_of(*KINDS), "text": string, "scope": label, "occurred_at": utc_time,
          "created_at": utc_time, "content_hash": sha256_hex, "key_text": string, "context": string,
          "speaker": optional(string), "messages": list_of(integer(1)), "tags": list_of(label, max_items=1000),
          "links": list_of(link), "summary_of": optional(pair_of_strings), "vectors": vectors,
          "strength": number(0.0, 1e9), "recall_count": integer(0), "status": one_of(*STATUSES),
          "pinned": integer(0, 1), "stale": integer(0, 1),
          "last_recalled_at": time_or_empty, "valid_until": time_or_empty, "flags": optional(list_of(flag)),
          "expires_at": time_or_empty}


def query(text: str) -> None:
    """A recall query: bounded, so one request cannot hold the database for a minute."""
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"query too long ({len(text):,} characters; at most {MAX_QUERY_CHARS:,})")


def memory_id(value: Any, what: str = "memory id") -> int:
    """An id from outside (CLI, MCP, Python): a positive integer SQLite can hold."""
    if not is_int(value) or not 1 <= value <= MAX_ID:
        raise InputError(f"{what} must be a whole number from 1 to {MAX_ID}, not {str(value)[:30]!r}")
    return int(value)
