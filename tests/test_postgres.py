"""What only the Postgres backend has: URLs, per-role isolation enforced by the server, erasure from the server's
table files, writers on several machines, its migrations, and moving a memory to a server and back. The shared
storage-contract tests (test_changes.py, test_core.py, test_forget.py, …) run on both backends through the
`target`/`hash_memory` fixtures (conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memcli.core import Memory, RawInput
from memcli.errors import DatabaseBusy, DatabaseError, InputError
from memcli.types import Filters
from tests.conftest import HashEmbedder, outside, pg_role

MEMCLI = [sys.executable, "-m", "memcli"]


def run(*args, env=None, cwd=None, input=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEMCLI_")}
    return subprocess.run([*MEMCLI, *args], capture_output=True, text=True, env={**base, **(env or {})},
                          cwd=cwd, input=input, timeout=300)


# -- a URL is never a path --------------------------------------------------------------------------------------------
def test_a_postgres_url_is_never_taken_for_a_file_path(tmp_path):
    """Reported: `--db postgresql://…` made a directory called 'postgresql:' and a SQLite file in it, and said ok."""
    env = {"MEMCLI_EMBEDDER": "", "MEMCLI_CONFIG": str(tmp_path / "c.toml")}
    bad = run("--db", f"postgresql://nobody@/postgres?host={tmp_path}/no-server", "remember", "hello",
              env=env, cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1, bad.stderr
    assert "cannot connect" in bad.stderr and "remembered" not in bad.stdout
    for typo in ("postgress://host/db", "mysql://host/db", "sqlite:///x.db"):
        r = run("--db", typo, "remember", "hello", env=env, cwd=tmp_path)
        assert r.returncode == 1 and "unsupported database URL" in r.stderr and r.stderr.count("\n") == 1
    r = run("remember", "hello", env={**env, "MEMCLI_DB": "postgress://host/db"}, cwd=tmp_path)
    assert r.returncode == 1 and "unsupported database URL" in r.stderr
    (tmp_path / "c.toml").write_text('db = "ftp://host/x"\n')
    r = run("remember", "hello", env=env, cwd=tmp_path)
    assert r.returncode == 1 and "c.toml: db: unsupported database URL" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]  # nothing was created anywhere


def test_the_cli_on_a_server_end_to_end(pg_url, tmp_path):
    env = {"MEMCLI_DB": pg_url, "MEMCLI_EMBEDDER": "", "MEMCLI_CONFIG": str(tmp_path / "c.toml")}
    r = run("recall", "anything", env=env)  # a reading command does not create the memory
    assert r.returncode == 1 and "no memory for role" in r.stderr
    assert run("remember", "-", env=env, input="I moved to Lisbon in March and my cat is called Miso").returncode == 0
    hits = json.loads(run("recall", "where do I live?", "--json", env=env).stdout)
    assert hits and "Lisbon" in hits[0]["text"]
    stats = json.loads(run("stats", "--json", env=env).stdout)
    assert stats["memories"] == 1 and stats["database"] == pg_url  # no password in this URL to hide
    assert run("audit", "verify", env=env).returncode == 0
    assert run("forget", str(hits[0]["id"]), "--yes", env=env).returncode == 0
    assert json.loads(run("stats", "--json", env=env).stdout)["memories"] == 0


def test_a_password_in_the_url_is_never_shown(pg_server, tmp_path):
    url = pg_role(pg_server).replace("@", ":s3cret-pw@", 1)  # trust auth ignores it; memcli must not print it
    env = {"MEMCLI_DB": url, "MEMCLI_EMBEDDER": "", "MEMCLI_CONFIG": str(tmp_path / "c.toml")}
    assert run("remember", "a note", env=env).returncode == 0
    shown = run("stats", "--json", env=env).stdout + run("doctor", env=env).stdout
    assert "s3cret-pw" not in shown and ":***@" in shown
    bad = run("--db", url.replace("host=", "host=/nonexistent"), "stats", env=env)
    assert bad.returncode == 1 and "s3cret-pw" not in bad.stderr


# -- isolation ----------------------------------------------------------------------------------------------------------
def test_each_role_sees_only_its_own_memories_and_the_server_enforces_it(pg_server):
    alice, bob = pg_role(pg_server, "alice_iso"), pg_role(pg_server, "bob_iso")
    with Memory(alice, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "alice's secret: the safe code is 4821")])
        schema = mem.store.conn.schema
    with Memory(bob, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("b", "bob's shopping list")])
        assert [h.text for h in mem.recall("safe code secret")] == []
        assert mem.stats()["memories"] == 1
    # not memcli's doing: bob's own SQL is refused by the server
    raw = outside(Memory(bob, embedder=HashEmbedder()))
    for sql in (f"SELECT text FROM {schema}.memories", f"SELECT * FROM {schema}.audit_log",
                f"UPDATE {schema}.memories SET text = 'x'", f"CREATE TABLE {schema}.snoop(x int)"):
        with pytest.raises(DatabaseError, match="permission denied"):
            raw.execute(sql)
    raw.close()


def test_a_schema_someone_else_prepared_under_my_name_is_refused(pg_server):
    """Another role creating memcli_<me> first could read everything I store there."""
    import psycopg

    victim = pg_role(pg_server, "victim_pre")
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute('CREATE SCHEMA "memcli_victim_pre"')  # owned by postgres, not by the victim
    with pytest.raises(DatabaseError, match="belongs to role postgres"):
        with Memory(victim, embedder=HashEmbedder()) as mem:
            mem.remember([RawInput("a", "never stored")])


def test_a_role_that_may_not_create_its_schema_is_told_what_to_ask_for(pg_server):
    import psycopg

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute('CREATE ROLE "nocreate" LOGIN')
    url = pg_server.get_uri().replace("postgres:@", "nocreate@", 1)
    with pytest.raises(DatabaseError, match="GRANT CREATE ON DATABASE"):
        with Memory(url, embedder=HashEmbedder()) as mem:
            mem.remember([RawInput("a", "x")])


# -- the audit log --------------------------------------------------------------------------------------------------
def test_the_audit_log_is_append_only_and_verify_sees_edits(pg_url):
    with Memory(pg_url, embedder=HashEmbedder()) as mem:
        for i in range(4):
            mem.remember([RawInput("a", f"note {i}")])
        assert mem.audit_verify()["ok"]
        conn = outside(mem)
        for sql in ("UPDATE audit_log SET actor = 'mallory' WHERE id = 3", "DELETE FROM audit_log WHERE id = 3",
                    "TRUNCATE audit_log CASCADE"):
            with pytest.raises(DatabaseError, match="append-only"):
                conn.execute(sql)
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")  # as the table's owner can
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 3")
        result = mem.audit_verify()
        assert result["ok"] is False and result["first_broken"] == 3 and "hash" in result["reason"]
        conn.execute("UPDATE audit_log SET actor = 'user' WHERE id = 3")
        conn.execute("DROP TRIGGER audit_log_no_update ON audit_log")
        result = mem.audit_verify()
        assert result["ok"] is False and "audit_log_no_update" in result["reason"]
        conn.execute("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW "
                     "EXECUTE FUNCTION audit_log_append_only()")
        assert mem.audit_verify()["ok"]
        conn.execute("UPDATE memories SET text = 'edited behind memcli' WHERE id = 2")  # a row, not the log
        result = mem.audit_verify()
        assert result["ok"] is False and "memory 2 does not say what its audit record sealed" in result["reason"]
        conn.close()


# -- erasure ----------------------------------------------------------------------------------------------------------
def _relation_files(pg_server, schema: str) -> list[Path]:
    """Every file of every table, index and TOAST relation in the schema (the test owns the server)."""
    import psycopg

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute("CHECKPOINT")  # dirty pages reach the files
        data = Path(admin.execute("SHOW data_directory").fetchone()[0])
        rels = admin.execute(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s OR c.oid IN (SELECT reltoastrelid FROM pg_class k JOIN pg_namespace m "
            "ON m.oid = k.relnamespace WHERE m.nspname = %s) OR c.oid IN (SELECT i.indexrelid FROM pg_index i "
            "JOIN pg_class t ON t.oid = i.indrelid WHERE t.reltoastrelid != 0 AND t.relnamespace = "
            "%s::regnamespace)", [schema, schema, schema]).fetchall()
    files = []
    for (rel,) in rels:
        if rel:
            files += [p for p in data.glob(rel + "*") if p.is_file()]
    return files


def _in_files(files: list[Path], needle: bytes) -> list[str]:
    return [f.name for f in files if needle in f.read_bytes()]


def test_forget_leaves_the_text_in_no_table_or_index_file(pg_server):
    url = pg_role(pg_server, "eraser")
    secret = "zq9secretword lives in the vault"
    with Memory(url, embedder=HashEmbedder()) as mem:
        ids = mem.remember([RawInput("s", secret), RawInput("o", "an ordinary note about gardens")]).created
        schema = mem.store.conn.schema
        assert _in_files(_relation_files(pg_server, schema), b"zq9secretword")  # there before: the test can fail
        result = mem.forget([ids[0]])
        assert result.files_scrubbed
        found = _in_files(_relation_files(pg_server, schema), b"zq9secretword")
        assert found == []
        assert mem.recall("gardens")  # the rest is intact after the tables were rewritten
        assert mem.audit_verify()["ok"]


# -- several machines ----------------------------------------------------------------------------------------------
MACHINE = textwrap.dedent("""
    import sys
    from memcli.core import Memory, RawInput
    from memcli.models.hashing import HashEmbedder
    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = 0
    with Memory(url, embedder=HashEmbedder(), actor=name) as mem:
        for i in range(n):
            mem.remember([RawInput(name, f"{name} note {i} about topic {i % 7}")], tags=[name])
            seen += len(mem.recall(f"topic {i % 7}", limit=5))
            if i % 10 == 9:
                mem.consolidate()
    print(seen)
