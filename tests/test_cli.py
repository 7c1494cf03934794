"""The CLI end to end, in-process, on the real embedder, real sqlite-vec and a temporary database."""

import json

import pytest

REQUIRED = {"id", "text", "score", "kind", "scope", "tags", "occurred_at", "created_at", "sources"}


def stored(cli) -> int:
    """Memories in the test database; a database never created holds none."""
    r = cli("stats", "--json")
    if r.exit_code == 1 and "no memory database" in r.stderr:
        return 0
    return json.loads(r.stdout)["memories"]


def test_remember_stdin_then_recall_table_and_json(cli):
    r = cli("remember", "-", input="I moved to Lisbon in March and my cat is called Miso\n")
    assert r.exit_code == 0, r.output
    assert "remembered 1 new memory" in r.output
    r = cli("recall", "where do I live?")
    assert r.exit_code == 0 and "Lisbon" in r.output
    r = cli("recall", "cat's name", "--json", "--limit", "5")
    hits = json.loads(r.stdout)
    assert hits[0]["text"].startswith("I moved to Lisbon") and REQUIRED <= set(hits[0])
    assert hits[0]["sources"] == [{"source_id": 1, "message_id": None}]


def test_piped_stdin_without_dash(cli):
    r = cli("remember", input="note: the wifi password is on the fridge")
    assert r.exit_code == 0, r.output
    assert stored(cli) == 1 and "fridge" in cli("recall", "wifi password").stdout


def test_remember_jsonl_file_with_scope_tags_and_ids(cli, tmp_path):
    chat = tmp_path / "chat.jsonl"
    chat.write_text("\n".join(json.dumps(x) for x in [
        {"id": "msg-1", "speaker": "Dana", "text": "The deploy key rotates every 90 days", "timestamp": "2024-04-02T09:00:00Z"},
        {"id": "msg-2", "speaker": "Eli", "text": "Noted, I'll set a reminder for the rotation", "timestamp": "2024-04-02T09:01:00Z"},
    ]))
    r = cli("remember", "--file", str(chat), "--format", "jsonl", "--scope", "work", "--tag", "ops", "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["created"]) == 2
    again = cli("remember", "--file", str(chat), "--format", "jsonl", "--scope", "work", "--json")
    assert json.loads(again.stdout)["created"] == []
    r = cli("recall", "how often does the deploy key rotate", "--scope", "work", "--tag", "ops", "--json")
    top = json.loads(r.stdout)[0]
    assert top["sources"][0]["message_id"] == "msg-1" and top["occurred_at"] == "2024-04-02T09:00:00Z"
    assert top["scope"] == "work" and top["tags"] == ["ops"]
    assert json.loads(cli("recall", "deploy key", "--scope", "home", "--json").stdout) == []
    assert json.loads(cli("recall", "deploy key", "--since", "2024-05-01", "--json").stdout) == []


def test_batch_queries_one_json_line_each(cli, tmp_path):
    cli("remember", "My sister Ana lives in Porto", "I am allergic to peanuts")
    qfile = tmp_path / "q.txt"
    qfile.write_text('what am I allergic to?\n\n{"id": "q-sis", "query": "where does my sister live"}\n')
    r = cli("recall", "--queries", str(qfile), "--json", "--limit", "1")
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["id"] for x in lines] == [1, "q-sis"]
    assert "peanuts" in lines[0]["hits"][0]["text"] and "Porto" in lines[1]["hits"][0]["text"]
    r = cli("recall", "--queries", "-", "--json", input="sister\n")
    assert json.loads(r.stdout.splitlines()[0])["query"] == "sister"
    r = cli("recall", "--queries", "-", "--json", input='{"query": "peanuts"}\n')
    assert json.loads(r.stdout.splitlines()[0])["id"] == 1  # no id: the line number, as for plain lines
    # a bad line anywhere is refused before any query runs (nothing printed, no recall counted)
    r = cli("recall", "--queries", "-", input="\n  \n")
    assert r.exit_code == 1 and r.stderr == "memcli: error: -: no queries found\n"
    r = cli("recall", "--queries", "-", "--json", input='sister\n{"query": "  "}\n')
    assert r.exit_code == 1 and r.stdout == "" and "-:2: empty query" in r.stderr


def test_recall_counts_and_quiet_mode(cli):
    cli("remember", "The boiler was serviced in October")
    r = cli("recall", "boiler service", "-q")
    assert r.stdout.strip() == "1"
    r = cli("stats", "--json")
    assert json.loads(r.stdout)["memories"] == 1
    r = cli("recall", "qqqzzz")  # nothing: a pipe gets no line, the person reading stderr gets a note
    assert r.exit_code == 0 and r.stdout == "" and "No memory matches" in r.stderr


