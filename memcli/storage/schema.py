"""Schema, applied through sqlite-utils Migrations (named, each in its own transaction, recorded in the database).

The vec0 table is not created here: its dimension belongs to the embedding model, which is known only when the
first vector is written (see Store.ensure_embedding_model).
"""

from __future__ import annotations

import re

MIGRATION_SET = "memcli"
META_ID_MARK = "memory_id_mark"  # the highest memory id ever deleted (m007)
# The names of _migrations(), in order (a test keeps them equal): opening a current database checks these with
# one query and never imports sqlite-utils (~45 ms of every command's start-up).
MIGRATION_NAMES = ("m001_core", "m002_forget_audit", "m003_consolidation", "m004_supersession",
                   "m005_int8_vectors", "m006_keys_stored_once", "m007_ids_never_reused",
                   "m008_memory_seals", "m009_expiry", "m010_vector_signs")


def _migrations():
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)

    @migrations()
    def m001_core(db):
        _run_statements(
            db,
            """
            CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );
            CREATE TABLE sources (
                id INTEGER PRIMARY KEY,
                origin TEXT NOT NULL,          -- 'stdin', 'arg', a file path
                format TEXT NOT NULL,
                scope TEXT NOT NULL,
                sha256 TEXT NOT NULL,          -- of the raw content
                received_at TEXT NOT NULL,
                raw TEXT NOT NULL,             -- verbatim input
                n_messages INTEGER NOT NULL,
                stated_at TEXT NOT NULL DEFAULT '' -- --at given at ingest: same text at another time is new
            );
            CREATE UNIQUE INDEX sources_identity ON sources(sha256, scope, format, stated_at);
            CREATE TABLE messages (
                id INTEGER PRIMARY KEY,
                source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                speaker TEXT,
                role TEXT,
                text TEXT NOT NULL,
                occurred_at TEXT,              -- from the record, else NULL
                external_id TEXT
            );
            CREATE INDEX messages_source ON messages(source_id, seq);
            CREATE INDEX messages_external ON messages(external_id);
            CREATE TABLE memories (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL DEFAULT 'episodic',
                text TEXT NOT NULL,
                speaker TEXT,
                scope TEXT NOT NULL DEFAULT 'default',
                occurred_at TEXT NOT NULL,
                created_at TEXT NOT NULL,
                strength REAL NOT NULL DEFAULT 1.0,
                recall_count INTEGER NOT NULL DEFAULT 0,
                last_recalled_at TEXT,
                status TEXT NOT NULL DEFAULT 'active',
                content_hash TEXT NOT NULL UNIQUE,
                key_text TEXT NOT NULL,        -- what the embedding was computed from
                context TEXT NOT NULL DEFAULT '' -- neighbouring turns, an extra full-text key
            );
            CREATE INDEX memories_scope ON memories(scope, occurred_at);
            CREATE INDEX memories_occurred ON memories(occurred_at);
            CREATE INDEX memories_kind ON memories(kind);
            CREATE TABLE memory_tags (
                memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
                tag TEXT NOT NULL,
                PRIMARY KEY (memory_id, tag)
            ) WITHOUT ROWID;
            CREATE INDEX memory_tags_tag ON memory_tags(tag);
            CREATE TABLE memory_messages (
                memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
                message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
                PRIMARY KEY (memory_id, message_id)
            ) WITHOUT ROWID;
            CREATE INDEX memory_messages_message ON memory_messages(message_id);
            CREATE TABLE chunks (
                id INTEGER PRIMARY KEY,        -- rowid in vec_chunks
                memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
                seq INTEGER NOT NULL
            );
            CREATE INDEX chunks_memory ON chunks(memory_id);
            CREATE VIRTUAL TABLE memories_fts USING fts5(
                text, context, tokenize = 'porter unicode61 remove_diacritics 2'
            );
            """
        )

    @migrations()
    def m002_forget_audit(db):
        _run_statements(
            db,
            """
            ALTER TABLE memories ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE memories ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE memories ADD COLUMN flags TEXT;   -- JSON list of scanner findings, NULL when clean
            ALTER TABLE sources ADD COLUMN redacted_at TEXT; -- raw dropped because part of it was forgotten
            CREATE TABLE memory_links (
                memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
                relation TEXT NOT NULL,        -- derived_from | merged_into | superseded_by
                target_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
                PRIMARY KEY (memory_id, relation, target_id)
            ) WITHOUT ROWID;
            CREATE INDEX memory_links_target ON memory_links(target_id, relation);
            CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                actor TEXT NOT NULL,
                op TEXT NOT NULL,
                memory_ids TEXT NOT NULL,      -- JSON list; ids and hashes only, never memory text
                detail TEXT NOT NULL,          -- canonical JSON
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            );
            CREATE INDEX audit_log_op ON audit_log(op, at);
            CREATE TABLE audit_memories (
                audit_id INTEGER NOT NULL REFERENCES audit_log(id),
                memory_id INTEGER NOT NULL,    -- no foreign key: the record outlives a forgotten memory
                PRIMARY KEY (memory_id, audit_id)
            ) WITHOUT ROWID;
            CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
            CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
            INSERT INTO memories_fts(memories_fts, rank) VALUES ('secure-delete', 1)
            """,
        )

    @migrations()
    def m003_consolidation(db):
        _run_statements(
            db,
            """
            CREATE TABLE summaries (
                memory_id INTEGER PRIMARY KEY REFERENCES memories(id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                period TEXT NOT NULL,          -- 'day'
                period_key TEXT NOT NULL,      -- e.g. '2024-01-05'
                UNIQUE (scope, period, period_key)
            );
            """,
        )

    @migrations()
    def m004_supersession(db):
        _run_statements(
            db,
            """
            ALTER TABLE memories ADD COLUMN valid_until TEXT;  -- set when a newer fact supersedes this one
            """,
        )

    @migrations()
    def m005_int8_vectors(db):
        # Before m006: after a large UPDATE in the same transaction, sqlite-vec's full scan ran 15x slower
        # (16 s instead of 1 s for 100k vectors).
        _requantize_vectors(db.conn)

    @migrations()
    def m006_keys_stored_once(db):
        # The FTS row already holds the message text and its context; storage/store.py KEY_TEXT reads them back.
        _run_statements(
            db,
            """
            UPDATE memories SET key_text = ''
                WHERE key_text = (SELECT f.text FROM memories_fts f WHERE f.rowid = memories.id);
            UPDATE memories SET context = '' WHERE context != '';
            """,
        )

    @migrations()
    def m007_ids_never_reused(db):
        # SQLite hands a deleted rowid out again; an agent acting on a remembered id, or `audit show ID`, would then
        # reach another memory. New memories take ids above every id ever used (storage/store.py NEXT_MEMORY_ID); the
        # audit log names every memory ever stored, so it seeds the mark for ids deleted before this migration.
        _run_statements(
            db,
            f"""
            INSERT OR REPLACE INTO meta(key, value) VALUES ('{META_ID_MARK}', (SELECT max(
                coalesce((SELECT max(id) FROM memories), 0), coalesce((SELECT max(memory_id) FROM audit_memories), 0),
                coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{META_ID_MARK}'), 0))));
            CREATE TRIGGER IF NOT EXISTS memories_id_mark AFTER DELETE ON memories BEGIN
                UPDATE meta SET value = max(CAST(value AS INTEGER), old.id) WHERE key = '{META_ID_MARK}';
            END;
            """,
        )

    @migrations()
    def m008_memory_seals(db):
        # A random nonce per memory: its creating audit record holds H(nonce || what the memory says), so
        # `audit verify` catches a row edited in the file, and once the memory is forgotten (nonce and all) the
        # record's seal says nothing about the text (storage/seals.py).
        _add_column(db, "memories", "nonce", "BLOB")

    @migrations()
    def m009_expiry(db):
        # remember --expires: recall stops returning the memory then; consolidate erases it.
        _add_column(db, "memories", "expires_at", "TEXT")
        _run_statements(db, "CREATE INDEX IF NOT EXISTS memories_expiry ON memories(expires_at) "
                            "WHERE expires_at IS NOT NULL;")

    @migrations()
    def m010_vector_signs(db):
        # Sign codes for the one-shot search (storage/vector_signs.py), for a database already past the size from
        # which they are kept; a smaller one starts keeping them when it gets there.
        _sign_vectors(db.conn)

    return migrations


