"""The resident full-text half (retrieval/resident_words.py) against FTS5 itself: the same list, id for id and
score for score (compared with ==), before and after every kind of change to the index, and FTS5 wherever the
copy cannot answer."""

from __future__ import annotations

import json
import random

import pytest

from memcli.changes import Op
from memcli.core import Memory, RawInput, RecallOptions
from memcli.models.hashing import HashEmbedder
from memcli.retrieval.fts_query import query_terms
from memcli.retrieval.recall import search_words
from memcli.retrieval.resident_words import ResidentWords
from memcli.types import Filters

WORDS = ("lisbon porto harbour cat dentist garden kyoto violin camera wedding bike sourdough atlas pottery running "
         "runs ran happy happiness tickets concert rain friday may sister moving cook dinner gym beach").split()
NAMES = ("Ana", "Bo", "Chen")


def chat(rng: random.Random, n: int, day: int = 1) -> str:
    lines = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))
        if i % 17 == 0:
            text = "lol yes"  # short turns and exact repeats: ties broken by rowid, as FTS5 orders
        lines.append(json.dumps({"speaker": NAMES[i % 3], "text": text,
                                 "timestamp": f"2024-03-{day:02d}T{10 + i % 12:02d}:{i % 60:02d}:00Z"}))
    return "\n".join(lines)


def queries(rng: random.Random, n: int) -> list[str]:
    pool = list(WORDS) + ["Ana", "Bo", "lol", "yes", "zebra", "Running", "Lisbon's"]
    return [" ".join(rng.sample(pool, rng.randint(1, 6))) + "?" for _ in range(n)]


def both(mem: Memory, query: str, filters: Filters | None = None, depth: int = 100, settle: bool = True):
    """(FTS5's list, the resident copy's list) for one query, through recall's own search_words. The copy is
    built once the index has stayed the same for two searches: `settle` searches once more first, so the second
    list is the copy's wherever it can answer."""
    ctx, filters = mem.ctx, filters or Filters()
    kept, ctx.resident_words = ctx.resident_words, None
    try:
        expected = search_words(ctx, query_terms(query), filters, depth)
    finally:
        ctx.resident_words = kept
    if settle:
        assert search_words(ctx, query_terms(query), filters, depth) == expected
    return expected, search_words(ctx, query_terms(query), filters, depth)


@pytest.fixture
def mem(tmp_path):
    rng = random.Random(7)
    with Memory(tmp_path / "m.db", embedder=HashEmbedder(),
                recall_options=RecallOptions(prune_min_rows=50)) as m:  # word pruning in play at this size
        m.remember([RawInput("chat", chat(rng, 300))], fmt="jsonl")
        m.remember([RawInput("notes", "Ana's sister is moving to Lisbon in May\n\nthe cat sat on the mat")],
                   scope="work")
        m.ctx.resident_words = ResidentWords()
        yield m


def test_the_same_list_as_fts5_score_for_score(mem):
    rng = random.Random(3)
    for query in queries(rng, 150):
        expected, got = both(mem, query)
        assert got == expected, query  # floats compared with ==: the same operations in the same order
    for weights in ((1.0, 0.0), (0.5, 2.0), (1.0, 1.0)):  # a zero weight still matches, with score 0
        mem.recall_options = RecallOptions(prune_min_rows=50, fts_weights=weights)
        for query in queries(rng, 30):
            expected, got = both(mem, query)
            assert got == expected, (weights, query)
    for depth in (1, 5, 300):
        expected, got = both(mem, "lol yes bike", depth=depth)
        assert got == expected


