"""The library on real temporary databases with a deterministic embedder (ranking logic, provenance, dedup)."""

import json
import sqlite3

import pytest

from memcli.core import Memory, RawInput
from memcli.errors import DatabaseError, InputError, ModelError
from memcli.types import Filters
from tests.conftest import HashEmbedder
from tests.conftest import outside

CHAT = "\n".join(json.dumps(r) for r in [
    {"id": "c1", "speaker": "Ana", "text": "I adopted a grey cat named Miso", "timestamp": "2024-01-05T10:00:00Z"},
    {"id": "c2", "speaker": "Bo", "text": "Lovely! Does Miso like tuna?", "timestamp": "2024-01-05T10:01:00Z"},
    {"id": "c3", "speaker": "Ana", "text": "She prefers salmon actually", "timestamp": "2024-01-05T10:02:00Z"},
    {"id": "c4", "speaker": "Bo", "text": "I am flying to Tokyo in April", "timestamp": "2024-02-01T09:00:00Z"},
])


def test_remember_keeps_verbatim_text_speaker_time_and_external_ids(hash_memory):
    res = hash_memory.remember([RawInput("chat.jsonl", CHAT.encode())], scope="home", tags=["pets"])
    assert len(res.created) == 4 and res.messages == 4
    hits = hash_memory.recall("salmon", limit=1)
    assert hits[0].text == "She prefers salmon actually"
    assert hits[0].speaker == "Ana" and hits[0].scope == "home" and hits[0].tags == ["pets"]
    assert hits[0].occurred_at == "2024-01-05T10:02:00Z"
    assert hits[0].sources == [{"source_id": res.sources[0], "message_id": "c3"}]
    raw = hash_memory.store.conn.execute("SELECT raw FROM sources WHERE id = ?", [res.sources[0]]).fetchone()[0]
    assert raw == CHAT


def test_reingesting_same_content_does_not_duplicate(hash_memory):
    first = hash_memory.remember([RawInput("a", CHAT)])
    again = hash_memory.remember([RawInput("b", CHAT)])
    assert again.created == [] and sorted(again.existing) == sorted(first.created)
    # Same message inside a different transcript links to the existing memory instead of copying it.
    overlap = CHAT.splitlines()[0] + "\n" + json.dumps({"id": "z9", "text": "brand new line"})
    third = hash_memory.remember([RawInput("c", overlap)], fmt="jsonl")
    assert len(third.created) == 1 and third.existing == [first.created[0]]
    assert hash_memory.stats()["memories"] == 5
    hits = hash_memory.recall("adopted grey cat Miso", limit=1)
    assert {s["message_id"] for s in hits[0].sources} == {"c1"}
    assert len(hits[0].sources) == 2  # two ingests, two provenance links


def test_text_without_time_uses_at_then_now(hash_memory):
    hash_memory.remember([RawInput("arg", "bought a red bicycle")], at="2023-06-01T08:00:00Z")
    hash_memory.remember([RawInput("arg", "plain note with no time")])
    [bike] = hash_memory.recall("red bicycle", limit=1)
    assert bike.occurred_at == "2023-06-01T08:00:00Z"
    [note] = hash_memory.recall("plain note", limit=1)
    assert note.occurred_at >= bike.created_at[:4]


def test_filters_scope_tag_kind_and_time(hash_memory):
    hash_memory.remember([RawInput("a", CHAT)], scope="home", tags=["pets"])
    hash_memory.remember([RawInput("b", "Tokyo office opens in April")], scope="work", tags=["travel"],
                         at="2024-03-01")
    assert {h.scope for h in hash_memory.recall("Tokyo April", filters=Filters(scope="work"))} == {"work"}
    assert all("travel" in h.tags for h in hash_memory.recall("Tokyo", filters=Filters(tags=["travel"])))
    since = hash_memory.recall("Tokyo April", filters=Filters(since="2024-02-15T00:00:00Z"))
    assert [h.text for h in since] == ["Tokyo office opens in April"]
    until = hash_memory.recall("Tokyo April", filters=Filters(until="2024-02-15T00:00:00Z"))
    assert "Tokyo office opens in April" not in [h.text for h in until]
    assert hash_memory.recall("Tokyo", filters=Filters(kinds=["summary"])) == []


def test_recall_reinforces_unless_told_not_to(hash_memory):
    hash_memory.remember([RawInput("a", "the spare key is under the blue pot")])
    hash_memory.recall("spare key", touch=False)
    row = hash_memory.store.conn.execute("SELECT recall_count, last_recalled_at, strength FROM memories").fetchone()
    assert row == (0, None, 1.0)
    hash_memory.recall("spare key")
    hash_memory.recall("blue pot")
    count, last, strength = hash_memory.store.conn.execute(
        "SELECT recall_count, last_recalled_at, strength FROM memories").fetchone()
    assert count == 2 and last is not None and strength > 1.0