""")


def test_two_machines_write_and_recall_one_memory_at_once(pg_url, tmp_path):
    """Two processes with their own caches and state (two machines) write, recall and consolidate against one
    server at the same time: nothing is lost or doubled, and the audit chain verifies."""
    n = 40
    procs = []
    for name in ("laptop", "server"):
        home = tmp_path / name
        home.mkdir()
        env = {**os.environ, "MEMCLI_CACHE_DIR": str(home / "cache"), "MEMCLI_STATE_DIR": str(home / "state"),
               "MEMCLI_CONFIG": str(home / "config.toml")}
        procs.append(subprocess.Popen([sys.executable, "-c", MACHINE, pg_url, name, str(n)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert int(out) > 0
    with Memory(pg_url, embedder=HashEmbedder()) as mem:
        rows = mem.get(mem.store.memories.select_ids(Filters(active_only=False, kinds=["episodic"])))
        texts = sorted(r["text"] for r in rows.values())
        assert texts == sorted(f"{m} note {i} about topic {i % 7}" for m in ("laptop", "server") for i in range(n))
        verified = mem.audit_verify()
        assert verified["ok"], verified
        records = mem.audit_log(op="remember")
        assert sorted(r.actor for r in records) == ["laptop"] * n + ["server"] * n
        created = [i for r in records for i in r.memory_ids]
        assert len(created) == len(set(created)) == 2 * n


def test_a_writer_waits_for_another_then_reports_busy(pg_url, monkeypatch):
    from memcli.storage.postgres import connection

    monkeypatch.setattr(connection, "LOCK_TIMEOUT", "300ms")
    with Memory(pg_url, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "first")])
        other = outside(mem)
        other.begin_write()  # another machine's change holds the writer lock
        try:
            with pytest.raises(DatabaseBusy):
                mem.remember([RawInput("b", "second")])
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert mem.remember([RawInput("b", "second")]).created
        assert mem.audit_verify()["ok"]


def test_a_long_lived_process_reconnects_after_the_server_dropped_it(pg_server, pg_url):
    """The MCP server keeps one connection for its life; a server restart or an idle cut must not end it."""
    import psycopg

    with Memory(pg_url, embedder=HashEmbedder(), resident_vectors=True) as mem:
        mem.remember([RawInput("a", "the spare key is under the blue pot")])
        role = pg_url.split("//", 1)[1].split("@", 1)[0]
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role])
        with pytest.raises(DatabaseError):  # the call that finds it gone fails, in one line
            mem.recall("spare key")
        assert [h.text for h in mem.recall("spare key")] == ["the spare key is under the blue pot"]
        assert mem.remember([RawInput("b", "another note")]).created and mem.audit_verify()["ok"]


# -- migrations ----------------------------------------------------------------------------------------------------
def test_a_schema_from_a_newer_memcli_is_refused(pg_url):
    with Memory(pg_url, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "x")])
        conn = outside(mem)
        conn.execute("INSERT INTO memcli_migrations(name, applied_at) VALUES ('p999_future', 'now')")
        conn.close()
    with pytest.raises(DatabaseError, match="newer memcli"):
        with Memory(pg_url, embedder=HashEmbedder()) as mem:
            mem.stats()


def test_processes_opening_a_new_schema_at_once_migrate_it_once(pg_url):
    script = ("import sys; from memcli.core import Memory; from memcli.models.hashing import HashEmbedder\n"
              "with Memory(sys.argv[1], embedder=HashEmbedder()) as m: print(m.stats()['memories'])")
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out.strip() == "0", err


# -- moving a memory ---------------------------------------------------------------------------------------------------
def _snapshot(mem: Memory) -> dict:
    ids = mem.store.memories.select_ids(Filters(active_only=False))
    records = mem.get(ids)
    return {"records": {i: {k: v for k, v in r.items() if k not in ("sources",)} for i, r in records.items()},
            "evidence": {i: [(e["text"], e["speaker"]) for e in mem.store.sources.evidence(i)] for i in ids},
            "links": {i: mem.store.links.all_of(i) for i in ids},
            "vectors": {i: mem.store.vectors.of_memory(i).round(5).tolist() for i in ids
                        if mem.store.vectors.of_memory(i) is not None},
            # the ranking, not its scores: Postgres ranks full text with ts_rank, SQLite with bm25
            "recall": [h.id for h in mem.recall("Ana lawyer boxes", touch=False)]}


def test_migrate_to_a_server_and_back_keeps_ids_vectors_and_provenance(pg_url, tmp_path):
    chat = "\n".join(json.dumps({"speaker": s, "text": t, "timestamp": f"2024-03-01T10:0{i}:00Z"})
                     for i, (s, t) in enumerate([("Ana", "packed the boxes"), ("Bo", "booked the van"),
                                                 ("Ana", "the lawyer called"), ("Bo", "great news")]))
    with Memory(tmp_path / "laptop.db", embedder=HashEmbedder()) as src:
        src.remember([RawInput("d", chat)], fmt="jsonl", tags=["move"])
        src.remember([RawInput("n", "a note to forget")])
        src.forget([5])  # id 5 is used up: the copy must not hand it out again
        src.derive("fact", "Ana has a lawyer", [3])
        src.consolidate()
        before = _snapshot(src)
        head = src.audit_verify()["last_hash"]
        with Memory(pg_url, embedder=HashEmbedder()) as server:
            report = src.migrate_to(server)
            assert report["source_audit_head"] == head
            assert _snapshot(server) == before
            assert server.audit_verify()["ok"]
            record = server.audit_log(op="import")[-1]
            assert record.detail["source_audit_head"] == head and record.detail["migrated_from"].endswith("laptop.db")
            assert server.remember([RawInput("x", "after the move")]).created[0] > 6
            with pytest.raises(InputError, match="holds or held memories before"):
                src.migrate_to(server)
            with Memory(tmp_path / "back.db", embedder=HashEmbedder()) as back:
                server.migrate_to(back)
                after = _snapshot(back)
    for part in ("records", "evidence", "links", "vectors"):
        assert {k: v for k, v in after[part].items() if k in before[part]} == before[part], part


def test_migrate_to_from_the_cli(pg_url, tmp_path):
    env = {"MEMCLI_EMBEDDER": "", "MEMCLI_CONFIG": str(tmp_path / "c.toml"), "MEMCLI_DB": str(tmp_path / "m.db")}
    assert run("remember", "I moved to Lisbon in March", env=env).returncode == 0
    r = run("migrate-to", pg_url, "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["imported"]["memories"] == 1
    hits = json.loads(run("--db", pg_url, "recall", "where do I live?", "--json", env=env).stdout)
    assert hits[0]["id"] == 1 and "Lisbon" in hits[0]["text"]
    again = run("migrate-to", pg_url, env=env)
    assert again.returncode == 1 and "holds or held memories before" in again.stderr


# -- found by a hostile review ----------------------------------------------------------------------------------------
def test_the_server_refuses_a_write_outside_a_change_however_it_is_spelled(pg_url):
    """The guard was a first-keyword check: a comment, MERGE or a second statement walked past it."""
    with Memory(pg_url, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "the original text")])
        for sql in ("-- c\nUPDATE memories SET text = 'x'", "/* c */ DELETE FROM audit_memories",
                    "MERGE INTO memories m USING (SELECT 1 AS id) s ON m.id = s.id WHEN MATCHED THEN DELETE",
                    "SELECT 1; DELETE FROM audit_memories", "WITH d AS (DELETE FROM memory_tags RETURNING 1) SELECT 1",
                    "DELETE FROM memcli_migrations", "DELETE FROM vec_chunks", "TRUNCATE memories_fts"):
            with pytest.raises(Exception, match="not authorized"):
                mem.store.conn.execute(sql)
        assert mem.audit_verify()["ok"] and mem.get([1])[1]["text"] == "the original text"


def test_another_role_cannot_hold_my_writer_or_consolidation_lock(pg_server, monkeypatch):
    """Advisory locks need no rights: keyed by the schema's name, any role could block another's writes."""
    import psycopg

    from memcli.storage.postgres import connection

    monkeypatch.setattr(connection, "LOCK_TIMEOUT", "500ms")
    alice, mallory = pg_role(pg_server, "alice_lock"), pg_role(pg_server, "mallory_lock")
    with Memory(alice, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "first")])
        schema = mem.store.conn.schema
        with psycopg.connect(mallory, autocommit=True) as evil:
            evil.execute("SELECT pg_advisory_lock(hashtext(%s))", [schema])
            evil.execute("SELECT pg_advisory_lock(hashtext(%s || ':consolidate'))", [schema])
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the key is in alice's schema
                evil.execute(f"SELECT value FROM {schema}.meta")
            evil.rollback()
            assert mem.remember([RawInput("b", "second")]).created
            assert "skipped" not in mem.consolidate()


@pytest.mark.parametrize("finish", ["audit scrub", "consolidate"])
def test_forget_says_so_when_another_session_keeps_the_old_rows_and_a_later_scrub_finishes(pg_server, finish):
    """VACUUM FULL copies row versions an open snapshot may still see: forget must not claim they are gone, and
    `memcli audit scrub` or the nightly consolidate removes them once that session has ended."""
    import psycopg

    url = pg_role(pg_server, f"eraser_{finish.split()[-1]}")
    with Memory(url, embedder=HashEmbedder()) as mem:
        ids = mem.remember([RawInput("s", "zq8secretword in the vault"), RawInput("o", "gardens")]).created
        schema = mem.store.conn.schema
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as other:
            other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            other.execute("SELECT count(*) FROM pg_class")  # an old snapshot, anywhere in the database
            assert not mem.forget([ids[0]]).files_scrubbed
            assert _in_files(_relation_files(pg_server, schema), b"zq8secretword")  # what it said is true
            other.execute("COMMIT")
        if finish == "audit scrub":
            assert mem.scrub()
        else:
            mem.consolidate()
        assert _in_files(_relation_files(pg_server, schema), b"zq8secretword") == []


def test_forgotten_text_is_not_kept_in_planner_statistics(pg_server):
    import psycopg

    url = pg_role(pg_server, "stats_role")
    with Memory(url, embedder=HashEmbedder()) as mem:
        ids = mem.remember([RawInput("p", "my bank PIN is 4821")]
                           + [RawInput(f"n{i}", f"an ordinary note number {i}") for i in range(30)]).created
        schema = mem.store.conn.schema
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
            admin.execute(f"ANALYZE {schema}.memories, {schema}.messages, {schema}.sources, {schema}.memories_fts")
            mem.forget([ids[0]])
            stats = admin.execute("SELECT string_agg(coalesce(most_common_vals::text, '') || "
                                  "coalesce(histogram_bounds::text, '') || coalesce(most_common_elems::text, ''), ' ') "
                                  "FROM pg_stats WHERE schemaname = %s", [schema]).fetchone()[0] or ""
        assert "4821" not in stats and "ordinary" not in stats


def test_a_password_never_reaches_a_message_a_record_or_a_file(pg_server, tmp_path):
    role = pg_role(pg_server, "pw_role")
    url = role.replace("?host=", "?password=hunter2-secret&sslpassword=hunter2-ssl&host=")
    env = {"MEMCLI_DB": url, "MEMCLI_EMBEDDER": "", "MEMCLI_CONFIG": str(tmp_path / "c.toml")}
    assert run("remember", "a note", env=env).returncode == 0
    stats = run("stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    seen = [stats.stdout, run("doctor", env=env).stdout,
            run("--db", url.replace("host=", "host=/nope"), "stats", env=env).stderr,
            run("--db", "postgresql://u:hun%zzter2@localhost/db", "stats", env=env).stderr]
    for args in (("config", "set", "db", url), ("config", "get", "db"), ("config", "list")):
        r = run(*args, env=env)
        assert r.returncode == 0, r.stderr
        seen.append(r.stdout + r.stderr)
    seen.append(run("audit", "log", "--json", env=env).stdout)
    with Memory(tmp_path / "src.db", embedder=HashEmbedder()) as src:
        src.remember([RawInput("a", "x")])
        other = pg_role(pg_server, "pw_target").replace("?host=", "?password=hunter2-secret&host=")
        with Memory(other, embedder=HashEmbedder()) as dest:
            dest.ctx.store
            seen.append(json.dumps(src.migrate_to(dest)))
        with Memory(tmp_path / "back.db", embedder=HashEmbedder()) as back:
            with Memory(other, embedder=HashEmbedder()) as dest:
                dest.migrate_to(back)
            seen.append(json.dumps([r.detail for r in back.audit_log()]))
    for where in ("claude-code",):
        r = run("--db", url, "mcp", "config", where, env=env, cwd=tmp_path)
        seen.append(r.stdout + r.stderr)
        assert r.returncode != 0 and "~/.pgpass" in r.stderr
    r = run("--db", url, "consolidate", "--cron-line", env=env)
    assert r.returncode != 0 and "~/.pgpass" in r.stderr
    r = run("--db", url, "hooks", "install", "claude-code", "--settings", str(tmp_path / "s.json"), env=env)
    assert r.returncode != 0 and "~/.pgpass" in r.stderr and not (tmp_path / "s.json").exists()
    seen.append(r.stdout + r.stderr)
    joined = "\n".join(seen)
    assert "hunter2" not in joined and "zzter2" not in joined


def test_migrate_to_a_memory_that_once_held_memories_is_refused(pg_url, tmp_path):
    """Ids name one memory for good: a server memory whose ids 1 and 2 were forgotten must not get new ones."""
    with Memory(pg_url, embedder=HashEmbedder()) as server:
        server.forget(server.remember([RawInput("a", "one"), RawInput("b", "two")]).created)
        with Memory(tmp_path / "laptop.db", embedder=HashEmbedder()) as src:
            src.remember([RawInput("c", "three")])
            with pytest.raises(InputError, match="holds or held memories before"):
                src.migrate_to(server)
        assert server.audit_verify()["ok"] and server.stats()["memories"] == 0


@pytest.mark.parametrize("target", ["", "/nonexistent/dir/x.db", "{tmp}/"])
def test_migrate_to_a_bad_target_is_refused_and_creates_nothing(tmp_path, target):
    env = {"MEMCLI_EMBEDDER": "", "MEMCLI_CONFIG": str(tmp_path / "c.toml"), "MEMCLI_DB": str(tmp_path / "m.db")}
    assert run("remember", "a note", env=env).returncode == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run("migrate-to", target.format(tmp=tmp_path), env=env)
    assert r.returncode in (1, 2) and r.stderr.count("\n") == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not Path("/nonexistent").exists()


def test_a_bad_db_in_the_config_does_not_stop_what_does_not_read_it(tmp_path):
    env = {"MEMCLI_EMBEDDER": "", "MEMCLI_CONFIG": str(tmp_path / "c.toml")}
    (tmp_path / "c.toml").write_text('db = "ftp://host/x"\n')
    assert run("--db", str(tmp_path / "x.db"), "remember", "hello", env=env).returncode == 0
    assert run("stats", env={**env, "MEMCLI_DB": str(tmp_path / "x.db")}).returncode == 0
    assert run("config", "list", env=env).returncode == 0
    assert run("config", "set", "db", str(tmp_path / "x.db"), env=env).returncode == 0
    assert run("stats", env=env).returncode == 0


def test_roles_whose_names_differ_only_in_spelling_get_their_own_schemas(pg_server):
    first, second = pg_role(pg_server, "dot.user"), pg_role(pg_server, "dot_user")
    for url, text in ((first, "from dot.user"), (second, "from dot_user")):
        with Memory(url, embedder=HashEmbedder()) as mem:
            mem.remember([RawInput("a", text)])
    with Memory(second, embedder=HashEmbedder()) as mem:
        assert [r["text"] for r in mem.get([1]).values()] == ["from dot_user"]


def test_doctor_on_a_schema_the_admin_prepared(pg_server, tmp_path):
    import psycopg

    url = pg_role(pg_server, "dr_role")
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute('CREATE SCHEMA memcli_dr_role AUTHORIZATION "dr_role"')
    r = run("--db", url, "doctor", env={"MEMCLI_CONFIG": str(tmp_path / "c.toml")})
    assert "schema memcli_dr_role pending p001_core" in r.stdout and "relation" not in r.stdout


# -- found by a second hostile review --------------------------------------------------------------------------------
def test_tables_another_role_planted_in_a_shared_schema_are_never_used(pg_server):
    """With CREATE on public for everyone (the default before PostgreSQL 15), planted tables shadowed a new
    memory's own: its texts went into mallory's table."""
    import psycopg

    from memcli.storage.postgres.schema import MIGRATIONS

    mallory = pg_role(pg_server, "mallory_plant")
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    try:
        with psycopg.connect(mallory, autocommit=True) as evil:
            evil.execute("SET search_path = public")
            evil.execute("CREATE TABLE memcli_migrations (name text PRIMARY KEY, applied_at text NOT NULL)")
            evil.execute("INSERT INTO memcli_migrations VALUES ('p001_core', 'x')")
            evil.execute(dict(MIGRATIONS)["p001_core"])
            for table in ("memories", "meta", "sources", "messages", "memories_fts", "audit_log", "chunks"):
                evil.execute(f"GRANT ALL ON public.{table} TO PUBLIC")
            alice = pg_role(pg_server, "alice_plant")
            with Memory(alice, embedder=HashEmbedder()) as mem:
                mem.remember([RawInput("a", "my bank PIN is 4821")])
                assert mem.recall("bank PIN")[0].text == "my bank PIN is 4821"
            assert evil.execute("SELECT count(*) FROM public.memories").fetchone()[0] == 0
            assert evil.execute("SELECT count(*) FROM public.messages").fetchone()[0] == 0
    finally:
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
            admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def test_no_lock_another_role_can_see_blocks_my_writes(pg_server, monkeypatch):
    """An advisory lock's key shows in pg_locks to every role: copying it blocked the owner's writes."""
    import psycopg

    from memcli.changes import Op
    from memcli.storage.postgres import connection

    monkeypatch.setattr(connection, "LOCK_TIMEOUT", "500ms")
    alice, mallory = pg_role(pg_server, "alice_seen"), pg_role(pg_server, "mallory_seen")
    with Memory(alice, embedder=HashEmbedder()) as mem, psycopg.connect(mallory, autocommit=True) as evil:
        mem.remember([RawInput("a", "first")])
        with mem.ctx.change(Op.PIN) as ch:  # alice is inside a change: mallory copies every advisory key she sees
            ch.memory_ids = mem.store.memories.set_pinned([1], True)
            seen = evil.execute("SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory'").fetchall()
        for high, low in seen:
            evil.execute("SELECT pg_advisory_lock(%s)", [(int(high) << 32) | int(low)])
        assert mem.remember([RawInput("b", "second")]).created
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            evil.execute(f"SELECT 1 FROM {mem.store.conn.schema}.meta FOR UPDATE")


def test_transaction_statements_are_refused_from_anyone_but_the_change_unit(pg_url):
    with Memory(pg_url, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "kept")])
        for sql in ("BEGIN READ WRITE; DELETE FROM memories WHERE id = 1; COMMIT", "START TRANSACTION READ WRITE",
                    "SET default_transaction_read_only = off", "/* x */ BEGIN", "RESET ALL", "COMMIT"):
            with pytest.raises(Exception, match="not authorized"):
                mem.store.conn.execute(sql)
        assert mem.get([1])[1]["text"] == "kept" and mem.audit_verify()["ok"]


def test_migrate_to_from_a_missing_source_leaves_no_target(pg_server, tmp_path):
    target = pg_role(pg_server, "never_made")
    env = {"MEMCLI_EMBEDDER": "", "MEMCLI_CONFIG": str(tmp_path / "c.toml"), "MEMCLI_DB": str(tmp_path / "none.db")}
    for where in (str(tmp_path / "new.db"), target):
        r = run("migrate-to", where, env=env)
        assert r.returncode == 1 and "no memory database" in r.stderr
    assert not (tmp_path / "new.db").exists()
    with pytest.raises(Exception, match="no memory for role"):
        Memory(target, embedder=HashEmbedder(), create=False).stats()


def test_a_key_value_connection_string_is_not_a_file(tmp_path):
    r = run("--db", "host=db.example dbname=memories user=alice password=hunter2", "remember", "x",
            env={"MEMCLI_CONFIG": str(tmp_path / "c.toml")}, cwd=tmp_path)
    assert r.returncode == 1 and "key=value" in r.stderr and "hunter2" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
