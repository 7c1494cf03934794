"""forget: selectors, safety rules, cascade to derived memories, and erasure proven on the raw file bytes."""

import glob
import json
from datetime import datetime, timedelta, timezone

import pytest

from memcli.core import Memory, RawInput
from memcli.errors import InputError
from memcli.retention import retention
from memcli.types import Filters
from tests.conftest import HashEmbedder
from tests.conftest import outside

SECRET = "qzvxtreasurecode4417"


def file_bytes(path) -> bytes:
    return b"".join(open(f, "rb").read() for f in sorted(glob.glob(str(path) + "*")))


def test_forgotten_text_and_vectors_leave_no_trace_in_the_file(db_path, real_embedder):
    with Memory(db_path, embedder=real_embedder) as mem:
        for i in range(150):  # enough pages that the secret is not the only content
            mem.remember([RawInput("note", f"ordinary note {i} about groceries, weather and the garden")])
        chat = "\n".join(json.dumps(r) for r in [
            {"id": "a1", "speaker": "me", "text": f"the safe combination is {SECRET}"},
            {"id": "a2", "speaker": "me", "text": "the dog needs a walk at six"},
        ])
        res = mem.remember([RawInput("chat", chat)], fmt="jsonl")
        secret_id = res.created[0]
        vector = mem.store.conn.execute(
            "SELECT embedding FROM vec_chunks WHERE rowid = (SELECT id FROM chunks WHERE memory_id = ?)",
            [secret_id]).fetchone()[0]
        mem.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = file_bytes(db_path)
        assert before.count(SECRET.encode()) >= 4 and vector[:64] in before  # the check can fail
        out = mem.forget([secret_id])
        assert out.sources_redacted == [res.sources[0]] and out.files_scrubbed
        assert mem.recall(SECRET) == [] or all(SECRET not in h.text for h in mem.recall(SECRET))
        assert mem.recall("dog walk six")[0].text == "the dog needs a walk at six"  # the rest survives
        rows = mem.store.conn.execute("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?",
                                      [f'"{SECRET}"']).fetchone()[0]
        assert rows == 0
    after = file_bytes(db_path)
    assert SECRET.encode() not in after
    assert SECRET[:10].encode() not in after  # not even a prefix in the FTS index
    assert vector[:64] not in after
    assert SECRET.encode() not in file_bytes(db_path).lower()


@pytest.fixture
def populated(hash_memory):
    mem = hash_memory
    mem.remember([RawInput("a", "old apartment on Rua Augusta")], scope="home", tags=["address"], at="2020-01-01")
    mem.remember([RawInput("b", "new apartment on Avenida Liberdade")], scope="home", tags=["address"],
                 at="2024-01-01")
    mem.remember([RawInput("c", "quarterly planning meeting notes")], scope="work", tags=["tmp"], at="2024-02-01")
    mem.remember([RawInput("d", "scratch idea about kites")], scope="scratch")
    mem.remember([RawInput("e", "another scratch idea about boats")], scope="scratch")
    return mem


def texts(mem):
    return sorted(r[0] for r in mem.store.conn.execute("SELECT text FROM memories"))


def test_selectors(populated):
    mem = populated
    assert mem.select_for_forget(ids=[1]) == [1]
    assert mem.select_for_forget(tags=["address"]) == [1, 2]
    assert mem.select_for_forget(tags=["address"], before="2022-01-01") == [1]
    assert mem.select_for_forget(after="2023-06-01", scope="home") == [2]
    assert set(mem.select_for_forget(before="1d", time_field="created_at")) == set()
    assert set(mem.select_for_forget(after="1d", time_field="created_at")) == {1, 2, 3, 4, 5}
    assert mem.select_for_forget(source_id=3) == [3]
    assert mem.select_for_forget(query="apartment Augusta", min_score=0.0, tags=["address"])[0] == 1
    assert mem.select_for_forget(query="apartment Augusta", min_score=10.0) == []
    assert mem.select_for_forget(all_=True, scope="scratch") == [4, 5]
    assert mem.select_for_forget(all_=True, everything=True) == [1, 2, 3, 4, 5]