def test_it_answers_from_memory_and_reads_each_word_once(mem, monkeypatch):
    calls = []
    postings = mem.store.lexicon.postings
    monkeypatch.setattr(mem.store.lexicon, "postings", lambda token: calls.append(token) or postings(token))
    expected, got = both(mem, "lisbon violin garden", settle=False)
    assert got == expected and calls == []  # a version seen once: FTS5 answers, nothing is read back yet
    expected, got = both(mem, "lisbon violin garden", settle=False)
    assert got == expected and sorted(calls) == ["garden", "lisbon", "violin"]
    both(mem, "violin lisbon", settle=False)
    assert len(calls) == 3  # kept: no second read while the index is unchanged
    mem.remember([RawInput("more", "a violin")])
    both(mem, "violin", settle=False)
    assert len(calls) == 3  # review finding: a rebuild after every write cost more than FTS5 itself
    both(mem, "violin", settle=False)
    assert calls[3:] == ["violin"]
    phrase = "sourdough_atlas"  # FTS5 reads it as two tokens, a phrase: FTS5 answers
    assert mem.ctx.resident_words.search(mem.store, query_terms(phrase), Filters(), 10, (1.0, 0.3), 50) is None
    assert both(mem, phrase)[0] == both(mem, phrase)[1]


def test_every_change_to_the_index_drops_the_copy(mem, tmp_path):
    """Forget (erase and archive), a neighbour's context rewritten by forget, new memories, and another
    connection's writes: after each, the lists are FTS5's again and no forgotten memory is found."""
    query = "lisbon violin sister moving cat"
    first, _ = both(mem, query)
    gone = [mid for mid, _ in first[:5]]
    mem.forget(gone[:3])
    mem.forget(gone[3:], archive=True)
    expected, got = both(mem, query)
    assert got == expected and not {mid for mid, _ in got} & set(gone)
    mem.remember([RawInput("more", "a violin for Ana's sister in Lisbon")])
    expected, got = both(mem, query)
    assert got == expected and mem.store.memories.max_id() in {m for m, _ in got}  # found through the copy
    other = Memory(mem.db_path, embedder=HashEmbedder())
    hit = got[0][0]
    other.forget([hit])
    other.remember([RawInput("other", "cat cat cat lisbon violin")])
    other.close()
    expected, got = both(mem, query)
    assert got == expected and hit not in {mid for mid, _ in got}


def test_filters_are_answered_as_fts5_answers_them_and_open_changes_go_to_fts5(mem):
    """Review finding: the MCP server searches one scope at a time, so a copy that refused every filter was never
    used there."""
    resident = mem.ctx.resident_words
    for filters in (Filters(scope="work"), Filters(scope="default"), Filters(tags=["none"]),
                    Filters(scope="default", since="2024-03-01T12:00:00Z")):
        for query in ("lisbon sister", "lol yes", "cat bike rain"):
            both(mem, query, filters)
            expected, got = both(mem, query, filters)
            assert got == expected, (filters, query)
    assert resident.search(mem.store, ["lisbon"], Filters(scope="work"), 10, (1.0, 0.3), 50) is not None
    with mem.ctx.change(Op.CONFIG, [], {"key": "test"}):  # inside a change FTS5 sees pending rows: it answers
        assert resident.search(mem.store, ["lisbon"], Filters(), 10, (1.0, 0.3), 50) is None


def test_the_agents_scoped_recall_uses_the_copy(mem):
    from memcli.agents import AgentPolicy, AgentSession

    agent = AgentSession(mem, AgentPolicy(scopes=["default", "work"]))
    mem.keep_vectors_resident()
    for _ in range(2):
        agent.recall("lisbon sister violin", limit=5, touch=False)
    assert mem.ctx.resident_words._postings


def test_a_read_only_database_is_searched_through_fts5(mem, monkeypatch):
    """Review finding: the temp fts5vocab table cannot be made under query_only, and every recall failed."""
    monkeypatch.setattr(type(mem.store), "read_only", property(lambda self: True))
    for _ in range(2):
        expected, got = both(mem, "lisbon violin")
        assert got == expected and got


def test_inactive_rows_among_the_best_are_skipped_as_fts5_skips_them(mem):
    best, _ = both(mem, "lol yes", depth=200)
    mem.forget([mid for mid, _ in best[:60]], archive=True)  # more than limit + slack of the best are archived
    for depth in (10, 100):
        expected, got = both(mem, "lol yes", depth=depth)
        assert got == expected and len(got) == min(depth, len(best) - 60)