def test_stored_text_cannot_drive_the_terminal(cli):
    cli("remember", "evil \x1b[2J\x1b[31m red [bold]markup[/bold]")
    r = cli("recall", "evil red markup")
    assert "\x1b[2J" not in r.stdout and "\\x1b[2J" in r.stdout
    assert "[bold]markup[/bold]" in r.stdout


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["remember", "-"], "", "empty"),
        (["remember", "-"], "   \n\t", "empty"),
        (["remember", "--format", "yaml", "x"], None, "unknown format"),
        (["remember", "--file", "/nonexistent/file.txt"], None, "cannot read"),
        (["remember", "--format", "jsonl", "-"], '{"text": "a"}\n{"text": \n', "stdin:2: invalid JSON"),
        (["remember", "--format", "json", "-"], '[{"content": "x"}', "invalid JSON"),
        (["recall", "   "], None, "empty query"),
        (["recall"], None, "give a QUERY"),
        (["recall", "x", "--since", "someday"], None, "--since"),
        (["recall", "x", "--since", "99999999999d"], None, "--since"),  # before the calendar: OverflowError
        (["recall", "x", "--since", "3000y"], None, "--since"),
        (["remember", "--at", "someday", "x"], None, "--at"),
        (["remember", "-", "--file", "-"], "twice", "read only once"),
        (["audit", "recall-log", "maybe"], None, "is not one of 'on', 'off'"),
        (["completions", "--write", "/dev/null/sub"], None, "cannot write completion scripts"),
        # a byte that is not UTF-8 on the command line (Python passes it on as a lone surrogate)
        (["remember", "caf\udce9 notes"], None, "not valid UTF-8"),
        (["recall", "caf\udce9"], None, "not valid UTF-8"),
        (["ask", "caf\udce9?"], None, "not valid UTF-8"),
        (["remember", "a note", "--tag", "caf\udce9"], None, "tag"),
    ],
)
def test_bad_input_is_a_one_line_error_and_nonzero_exit(cli, args, stdin, message):
    r = cli(*args, input=stdin)
    usage = message in ("unknown format", "give a QUERY", "read only once", "is not one of 'on', 'off'")
    assert r.exit_code == (2 if usage else 1), r.output  # 2: asked wrongly (docs: the exit-code table)
    assert message in r.stderr
    assert r.stderr.startswith("memcli: error:") and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["recall", "note", "--scope", "caf\udce9"], ["forget", "--tag", "caf\udce9"],
                                  ["recall", "note", "--tag", "caf\udce9"]])
def test_an_argument_that_is_not_utf8_is_one_line_and_changes_nothing(cli, args):
    assert cli("remember", "a note").exit_code == 0
    r = cli(*args)
    assert r.exit_code == 1 and r.stderr == "memcli: error: an argument is not valid UTF-8\n"
    assert stored(cli) == 1


def test_binary_and_invalid_utf8_stdin_are_refused(cli):
    from typer.testing import CliRunner

    from memcli.cli.app import app

    runner = CliRunner()
    for data, message in ((b"\x89PNG\r\n\x1a\n\x00\x00", "binary"), (b"caf\xe9 au lait", "UTF-8")):
        r = runner.invoke(app, ["remember", "-"], input=data)
        assert r.exit_code == 1 and message in r.stderr
    assert stored(cli) == 0


