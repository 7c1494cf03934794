"""The append-only, hash-chained audit log.

Each record's hash is SHA-256 over its canonical JSON (id, time, actor, operation, memory ids, detail) followed by
the previous record's hash, so editing, deleting or reordering any record breaks every hash after it.
Records hold ids and counts, never memory text nor a hash of it: forgetting must not leave the text (or a way to
guess it) behind here.
Triggers refuse UPDATE and DELETE on the table; `verify` catches what bypasses them (a raw file edit).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence

from ..types import AuditRecord
from .database import Database

GENESIS = "0" * 64


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(record_id: int, at: str, actor: str, op: str, memory_ids: str, detail: str, prev_hash: str) -> str:
    body = canonical({"id": record_id, "at": at, "actor": actor, "op": op,
                      "memory_ids": json.loads(memory_ids), "detail": json.loads(detail)})
    return hashlib.sha256((body + prev_hash).encode()).hexdigest()


_COLS = "id, at, actor, op, memory_ids, detail, hash"


def _record(row) -> AuditRecord:
    return AuditRecord(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]), row[6])


class AuditLog:
    def __init__(self, db: Database):
        self.db = db
        self.conn = db.conn

    def append(self, *, at: str, actor: str, op: str, memory_ids: Sequence[int], detail: dict) -> int:
        """Only memcli.changes.change() calls this, inside the change it records: the change and its record commit
        together or not at all (the guard in database.py refuses it outside a change)."""
        last = self.conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        record_id = (last[0] + 1) if last else 1
        prev = last[1] if last else GENESIS
        ids_json = json.dumps(sorted({int(i) for i in memory_ids}))
        detail_json = canonical(detail)
        h = record_hash(record_id, at, actor, op, ids_json, detail_json, prev)
        self.conn.execute(
            "INSERT INTO audit_log(id, at, actor, op, memory_ids, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
            [record_id, at, actor, op, ids_json, detail_json, prev, h],
        )
        self.conn.executemany("INSERT INTO audit_memories(audit_id, memory_id) VALUES (?, ?)",
                              [(record_id, m) for m in json.loads(ids_json)])
        return record_id

    def records(self, *, op: str | None = None, since: str | None = None, memory_id: int | None = None,
                limit: int | None = None) -> list[AuditRecord]:
        clauses: list[str] = ["1=1"]
        params: list[object] = []
        if op:
            clauses.append("op = ?")
            params.append(op)
        if since:
            clauses.append("at >= ?")
            params.append(since)
        if memory_id is not None:
            clauses.append("id IN (SELECT audit_id FROM audit_memories WHERE memory_id = ?)")
            params.append(memory_id)
        sql = f"SELECT {_COLS} FROM audit_log WHERE {' AND '.join(clauses)} ORDER BY id"
        rows = [_record(r) for r in self.conn.execute(sql, params)]
        return rows[-limit:] if limit else rows

    def verify(self) -> tuple[int, int | None, str, str]:
        """(records checked, first broken id or None, reason, the last record's hash).

        The memory index (audit_memories, which `audit show` and `audit log --memory` read) must list exactly each
        record's memory ids: it is outside the hashes, so deleting its rows would otherwise hide a record from a
        memory's history unnoticed. Cutting off the newest records cannot be seen from inside the file: keep the
        last hash somewhere else to check that."""
        prev = GENESIS
        expected_id = 1
        n = 0
        # The index is read alongside the log, both in id order, rather than loaded whole: a million memories
        # make millions of index rows.
        index = itertools.groupby(self.conn.execute(
            "SELECT audit_id, memory_id FROM audit_memories ORDER BY audit_id, memory_id"), key=lambda r: r[0])
        entry = next(index, None)
        for row in self.conn.execute(
            "SELECT id, at, actor, op, memory_ids, detail, prev_hash, hash FROM audit_log ORDER BY id"
        ):
            n += 1
            rid, at, actor, op, ids_json, detail_json, prev_hash, h = row
            if rid != expected_id:
                return n, rid, f"record {expected_id} is missing (next is {rid})", prev
            if prev_hash != prev:
                return n, rid, "previous-hash link does not match the record before it", prev
            try:
                recomputed = record_hash(rid, at, actor, op, ids_json, detail_json, prev)
            except (ValueError, TypeError):
                return n, rid, "record is not valid JSON", prev
            if recomputed != h:
                return n, rid, "record content does not match its hash", h
            if entry is not None and entry[0] < rid:
                return n, entry[0], "the memory index names a record that is not in the log", h
            listed = []
            if entry is not None and entry[0] == rid:
                listed = [memory_id for _, memory_id in entry[1]]
                entry = next(index, None)
            if listed != json.loads(ids_json):
                return n, rid, "the memory index does not list this record's memory ids", h
            prev = h
            expected_id += 1
        if entry is not None:
            return n, entry[0], "the memory index names a record that is not in the log", prev
        return n, None, "ok", prev

    def missing_guards(self) -> list[str]:
        """The append-only triggers (and the id mark) that should exist and do not."""
        sql = ("SELECT tgname FROM pg_trigger WHERE tgrelid IN ('audit_log'::regclass, 'memories'::regclass)"
               if self.db.postgres else "SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {r[0] for r in self.conn.execute(sql)}
        return [t for t in ("audit_log_no_update", "audit_log_no_delete", "memories_id_mark") if t not in present]

    def unrecorded_memory(self) -> int | None:
        """A stored memory that no record names (ids are never reused, so its creating record is gone: the log was
        cut or emptied), or None."""
        row = self.conn.execute("SELECT m.id FROM memories m WHERE NOT EXISTS (SELECT 1 FROM audit_memories a "
                                "WHERE a.memory_id = m.id) ORDER BY m.id LIMIT 1").fetchone()
        return row[0] if row else None

    def seals(self) -> dict[int, str]:
        """Every memory seal the log holds, by memory id (the creating record's)."""
        out: dict[int, str] = {}
        for (detail,) in self.conn.execute("SELECT detail FROM audit_log WHERE detail LIKE '%\"seals\"%'"):
            sealed = json.loads(detail).get("seals")
            if isinstance(sealed, dict):
                out.update({int(k): v for k, v in sealed.items()})
        return out

    def has_hash(self, record_hash: str) -> bool:
        """A record with this hash, or with a hash starting with it (16 hex digits at least, as people copy)."""
        record_hash = record_hash.strip().lower()
        if len(record_hash) < 16 or any(c not in "0123456789abcdef" for c in record_hash):
            return False
        return self.conn.execute("SELECT 1 FROM audit_log WHERE substr(hash, 1, ?) = ?",
                                 [len(record_hash), record_hash]).fetchone() is not None