def test_fts_syntax_in_queries_never_errors(hash_memory):
    hash_memory.remember([RawInput("a", 'He said "NEAR" OR (maybe) AND * not')])
    for q in ['"', "*", "NEAR(", "a OR", "(x", "AND", "col:val", "^start", "'; DROP TABLE memories; --", "-x"]:
        hash_memory.recall(q)
    assert hash_memory.stats()["memories"] == 1


def test_unrelated_query_abstains(hash_memory):
    hash_memory.remember([RawInput("a", "my passport number is in the drawer")])
    assert hash_memory.recall("zebra quantum volcano") == []


def test_failed_ingest_writes_nothing(hash_memory):
    hash_memory.remember([RawInput("ok", "first memory")])
    before = hash_memory.stats()
    with pytest.raises(InputError):
        hash_memory.remember([RawInput("good", "valid text"), RawInput("bad", b"\xff\xfe")])
    with pytest.raises(InputError):
        hash_memory.remember([RawInput("x.jsonl", '{"text": "a"}\n{oops')], fmt="jsonl")
    assert hash_memory.stats() == before


def test_mixing_embedding_models_is_refused_and_reindex_fixes_it(db_path):
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "alpha beta gamma")])

    class OtherEmbedder(HashEmbedder):
        model_id = "other-32"
        dimension = 32

    with Memory(db_path, embedder=OtherEmbedder()) as mem:
        with pytest.raises(ModelError, match="memcli reindex"):
            mem.remember([RawInput("b", "delta")])
        with pytest.raises(ModelError, match="memcli reindex"):
            mem.recall("alpha")
        assert mem.reindex() == 1
        assert mem.stats()["embedding_model"] == "other-32"
        assert mem.recall("alpha beta")[0].text == "alpha beta gamma"


def test_not_sqlite_and_foreign_sqlite_files_are_refused_untouched(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 10)
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        Memory(junk, embedder=HashEmbedder()).stats()
    assert junk.read_bytes() == b"this is not a database at all" * 10

    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(DatabaseError, match="did not create"):
        Memory(other, embedder=HashEmbedder()).stats()
    assert other.read_bytes() == before


def test_a_database_upgraded_by_a_newer_memcli_is_refused_untouched(db_path):
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("note", "kept as it is")])
        outside(mem).execute("INSERT INTO _sqlite_migrations(migration_set, name, applied_at) "
                               "VALUES ('memcli', 'm999_from_the_future', '2030-01-01')")
    before = db_path.read_bytes()
    with pytest.raises(DatabaseError, match="newer memcli .*m999_from_the_future"):
        Memory(db_path, embedder=HashEmbedder()).stats()
    assert db_path.read_bytes() == before


def test_database_file_is_private_and_uses_wal(db_path):
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "private")])
        assert mem.store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert mem.store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert (db_path.stat().st_mode & 0o777) == 0o600


def test_long_text_is_chunked_not_cut(db_path):
    class TinyWindow(HashEmbedder):
        def chunk(self, text):
            words = text.split()
            return [" ".join(words[i : i + 50]) for i in range(0, len(words), 40)]

    body = " ".join(f"filler{i}" for i in range(300)) + " the treasure is buried under the old oak"
    with Memory(db_path, embedder=TinyWindow()) as mem:
        mem.remember([RawInput("a", body)])
        n_chunks = mem.store.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        assert n_chunks > 1
        assert mem.recall("treasure buried oak")[0].text == body