def test_error_mid_batch_writes_nothing(cli, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("a perfectly good memory")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\xfd")
    r = cli("remember", "--file", str(good), "--file", str(bad))
    assert r.exit_code == 1 and "bad.txt" in r.stderr
    assert stored(cli) == 0


def test_database_that_is_not_sqlite(cli, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my precious notes, not a database")
    r = cli("--db", str(path), "recall", "anything")
    assert r.exit_code == 1 and "not a SQLite database" in r.stderr
    assert path.read_text() == "my precious notes, not a database"


def test_missing_database_is_reported_not_created(cli, tmp_path):
    path = tmp_path / "typo.db"
    for args in (["recall", "anything"], ["stats"], ["reindex"]):
        r = cli("--db", str(path), *args)
        assert r.exit_code == 1 and "no memory database" in r.stderr
    assert not path.exists()


def test_corrupt_database(cli, tmp_path):
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xab" * 4000)
    r = cli("--db", str(path), "stats")
    assert r.exit_code == 1 and "memcli: error:" in r.stderr


def test_missing_embedding_model(cli, tmp_path):
    r = cli("--embedder", str(tmp_path / "nope.gguf"), "remember", "hello")
    assert r.exit_code == 1 and "embedding model not found" in r.stderr
    assert stored(cli) == 0


def test_unloadable_embedding_model(cli, tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + b"\x00" * 64)
    r = cli("--embedder", str(fake), "remember", "hello")
    assert r.exit_code == 1 and "cannot load embedding model" in r.stderr


def test_switching_embedder_requires_reindex(cli):
    from memcli.models import minilm

    cli("remember", "first memory with the default model")
    # The same GGUF under a path-based id counts as a different model: the database must refuse to mix.
    path = str(minilm.gguf_path())
    r = cli("--embedder", path, "recall", "first memory")
    assert r.exit_code == 1 and "memcli reindex" in r.stderr
    r = cli("--embedder", path, "reindex", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["reindexed"] == 1
    r = cli("--embedder", path, "recall", "first memory", "--json")
    assert json.loads(r.stdout)[0]["text"] == "first memory with the default model"


def test_help_and_version(cli):
    r = cli("--help")
    assert r.exit_code == 0 and "remember" in r.stdout and "recall" in r.stdout
    assert cli("--version").stdout.startswith("memcli ")
    assert cli("recall", "--help").exit_code == 0


def test_python_dash_m_entry_point(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "memcli", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "remember" in r.stdout


def test_database_corrupted_after_creation_is_a_clear_error(cli, tmp_path):
    import sqlean

    path = tmp_path / "damaged.db"
    lines = "\n".join(json.dumps({"id": f"m{i}", "text": f"message {i} about topic {i % 7}"}) for i in range(300))
    assert cli("--db", str(path), "remember", "--format", "jsonl", "-", input=lines).exit_code == 0
    conn = sqlean.connect(str(path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    data[16384:] = b"\xde\xad" * ((len(data) - 16384) // 2)  # keep the header, wreck the pages behind it
    path.write_bytes(bytes(data))
    r = cli("--db", str(path), "recall", "topic 3")
    assert r.exit_code == 1 and r.stderr.startswith("memcli: error:") and "Traceback" not in r.output


def test_doctor(cli, tmp_path, real_generator):  # both default models prepared, as doctor expects
    cli("remember", "doctor check memory")
    r = cli("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(r.stdout)}
    assert r.exit_code == 0, checks
    assert checks["database"]["ok"] and "integrity ok" in checks["database"]["detail"]
    assert checks["embedder model"]["ok"] and checks["permissions"]["ok"]
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not sqlite at all" * 10)
    r = cli("--db", str(bad), "doctor")
    assert r.exit_code == 1 and "FAIL database" in r.stdout and "fix:" in r.stdout


def test_output_modes_for_pipes(cli):
    cli("remember", "line one\nstill one", "second memory here")
    r = cli("recall", "memory one", "--nl")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert rows and all("id" in x for x in rows)
    r = cli("recall", "second memory")
    first = r.stdout.splitlines()[0].split("\t")
    assert len(first) == 5 and first[4] == "second memory here"


def test_config_commands(cli, tmp_path):
    fake = tmp_path / "g.gguf"
    fake.write_bytes(b"GGUF")
    assert cli("config", "set", "generator", str(fake)).exit_code == 0
    assert cli("config", "get", "generator").stdout.strip() == str(fake)
    assert json.loads(cli("config", "list", "--json").stdout) == {"generator": str(fake)}
    assert cli("config", "path").stdout.strip() == str(tmp_path / "config.toml")
    assert cli("config", "set", "colour", "blue").exit_code == 2
    assert cli("config", "set", "generator", "default").exit_code == 0
    assert json.loads(cli("config", "list", "--json").stdout) == {}


def test_an_older_database_is_upgraded_with_a_notice_once(cli, tmp_path):
    """A schema upgrade of a filled database can take a minute per million memories: say so, on stderr only."""
    import sqlean

    assert cli("remember", "My sister Ana lives in Porto").exit_code == 0
    conn = sqlean.connect(str(tmp_path / "cli.db"))
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm006_keys_stored_once'")
    conn.commit()
    conn.close()
    r = cli("recall", "where does my sister live", "--json")
    assert r.exit_code == 0 and "upgrading the database" in r.stderr
    assert json.loads(r.stdout)[0]["text"] == "My sister Ana lives in Porto"
    again = cli("recall", "where does my sister live", "--json")
    assert "upgrading" not in again.stderr


def test_a_database_under_a_dangling_link_is_a_one_line_error(cli, tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere" / "dir")
    r = cli("--db", str(tmp_path / "link" / "m.db"), "remember", "x")
    assert r.exit_code == 1 and r.stderr.startswith("memcli: error:") and len(r.stderr.splitlines()) == 1
