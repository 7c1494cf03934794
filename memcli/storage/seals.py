"""Seals: what a memory says, committed in the audit record that created it.

seal = SHA-256(nonce || canonical [kind, scope, speaker, occurred_at, text]), 24 hex digits kept, with a random
16-byte nonce stored in the memory's row. The record's hash chain protects the seal; the seal protects the row:
editing a memory's text, speaker, time, kind or scope in the file no longer matches its seal (`audit verify`).
The nonce goes with the row on forget, so the seal left in the log cannot be used to guess the forgotten text
(a plain hash of a short secret could be: 'my PIN is 4821' in 10,000 tries).
Stale derived memories (text emptied by a forget until consolidate rebuilds them) are checked to be empty instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence

from .database import Database
from .filters import marks, parts

SEALED = ("kind", "scope", "speaker", "occurred_at", "text")


def new_nonce() -> bytes:
    return os.urandom(16)


def seal(nonce: bytes, kind: str, scope: str, speaker: str | None, occurred_at: str, text: str) -> str:
    body = json.dumps([kind, scope, speaker, occurred_at, text], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(nonce + body.encode()).hexdigest()[:24]


def seals_of(db: Database, ids: Sequence[int]) -> dict[int, str]:
    """{id: seal} of these memories as stored now (memories without a nonce, from before seals, are left out)."""
    out: dict[int, str] = {}
    for part in parts(ids):
        for mid, nonce, kind, scope, speaker, occurred, text in db.conn.execute(
                f"SELECT id, nonce, {', '.join(SEALED)} FROM memories WHERE id IN ({marks(part)}) "
                "AND nonce IS NOT NULL", part):
            out[mid] = seal(bytes(nonce), kind, scope, speaker, occurred, text)
    return out


def broken_seal(db: Database, sealed: dict[int, str]) -> int | None:
    """The first memory whose row no longer matches the seal its record holds, or None. Gone memories are
    skipped (forgotten); stale ones must be empty."""
    ids = sorted(sealed)
    for part in parts(ids):
        rows = db.conn.execute(f"SELECT id, nonce, stale, {', '.join(SEALED)} FROM memories "
                               f"WHERE id IN ({marks(part)})", part).fetchall()
        for mid, nonce, stale, kind, scope, speaker, occurred, text in rows:
            if stale:
                if text != "":
                    return mid
                continue
            if nonce is None or seal(bytes(nonce), kind, scope, speaker, occurred, text) != sealed[mid]:
                return mid
    return None