def test_remember_reports_embedding_progress(hash_memory):
    calls = []
    hash_memory.remember([RawInput("a", CHAT)], progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (4, 4)


def test_same_note_at_different_stated_times_is_two_memories(hash_memory):
    hash_memory.remember([RawInput("a", "went running in the park")], at="2024-05-06")
    hash_memory.remember([RawInput("a", "went running in the park")], at="2024-05-07")
    again = hash_memory.remember([RawInput("a", "went running in the park")], at="2024-05-07")
    assert hash_memory.stats()["memories"] == 2 and again.created == []


def test_concurrent_first_open_migrates_once(db_path):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open_and_count, args=(str(db_path),)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    from memcli.storage.schema import _migrations

    conn = sqlite3.connect(db_path)
    names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
    assert sorted(names) == sorted(m.name for m in _migrations()._migrations)  # each applied exactly once


def _open_and_count(path):
    with Memory(path, embedder=HashEmbedder()) as mem:
        mem.stats()


def test_migration_names_constant_matches_the_migrations(db_path):
    """Opening a current database trusts MIGRATION_NAMES (no sqlite-utils import): it must list every migration,
    and a database missing one of them must still be migrated."""
    from memcli.storage import open_database
    from memcli.storage.schema import MIGRATION_NAMES, _migrations

    assert tuple(m.name for m in _migrations()._migrations) == MIGRATION_NAMES
    db = open_database(db_path)
    db.conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", [MIGRATION_NAMES[-1]])
    db.conn.close()
    db = open_database(db_path)
    assert MIGRATION_NAMES[-1] in {r[0] for r in db.conn.execute("SELECT name FROM _sqlite_migrations")}
    db.conn.close()


def test_keys_stored_twice_by_an_older_database_are_kept_once(db_path):
    """Before m006 every memory held its context and embedding key beside the identical FTS row; the migration
    drops the copies, and everything that reads them (audit, export, re-embedding) still sees the same text."""
    from memcli.storage import open_database
    from memcli.storage.portable import memory_records

    transcript = "\n".join(json.dumps({"speaker": s, "text": t}) for s, t in [
        ("Ana", "I adopted a cat named Miso"), ("Bo", "Lovely! What colour is Miso?"), ("Ana", "Grey and white")])
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("chat", transcript)], fmt="jsonl")
        before = {r["id"]: (r["key_text"], r["context"]) for r in memory_records(mem.store, False)}
        assert all(key and context for key, context in before.values())
        stored = mem.store.conn.execute("SELECT key_text, context FROM memories").fetchall()
        assert stored == [("", "")] * 3
        # As an older version left it:
        outside(mem).execute("UPDATE memories SET key_text = (SELECT text FROM memories_fts f WHERE f.rowid = "
                        "memories.id), context = (SELECT context FROM memories_fts f WHERE f.rowid = "
                        "memories.id)")
        outside(mem).execute("DELETE FROM _sqlite_migrations WHERE name = 'm006_keys_stored_once'")
    db = open_database(db_path)
    assert db.conn.execute("SELECT key_text, context FROM memories").fetchall() == [("", "")] * 3
    db.conn.close()
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        after = {r["id"]: (r["key_text"], r["context"]) for r in memory_records(mem.store, False)}
        assert after == before
        assert mem.store.memories.row(1)["context"] == before[1][1]
        assert [k for batch in mem.store.keys.iter_embedding_keys() for _, k in batch] == [k for k, _ in before.values()]
    db = open_database(db_path)
    assert "valid_until" in {r[1] for r in db.conn.execute("PRAGMA table_info(memories)")}
    db.conn.close()


def test_float32_vectors_of_an_older_database_become_int8_codes(db_path):
    """m005: an older database's float32 vec0 table is rebuilt as int8 codes; recall ranks as a new one does."""
    import numpy as np

    from memcli.storage import open_database
    from memcli.storage.vector_codec import encode

    texts = ["I adopted a grey cat named Miso", "The deploy key rotates every 90 days", "My sister lives in Porto"]
    embedder = HashEmbedder()
    with Memory(db_path, embedder=embedder) as mem:
        mem.remember([RawInput("arg", t) for t in texts])
        expected = [[h.id for h in mem.recall(q, touch=False)] for q in ("cat", "deploy key", "sister")]
        floats = np.stack([embedder.embed_query(t) for t in texts]).astype(np.float32)
        conn = outside(mem)
        conn.execute("DROP TABLE vec_chunks")
        conn.execute("CREATE VIRTUAL TABLE vec_chunks USING vec0(embedding float[%d] distance_metric=cosine)"
                     % floats.shape[1])
        chunk_of = dict(conn.execute("SELECT memory_id, id FROM chunks"))
        for mid, vec in zip(sorted(chunk_of), floats):
            conn.execute("INSERT INTO vec_chunks(rowid, embedding) VALUES (?, ?)", [chunk_of[mid], vec.tobytes()])
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_int8_vectors'")
    db = open_database(db_path)
    assert "int8[" in db.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'vec_chunks'").fetchone()[0]
    stored = [np.frombuffer(r[0], dtype=np.int8) for r in db.conn.execute(
        "SELECT embedding FROM vec_chunks ORDER BY rowid")]
    assert np.array_equal(np.stack(stored), encode(floats))
    db.conn.close()
    with Memory(db_path, embedder=embedder) as mem:
        assert [[h.id for h in mem.recall(q, touch=False)] for q in ("cat", "deploy key", "sister")] == expected