def test_recall_with_resident_search_equals_recall_without(tmp_path):
    rng = random.Random(11)
    with Memory(tmp_path / "a.db", embedder=HashEmbedder()) as plain:
        plain.remember([RawInput("chat", chat(rng, 200))], fmt="jsonl")
        plain.keep_vectors_resident(words=False)  # the same vector half: only the full-text half differs
        with Memory(tmp_path / "a.db", embedder=HashEmbedder()) as resident:
            resident.keep_vectors_resident()
            assert resident.ctx.resident_words is not None
            for query in queries(random.Random(5), 40):
                a = [(h.id, h.score) for h in plain.recall(query, limit=20, touch=False)]
                b = [(h.id, h.score) for h in resident.recall(query, limit=20, touch=False)]
                assert a == b, query


def test_a_server_memory_keeps_ftss_own_ranking(hash_memory):
    """On Postgres the full text is ranked by Postgres: the copy stays out of it."""
    hash_memory.remember([RawInput("n", "Ana moved to Lisbon\n\nBo likes jazz")])
    hash_memory.keep_vectors_resident()
    hits = hash_memory.recall("where does Ana live, Lisbon?", touch=False)
    assert hits and hits[0].text == "Ana moved to Lisbon"
    if hash_memory.ctx.url:
        assert not hash_memory.store.lexicon.usable()


def test_a_full_cache_starts_again_and_still_ranks_the_same(mem, monkeypatch):
    from memcli.retrieval import resident_words

    monkeypatch.setattr(resident_words, "MAX_POSTINGS", 150)  # a few words' postings at most
    for query in queries(random.Random(9), 40):
        expected, got = both(mem, query)
        assert got == expected, query
        assert mem.ctx.resident_words._kept <= 150 or len(mem.ctx.resident_words._postings) == 1


def test_words_sharing_a_stem_are_pruned_as_fts5_prunes_them(tmp_path):
    """'running' and 'runs' are one token: when it is in half of all memories, both words are common, so
    nothing is dropped (the SQL path counts per word); the copy must not drop them to an empty query."""
    with Memory(tmp_path / "m.db", embedder=HashEmbedder(), recall_options=RecallOptions(prune_min_rows=4)) as m:
        m.remember([RawInput("n", "\n\n".join(["running late", "she runs", "runs daily", "a cat", "the run"]))])
        m.ctx.resident_words = ResidentWords()
        expected, got = both(m, "running runs")
        assert got == expected and len(got) >= 4  # nothing dropped: 'run' is searched, not an empty query


def test_a_forget_lets_go_of_the_copies_at_once(mem):
    mem.keep_vectors_resident()
    both(mem, "lisbon violin")
    mem.recall("lisbon violin", touch=False)
    assert mem.ctx.resident_words._postings and mem.ctx.resident._matrix is not None
    target = both(mem, "lisbon violin")[0][0][0]
    mem.forget([target])
    assert not mem.ctx.resident_words._postings and mem.ctx.resident._matrix is None


def test_a_word_repeated_tens_of_thousands_of_times_scores_as_in_fts5(tmp_path):
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as m:
        m.remember([RawInput("n", "\n\n".join(["cat " * 70_000 + "end", "cat dog", "dog"]))])
        m.ctx.resident_words = ResidentWords()
        expected, got = both(m, "cat dog")
        assert got == expected and len(got) >= 3


def test_a_sparse_id_space_is_searched_through_fts5(tmp_path):
    """Review finding: arrays sized by the largest rowid; a memory migrated with id 2**40 asked for terabytes."""
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as m:
        m.remember([RawInput("n", "the cat\n\nthe dog\n\na cat and a dog")])
        with m.ctx.change(Op.CONFIG, [], {"key": "test"}):  # an FTS row far out, as a migrated id space has
            m.store.conn.execute("INSERT INTO memories_fts(rowid, text, context) VALUES (?, 'cat dog', '')", [2**40])
        m.ctx.resident_words = ResidentWords()
        for _ in range(2):
            expected, got = both(m, "cat dog")
            assert got == expected and len(got) == 3
        assert m.ctx.resident_words._postings == {}  # never read back: FTS5 answered