def _sign_vectors(conn) -> None:
    from .database import Database
    from .meta import Meta
    from .vector_signs import FAST_FROM
    from .vectors import Vectors

    db = Database(conn, guard=False)
    vectors = Vectors(db, Meta(db))
    if vectors.model() is not None and db.has_table("vec_chunks") and \
            db.one("SELECT count(*) FROM chunks")[0] >= FAST_FROM:
        vectors.build_signs()


def _add_column(db, table: str, column: str, sql_type: str) -> None:
    """ALTER TABLE ... ADD COLUMN, once (a migration may run again on a database whose record of it was lost).
    The names are constants of the migrations, never input."""
    if column not in {r[1] for r in db.conn.execute(f"PRAGMA table_info({table})")}:
        db.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")


def _requantize_vectors(conn) -> None:
    """float32 vectors become int8 codes (storage/vector_codec.py): a quarter of the size, same ranking."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'vec_chunks'").fetchone()
    found = re.search(r"embedding\s+float\[(\d+)\]", row[0]) if row else None
    if found is None:
        return
    import numpy as np

    from .vector_codec import encode, table_sql

    dim = int(found.group(1))
    conn.execute("CREATE TEMP TABLE vec_codes(id INTEGER PRIMARY KEY, code BLOB NOT NULL)")
    cursor = conn.execute("SELECT rowid, embedding FROM vec_chunks")
    while rows := cursor.fetchmany(4096):
        codes = encode(np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim))
        conn.executemany("INSERT INTO vec_codes(id, code) VALUES (?, ?)",
                         [(r[0], code.tobytes()) for r, code in zip(rows, codes)])
    conn.execute("DROP TABLE vec_chunks")
    conn.execute(table_sql(dim))
    conn.execute("INSERT INTO vec_chunks(rowid, embedding) SELECT id, vec_int8(code) FROM temp.vec_codes")
    conn.execute("DROP TABLE temp.vec_codes")


def _run_statements(db, script: str) -> None:
    """executescript() would COMMIT the migration's transaction; run complete statements one by one instead."""
    import sqlean

    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlean.complete_statement(pending):
            db.execute(pending)
            pending = ""
    if pending.strip():
        db.execute(pending)


