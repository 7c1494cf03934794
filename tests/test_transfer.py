"""export -> import reproduces recall exactly; import is idempotent and validates before writing; backup."""

import json

import pytest

from memcli.core import Memory, RawInput
from memcli.errors import InputError
from tests.conftest import HashEmbedder

CHAT = "\n".join(json.dumps(r) for r in [
    {"id": "c1", "speaker": "Ana", "text": "I adopted a grey cat named Miso", "timestamp": "2024-01-05T10:00:00Z"},
    {"id": "c2", "speaker": "Bo", "text": "Does Miso like tuna?", "timestamp": "2024-01-05T10:01:00Z"},
    {"id": "c3", "speaker": "Ana", "text": "She prefers salmon", "timestamp": "2024-01-05T10:02:00Z"},
])
QUERIES = ["grey cat", "what fish does the cat like", "tuna", "Ana"]


def recall_all(mem):
    return [[(h.text, h.score, h.kind, h.tags, [s["message_id"] for s in h.sources]) for h in
             mem.recall(q, touch=False)] for q in QUERIES]


def test_roundtrip_reproduces_recall_and_is_idempotent(tmp_path, make_target):
    a, b = make_target(), make_target()
    with Memory(a, embedder=HashEmbedder()) as mem:
        res = mem.remember([RawInput("chat", CHAT)], tags=["pets"], fmt="jsonl")
        mem.derive("fact", "Ana adopted a grey cat named Miso", [res.created[0]])
        mem.pin([res.created[2]])
        export = tmp_path / "export.jsonl"
        with open(export, "w") as fh:
            counts = mem.export_jsonl(fh)
        expected = recall_all(mem)
    assert counts == {"sources": 1, "messages": 3, "memories": 4}
    lines = export.read_text().splitlines()
    with Memory(b, embedder=HashEmbedder()) as mem:
        first = mem.import_jsonl(lines)
        assert first["memories"] == 4 and not first["reembedded"]
        assert recall_all(mem) == expected
        again = mem.import_jsonl(lines)
        assert again["memories"] == 0 and again["skipped_memories"] == 4
        assert mem.stats()["memories"] == 4 and mem.stats()["sources"] == 1
        fact = next(h for h in mem.recall("grey cat", touch=False) if h.kind == "fact")
        assert mem.store.links.of(fact.id)["out"][0][0] == "derived_from"