def test_recall_takes_any_limit_from_python(db_path):
    """sqlite-vec's KNN stops at k = 4,096: a large limit scans instead of failing."""
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("notes", "\n\n".join(f"note {i} about the garden" for i in range(30)))])
        assert len(mem.recall("garden", limit=2000)) == 30


def test_a_message_that_inherits_its_time_is_not_merged_with_the_same_words_on_another_day(db_path):
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        a = mem.remember([RawInput("one", "[2024-03-01 10:00] Ana: how did the exam go?\nBob: I passed")]).created
        b = mem.remember([RawInput("two", "[2024-06-01 10:00] Ana: and the driving test?\nBob: I passed")]).created
        assert len(set(a + b)) == 4  # Bob's June 'I passed' is its own memory, dated June
        assert mem.store.memories.row(b[1])["occurred_at"].startswith("2024-06-01")
        again = mem.remember([RawInput("one again", "[2024-03-01 10:00] Ana: how did the exam go?\nBob: I passed")])
        assert again.created == [] and sorted(again.existing) == sorted(a)  # the same telling is still one memory


def test_remembering_the_same_input_again_adds_its_tags_and_importance(db_path):
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        first = mem.remember([RawInput("a", "blood type is O negative")], tags=["health"]).created
        again = mem.remember([RawInput("a", "blood type is O negative")], tags=["work"], importance=1.0)
        assert again.created == [] and again.existing == first
        hit = mem.recall("blood type", touch=False)[0]
        assert hit.tags == ["health", "work"]
        assert mem.store.memories.retention_rows(first)[0][3] == 5.0  # strength 1 + 4 x importance


def test_setting_a_model_keeps_the_rest_of_the_config_file(tmp_path, monkeypatch):
    """Only memcli's own line changes: other keys, tables and comments stay; odd paths stay valid TOML."""
    import os
    import tomllib

    from memcli.config import load, set_value

    cfg = tmp_path / "config.toml"
    monkeypatch.setenv("MEMCLI_CONFIG", str(cfg))
    cfg.write_text('# my settings\nlimit = 5\n"my key" = "x"\n\n[recall]\ndepth = 100\n')
    odd = str(tmp_path / 'model 😀 "q" \\ tab\t.gguf')
    set_value("generator", odd)
    assert load()["generator"] == odd
    data = tomllib.loads(cfg.read_text())
    assert data["limit"] == 5 and data["my key"] == "x" and data["recall"] == {"depth": 100}
    assert cfg.read_text().startswith("# my settings") and oct(os.stat(cfg).st_mode & 0o777) == "0o600"
    set_value("generator", None)
    assert "generator" not in load() and tomllib.loads(cfg.read_text())["recall"] == {"depth": 100}
    with pytest.raises(InputError, match="UTF-8"):
        set_value("embedder", "caf\udce9.gguf")


def test_an_empty_file_or_a_device_is_not_taken_for_a_database(tmp_path):
    import os

    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    os.chmod(empty, 0o644)
    with pytest.raises(DatabaseError, match="file is empty"):
        Memory(empty, embedder=HashEmbedder(), create=False).stats()
    assert empty.read_bytes() == b""  # a reading command leaves it as it was
    with Memory(empty, embedder=HashEmbedder()) as mem:  # remember may make it one, owner-only
        mem.remember([RawInput("a", "first note")])
    assert oct(os.stat(empty).st_mode & 0o777) == "0o600"
    for odd in (tmp_path, "/dev/null"):
        with pytest.raises(DatabaseError, match="not a regular file"):
            Memory(odd, embedder=HashEmbedder()).stats()


def test_doctor_and_completion_never_upgrade_a_database(tmp_path, monkeypatch):
    from memcli.cli.completion import complete_scope
    from memcli.doctor import run_checks
    from memcli.storage.schema import MIGRATION_NAMES

    db = tmp_path / "m.db"
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "a note")], scope="home")
        outside(mem).execute("DELETE FROM _sqlite_migrations WHERE name = ?", [MIGRATION_NAMES[-1]])
    monkeypatch.setenv("MEMCLI_DB", str(db))

    def recorded():
        conn = sqlite3.connect(db)
        try:
            return {r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")}
        finally:
            conn.close()

    complete_scope(None, "h")
    checks = {c.name: c for c in run_checks(db, "hash", "hash")}
    assert not checks["database"].ok and "pending " + MIGRATION_NAMES[-1] in checks["database"].detail
    assert MIGRATION_NAMES[-1] not in recorded()  # neither a TAB nor doctor ran the upgrade