def apply_migrations(db) -> None:
    """Under BEGIN IMMEDIATE, so two processes opening a new database at once migrate it once, in turn."""
    migrations = _migrations()
    if not migrations.pending(db):
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        if migrations.pending(db):  # another process may have migrated while we waited for the lock
            migrations.apply(db)  # each migration nests as a savepoint inside this transaction
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def _tables(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}


def holds_memories(conn) -> bool:
    """A database some earlier memcli filled (not a new, empty one)."""
    if "memories" not in _tables(conn):
        return False
    return conn.execute("SELECT EXISTS (SELECT 1 FROM memories)").fetchone()[0] == 1


def is_foreign_database(conn) -> bool:
    """A non-empty SQLite file without memcli's migration records was made by something else."""
    tables = _tables(conn)
    if not tables:
        return False
    if "_sqlite_migrations" not in tables:
        return True
    rows = conn.execute("SELECT count(*) FROM _sqlite_migrations WHERE migration_set = ?", [MIGRATION_SET]).fetchone()
    return rows[0] == 0


def needs_migration(conn) -> bool:
    """Any of MIGRATION_NAMES not yet recorded (a new file counts), without importing sqlite-utils."""
    if "_sqlite_migrations" not in _tables(conn):
        return True
    return not _recorded(conn).issuperset(MIGRATION_NAMES)


def pending_migrations(conn) -> list[str]:
    """The names of MIGRATION_NAMES a database has not applied yet, in order."""
    done = _recorded(conn) if "_sqlite_migrations" in _tables(conn) else set()
    return [name for name in MIGRATION_NAMES if name not in done]


def unknown_migrations(conn) -> list[str]:
    """Migrations a newer memcli recorded. This version would misread what they changed: an older memcli that
    opened a database with int8 vectors and keys stored once rewrote its vectors from empty keys."""
    if "_sqlite_migrations" not in _tables(conn):
        return []
    return sorted(_recorded(conn) - set(MIGRATION_NAMES))


def _recorded(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [MIGRATION_SET])}
