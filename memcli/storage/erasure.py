"""Erasure: a memory and everything that would keep its text, across every table that can hold it."""

from __future__ import annotations

from collections.abc import Sequence

from ..types import Erasure
from .database import Database
from .filters import marks, parts
from .keys import Keys


def erase(db: Database, keys: Keys, ids: Sequence[int], now: str) -> Erasure:
    """Delete memories and everything that would keep their text: FTS rows (the FTS table has secure-delete
    on), vectors, provenance, messages, raw source text, and derived memories built only from them. Derived
    memories that also rest on surviving memories are marked stale. Call inside a change."""
    conn = db.conn
    doomed = set(ids)
    stale: set[int] = set()
    frontier = set(ids)
    while frontier:  # closure: merged copies and derived memories whose evidence is all doomed
        grew: set[int] = set()
        for part in parts(sorted(frontier)):
            # Memories merged into a doomed one carry the same text: they go with it.
            grew.update(r[0] for r in conn.execute(
                f"SELECT memory_id FROM memory_links WHERE relation = 'merged_into' AND target_id IN ({marks(part)})",
                part))
            # Every derived memory resting on the frontier, with all of its evidence, in one query.
            evidence: dict[int, set[int]] = {}
            for derived, target in conn.execute(
                "SELECT l.memory_id, l.target_id FROM memory_links l WHERE l.relation = 'derived_from' AND "
                "l.memory_id IN (SELECT memory_id FROM memory_links WHERE relation = 'derived_from' "
                f"AND target_id IN ({marks(part)}))", part):
                evidence.setdefault(derived, set()).add(target)
            for derived, targets in evidence.items():
                if derived in doomed:
                    continue
                if targets <= doomed | grew:
                    grew.add(derived)
                else:
                    stale.add(derived)
        frontier = grew - doomed
        doomed |= frontier
    stale -= doomed
    derived_deleted = sorted(doomed - set(ids))
    doomed_list = sorted(doomed)
    message_ids: set[int] = set()
    source_ids: set[int] = set()
    reinstated: set[int] = set()
    # sqlite-vec clears a deleted vector's bytes itself (tests/test_forget.py checks the raw file). Zeroing
    # first was a second guard while vectors were float32; sqlite-vec 0.1.9 cannot UPDATE an int8 vector.
    for part in parts(doomed_list):
        rows = conn.execute(
            f"SELECT mm.message_id, msg.source_id FROM memory_messages mm JOIN messages msg "
            f"ON msg.id = mm.message_id WHERE mm.memory_id IN ({marks(part)})", part).fetchall()
        message_ids.update(r[0] for r in rows)
        source_ids.update(r[1] for r in rows)
        keys.drop(part)
        # A fact whose only successor goes is current again (its superseded_by link goes with the successor);
        # the forget's record names it, so the log says why the older version is back.
        reinstated.update(r[0] for r in conn.execute(
            "UPDATE memories SET valid_until = NULL WHERE id IN (SELECT memory_id FROM memory_links WHERE "
            f"relation = 'superseded_by' AND target_id IN ({marks(part)})) AND NOT EXISTS (SELECT 1 FROM "
            "memory_links l WHERE l.memory_id = memories.id AND l.relation = 'superseded_by' AND l.target_id NOT IN "
            f"({marks(part)})) RETURNING id", part + part))
        conn.execute(f"DELETE FROM memories WHERE id IN ({marks(part)})", part)  # cascades tags, links
    # Their messages go too, unless a surviving memory is that very message (same text): a merged duplicate's
    # message is also linked to the memory it was merged into, and a fact links its evidence, but neither
    # makes the message theirs.
    for part in parts(sorted(message_ids)):
        conn.execute(
            f"DELETE FROM messages WHERE id IN ({marks(part)}) AND NOT EXISTS (SELECT 1 FROM memory_messages mm "
            "JOIN memories m ON m.id = mm.memory_id WHERE mm.message_id = messages.id AND m.text = messages.text)",
            part)
    sources_deleted, sources_redacted = [], []
    for sid in sorted(source_ids):
        left = db.one("SELECT count(*) FROM messages WHERE source_id = ?", [sid])[0]
        if left == 0:
            conn.execute("DELETE FROM sources WHERE id = ?", [sid])
            sources_deleted.append(sid)
        else:
            # The raw input still contains the forgotten messages: drop it; surviving messages keep
            # their verbatim text in the messages table, and the count says how many survive.
            conn.execute("UPDATE sources SET raw = '', redacted_at = ?, n_messages = ? WHERE id = ?", [now, left, sid])
            sources_redacted.append(sid)
    # A derived memory that also rests on survivors (a day summary, a profile) may quote the forgotten text:
    # its text and search keys go now; the row stays, marked stale, so the next consolidate rebuilds it.
    keys.mark_stale(sorted(stale))
    return Erasure(erased_ids=doomed_list, derived_deleted=derived_deleted, derived_stale=sorted(stale),
                   sources_deleted=sources_deleted, sources_redacted=sources_redacted,
                   reinstated=sorted(reinstated - doomed))