def test_import_without_vectors_reembeds(tmp_path):
    with Memory(tmp_path / "a.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("chat", CHAT)], fmt="jsonl")
        path = tmp_path / "e.jsonl"
        with open(path, "w") as fh:
            mem.export_jsonl(fh, vectors=False)
        expected = recall_all(mem)
    with Memory(tmp_path / "b.db", embedder=HashEmbedder()) as mem:
        assert mem.import_jsonl(path.read_text().splitlines())["reembedded"]
        assert recall_all(mem) == expected


META = '{"type": "meta", "version": 1, "embedding_model": "hash", "embedding_dim": 4}'
SOURCE = json.dumps({"type": "source", "id": 1, "origin": "a", "format": "text", "scope": "default", "sha256": "0" * 64,
                     "received_at": "2024-01-01T00:00:00Z", "raw": "x", "n_messages": 1})
MESSAGE = '{"type": "message", "id": 1, "source_id": 1, "seq": 0, "text": "x"}'
MEMORY = {"type": "memory", "id": 1, "kind": "episodic", "text": "x", "scope": "default",
          "occurred_at": "2024-01-01T00:00:00Z", "created_at": "2024-01-01T00:00:00Z", "content_hash": "a" * 64,
          "key_text": "x", "messages": [1]}


@pytest.mark.parametrize("lines, message", [
    (['{"type": "source"}'], "lacks"),
    (['{"type": "meta", "version": 1}', "{bad"], ":2: invalid JSON"),
    (['{"type": "meta", "version": 99}'], "unsupported export version"),
    (['{"type": "message", "id": 1, "source_id": 5, "seq": 0, "text": "x"}'], "no meta line"),
    (['{"type": "meta", "version": 1}', '{"type": "message", "id": 1, "source_id": 5, "seq": 0, "text": "x"}'],
     "missing source"),
] + [([META, SOURCE, MESSAGE, json.dumps({**MEMORY, **change})], f"field '{field}'") for field, change in [
    ("tags", {"tags": "abc"}),  # would have become the tags a, b and c
    ("occurred_at", {"occurred_at": "not a date"}),
    ("text", {"text": 5}),
    ("id", {"id": [1]}),
    ("links", {"links": [["derived_from"]]}),
    ("vectors", {"vectors": "abc"}),
    ("summary_of", {"summary_of": ["day"]}),
]] + [([META, SOURCE, MESSAGE, json.dumps({**MEMORY, "vectors": [[float("nan")] * 4]})], "NaN is not valid JSON"),
      ([META, SOURCE, MESSAGE, json.dumps(MEMORY), json.dumps(MEMORY)], "share an id")][:1] + [([META, SOURCE, MESSAGE, json.dumps(MEMORY), json.dumps(MEMORY)], "share an id")])
def test_invalid_exports_are_refused_before_writing(hash_memory, lines, message):
    with pytest.raises(InputError, match=message):
        hash_memory.import_jsonl(lines, origin="f")
    assert hash_memory.stats()["memories"] == 0


@pytest.mark.sqlite_only  # a file copy; a server's memory is backed up with pg_dump (or migrate-to)
def test_backup_is_a_working_copy(hash_memory, tmp_path):
    hash_memory.remember([RawInput("a", "backed up thought")])
    copy = hash_memory.backup(tmp_path / "copy.db")
    with Memory(copy, embedder=HashEmbedder()) as mem:
        assert mem.recall("backed up thought")[0].text == "backed up thought"
    with pytest.raises(InputError, match="exists"):
        hash_memory.backup(copy)


def test_cli_export_import_backup(cli, tmp_path):
    cli("remember", "the garage code is on the blue card")
    cli("remember", "a line\u2028separator and a\u0085next-line inside one note")  # JSON keeps them unescaped
    out = tmp_path / "x.jsonl"
    assert cli("export", "-o", str(out)).exit_code == 0
    r = cli("--db", str(tmp_path / "new.db"), "import", str(out), "--json")
    assert json.loads(r.stdout)["memories"] == 2, r.stderr
    r = cli("--db", str(tmp_path / "new.db"), "recall", "garage code", "--json")
    assert json.loads(r.stdout)[0]["text"] == "the garage code is on the blue card"
    assert cli("backup", str(tmp_path / "b.db")).exit_code == 0
    assert cli("export", "-o", str(out)).exit_code == 1  # never overwrites


def test_plugin_hooks_for_exporters_and_generators(tmp_path):
    from memcli.plugins import hookimpl, plugin_manager
    from tests.conftest import ScriptedGenerator

    class Extra:
        @hookimpl
        def register_exporters(self, register):
            register("count", lambda source, out, options: {
                "memories": out.write(str(sum(1 for _ in source.memories(with_vectors=False))))})

        @hookimpl
        def register_generators(self, register):
            register("scripted", lambda: ScriptedGenerator("In Lisbon [1]."))

    pm = plugin_manager()
    pm.register(Extra(), name="extra")
    with Memory(tmp_path / "p.db", embedder=HashEmbedder(), generator_spec="scripted", plugins=pm) as mem:
        mem.remember([RawInput("a", "Ana moved to Lisbon")])
        import io

        buf = io.StringIO()
        mem.export("count", buf)
        assert buf.getvalue() == "1"
        assert mem.generator.model_id == "scripted"
        with pytest.raises(InputError, match="unknown export format"):
            mem.export("xml", io.StringIO())


def test_cli_export_errors(cli, tmp_path):
    cli("remember", "something")
    r = cli("export", "--format", "xml")
    assert r.exit_code == 2 and "unknown export format" in r.stderr
    r = cli("export", "-o", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert r.exit_code == 1 and "cannot write" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_stale_summary_gets_no_vector_on_reindex_and_does_not_force_reembedding_on_import(tmp_path):
    """After a forget, a summary that also rested on it is stale: no text, no vector until consolidate rebuilds
    it. Reindex must not embed its empty key (it would match short questions), nor may it make import re-embed."""
    with Memory(tmp_path / "a.db", embedder=HashEmbedder()) as mem:
        res = mem.remember([RawInput("chat", CHAT)], fmt="jsonl")
        summary = mem.derive("summary", "Ana adopted Miso, who prefers salmon", res.created[:2])
        mem.forget([res.created[0]])
        assert mem.store.memories.row(summary)["stale"] == 1
        mem.reindex()
        assert summary not in mem.store.vectors.first_of([summary])
        out = tmp_path / "export.jsonl"
        with open(out, "w") as fh:
            mem.export_jsonl(fh)
    with Memory(tmp_path / "b.db", embedder=HashEmbedder()) as mem:
        result = mem.import_jsonl(out.read_text().splitlines())
        assert result["memories"] == 3 and not result["reembedded"]
        stale = [m for m in mem.store.vectors.first_of(range(1, 10))]
        assert len(stale) == 2  # the two surviving turns; the stale summary has none


def test_a_memory_forgotten_since_the_export_comes_back_with_its_provenance(tmp_path, target):
    with Memory(target, embedder=HashEmbedder()) as mem:
        res = mem.remember([RawInput("chat", CHAT)], fmt="jsonl")
        out = tmp_path / "export.jsonl"
        with open(out, "w") as fh:
            mem.export_jsonl(fh)
        mem.forget([res.created[2]])
        mem.import_jsonl(out.read_text().split("\n"))
        back = next(h for h in mem.recall("salmon", touch=False) if h.text == "She prefers salmon")
        assert [s["message_id"] for s in back.sources] == ["c3"]  # forget --source and audit show reach it again