def test_safety_rules(populated):
    mem = populated
    with pytest.raises(InputError, match="no selector"):
        mem.select_for_forget()
    with pytest.raises(InputError, match="no selector"):
        mem.select_for_forget(scope="home")  # a scope alone narrows; it does not select
    with pytest.raises(InputError, match="--all needs"):
        mem.select_for_forget(all_=True)
    with pytest.raises(InputError, match="no memory with id 99"):
        mem.select_for_forget(ids=[1, 99])
    assert mem.select_for_forget(tags=["no-such-tag"]) == []
    assert mem.forget([]).ids == []
    assert len(texts(mem)) == 5


def test_decayed_respects_strength_and_pins(populated):
    mem = populated
    old = (datetime.now(timezone.utc) - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    outside(mem).execute("UPDATE memories SET created_at = ?", [old])  # simulate age
    outside(mem).execute("UPDATE memories SET strength = 10 WHERE id = 2")  # recalled often
    mem.pin([3])
    assert mem.select_for_forget(decayed=True) == [1, 4, 5]
    assert mem.select_for_forget(decayed=True, threshold=0.0) == []
    mem.forget([5], archive=True)  # archived: hidden, restorable, so it does not fade away
    assert mem.select_for_forget(decayed=True) == [1, 4]
    mem.restore([5])
    # a pinned fact keeps its evidence: erasing all of it would erase the fact too
    fact = mem.derive("fact", "the scratch idea was about kites", [4])
    mem.pin([fact])
    assert mem.select_for_forget(decayed=True) == [1, 5]
    result = mem.forget(mem.select_for_forget(decayed=True))
    assert result.derived_deleted == [] and mem.store.memories.row(fact) is not None


def test_importance_makes_memories_decay_slower(hash_memory):
    mem = hash_memory
    plain = mem.remember([RawInput("a", "ordinary remark")]).created[0]
    vital = mem.remember([RawInput("b", "blood type is O negative")], importance=1.0).created[0]
    old = (datetime.now(timezone.utc) - timedelta(days=120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    outside(mem).execute("UPDATE memories SET created_at = ?", [old])
    assert mem.select_for_forget(decayed=True) == [plain] and vital != plain
    with pytest.raises(InputError):
        mem.remember([RawInput("c", "x")], importance=2)


def test_retention_curve_direction():
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    weak = retention(now, "2024-01-01T00:00:00Z", None, 1.0)
    strong = retention(now, "2024-01-01T00:00:00Z", None, 5.0)
    recent = retention(now, "2024-01-01T00:00:00Z", "2024-05-31T00:00:00Z", 1.0)
    assert 0 < weak < strong < 1 and recent > weak
    assert retention(now, "2024-01-01T00:00:00Z", None, 1.0, pinned=True) == 1.0


def test_cascade_to_derived_memories(populated):
    mem = populated
    only_from_1 = mem.derive("fact", "user used to live on Rua Augusta", [1])
    from_1_and_2 = mem.derive("summary", "user moved from Rua Augusta to Avenida Liberdade", [1, 2])
    second_level = mem.derive("profile", "user lives in Lisbon", [only_from_1])
    result = mem.forget([1])
    assert sorted(result.derived_deleted) == sorted([only_from_1, second_level])
    assert result.derived_stale == [from_1_and_2]
    assert mem.store.memories.row(from_1_and_2)["stale"] == 1
    assert mem.store.memories.row(only_from_1) is None and mem.store.memories.row(second_level) is None
    assert "Rua Augusta" not in " ".join(texts(mem))  # the stale summary lost its text too


def test_source_text_goes_with_its_last_memory(populated):
    mem = populated
    res = mem.remember([RawInput("chat", "Ana: first line here\nBo: second line there")])
    src = res.sources[0]
    mem.forget([res.created[0]])
    raw, redacted, n = mem.store.conn.execute("SELECT raw, redacted_at, n_messages FROM sources WHERE id = ?",
                                              [src]).fetchone()
    assert raw == "" and redacted is not None
    assert n == 1  # the count follows the messages that survive (it said 2 after a forget)
    mem.forget([res.created[1]])
    assert mem.store.conn.execute("SELECT count(*) FROM sources WHERE id = ?", [src]).fetchone()[0] == 0
    assert mem.store.conn.execute("SELECT count(*) FROM messages WHERE source_id = ?", [src]).fetchone()[0] == 0


def test_archive_and_restore(populated):
    mem = populated
    assert mem.forget([4], archive=True).ids == [4]
    assert all(h.id != 4 for h in mem.recall("scratch idea kites"))
    assert mem.store.memories.row(4)["text"] == "scratch idea about kites"
    assert mem.restore([4]) == [4]
    assert mem.recall("scratch idea kites")[0].id == 4


def test_reingest_after_forget_is_a_new_memory(hash_memory):
    hash_memory.remember([RawInput("a", "temporary thought")])
    hash_memory.forget([1])
    again = hash_memory.remember([RawInput("a", "temporary thought")])
    assert len(again.created) == 1


def test_cli_forget_flow(cli):
    cli("remember", "--tag", "tmp", "scratch one", "scratch two")
    cli("remember", "keep this one")
    r = cli("forget", "--tag", "tmp", "--dry-run", "--json")
    assert json.loads(r.stdout)["matched"] == [1, 2]
    r = cli("forget", "--tag", "tmp")  # CliRunner stdin is not a terminal
    assert r.exit_code == 1 and "without --yes" in r.stderr
    assert cli("forget").exit_code == 2  # usage: no selector
    assert cli("forget", "--all").exit_code == 2
    r = cli("forget", "--tag", "nothing-has-this", "--yes")
    assert r.exit_code == 0 and "Nothing matches" in r.stdout
    r = cli("forget", "--tag", "tmp", "--yes", "--json")
    assert json.loads(r.stdout)["forgotten"] == [1, 2]
    r = cli("recall", "scratch", "--json")
    assert [h["text"] for h in json.loads(r.stdout)] in ([], ["keep this one"])
    r = cli("forget", "3", "--archive", "--yes")
    assert r.exit_code == 0 and json.loads(cli("recall", "keep this one", "--json").stdout) == []
    assert cli("restore", "3").exit_code == 0
    assert json.loads(cli("recall", "keep this one", "--json").stdout)[0]["id"] == 3
    assert cli("forget", "42", "--yes").exit_code == 3  # not found
    r = cli("restore", "999")
    assert r.exit_code == 3 and "no memory with id 999" in r.stderr


def test_neighbours_keys_are_rebuilt_without_the_forgotten_text(target):
    db_path = target
    from memcli.ingest.keys import KeyOptions

    with Memory(db_path, embedder=HashEmbedder(), key_options=KeyOptions(embed_context=True)) as mem:
        res = mem.remember([RawInput("chat", f"Ana: hello there\nBo: my pin is {SECRET}\nAna: noted, thanks")])
        mem.forget([res.created[1]])
        rows = mem.store.conn.execute("SELECT key_text, context FROM memories").fetchall()
        assert len(rows) == 2 and all(SECRET not in k and SECRET not in c for k, c in rows)
        assert mem.store.search.words([SECRET.lower()], Filters(active_only=False), 10) == []
        fts = mem.store.conn.execute("SELECT text, context FROM memories_fts").fetchall()
        assert fts and all(SECRET not in t and SECRET not in c for t, c in fts)
        assert mem.recall("hello there")[0].text == "hello there"


def test_forgetting_a_merged_duplicate_takes_its_message_and_keys(db_path):
    """consolidate links a merged duplicate's message to the memory it was merged into; forgetting the duplicate
    must still erase that message, and rebuilding neighbours' keys must not pair it with the kept memory."""
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        keep = mem.remember([RawInput("one", "Ana: the spare key is under the blue pot by the door")], fmt="chat")
        # merged: the same words about the same day; its own spelling marks its bytes
        dup = mem.remember([RawInput("two", "Bo: hi\nAna: The SPARE key is under the blue pot by the door!!!")],
                           fmt="chat")
        report = mem.consolidate()
        assert {"merged": dup.created[1], "into": keep.created[0]} in report["merged"]
        mem.forget([dup.created[1]])
        assert mem.store.memories.row(keep.created[0])["text"] == "the spare key is under the blue pot by the door"
        assert "SPARE" not in " ".join(r[0] for r in mem.store.conn.execute("SELECT context FROM memories_fts"))
    assert b"The SPARE key" not in file_bytes(db_path) and b"door!!!" not in file_bytes(db_path)


def test_a_summary_quoting_forgotten_text_loses_it_at_once(hash_memory):
    """A day summary resting on survivors too is kept for the next consolidate to rebuild, but its text and search
    keys go with the forget, not a night later."""
    mem = hash_memory
    mem.remember([RawInput("d1", "\n".join(f"[2024-03-01 10:0{i}] {line}" for i, line in enumerate(
        ["Ana: packed the boxes", "Bo: booked the van", f"Ana: the lawyer {SECRET} called"])))])
    mem.consolidate()
    sid = mem.store.summaries.of("default", "day", "2024-03-01")
    assert SECRET in mem.store.memories.row(sid)["text"]
    lawyer = next(h.id for h in mem.recall("lawyer called") if h.kind == "episodic")
    mem.forget([lawyer])
    row = mem.store.memories.row(sid)
    assert row["stale"] == 1 and row["text"] == "" and SECRET not in (row["key_text"] + row["context"])
    assert mem.recall(SECRET) == []
    assert mem.consolidate()["summaries_regenerated"] == 1


def test_forget_after_import_of_an_already_stored_memory(tmp_path):
    """Importing a memory this database already holds still links the imported message, so forget finds it."""
    import io

    with Memory(tmp_path / "a.db", embedder=HashEmbedder()) as a:
        a.remember([RawInput("notes", f"bring the umbrella\n\nmy pin is {SECRET}")])  # another source
        out = io.StringIO()
        a.export_jsonl(out)
    with Memory(tmp_path / "b.db", embedder=HashEmbedder()) as b:
        mid = b.remember([RawInput("note", f"my pin is {SECRET}")]).created[0]
        assert b.import_jsonl(out.getvalue().splitlines())["skipped_memories"] == 1
        b.forget([mid])
        assert b.recall("umbrella")[0].text == "bring the umbrella"
    assert SECRET.encode() not in file_bytes(tmp_path / "b.db")


def test_forget_rebuilds_neighbours_context_from_their_own_source_after_a_merge(target):
    db_path = target
    """Consolidate merges an exact duplicate told later that day into the older memory, which then also links the
    duplicate's message. A forget in the duplicate's chat must not give the older memory that chat's context (nor
    list the message twice in a neighbour's context)."""
    def chat(rows):
        return "\n".join(json.dumps(r) for r in rows)

    with Memory(db_path, embedder=HashEmbedder()) as mem:
        first = mem.remember([RawInput("s1", chat([
            {"id": "k1", "speaker": "Bo", "text": "garden party plans", "timestamp": "2024-01-01T10:00:00Z"},
            {"id": "k2", "speaker": "Ana", "text": "see you soon", "timestamp": "2024-01-01T10:01:00Z"}]))],
            fmt="jsonl").created
        second = mem.remember([RawInput("s2", chat([
            {"id": "x1", "speaker": "Bo", "text": "my pin is 4417", "timestamp": "2024-01-01T20:00:00Z"},
            {"id": "x2", "speaker": "Bo", "text": "weather is bad", "timestamp": "2024-01-01T20:00:30Z"},
            {"id": "x3", "speaker": "Ana", "text": "see you soon", "timestamp": "2024-01-01T20:01:00Z"}]))],
            fmt="jsonl").created
        assert mem.consolidate()["merged"] == [{"merged": second[2], "into": first[1]}]

        def context(mid):
            return mem.store.conn.execute("SELECT context FROM memories_fts WHERE rowid = ?", [mid]).fetchone()[0]

        kept_before = context(first[1])
        mem.forget([second[0]])
        assert context(first[1]) == kept_before  # still its own chat's neighbours
        assert "garden party plans" in context(first[1]) and "weather is bad" not in context(first[1])
        assert context(second[1]).count("see you soon") == 1
        assert "4417" not in context(second[1])


def test_a_forgotten_id_is_never_handed_out_again(hash_memory):
    """An agent that kept an id, and `audit show ID`, must never reach another memory under it."""
    mem = hash_memory
    first = mem.remember([RawInput("a", "note one")]).created + mem.remember([RawInput("b", "note two")]).created
    mem.forget([first[-1]])
    again = mem.remember([RawInput("c", "note three")]).created
    assert again[0] > first[-1]
    mem.forget(first[:1] + again)  # emptied out, the mark still holds
    assert mem.remember([RawInput("d", "note four")]).created[0] > again[0]
