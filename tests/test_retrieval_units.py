from datetime import datetime, timezone

import pytest

from memcli.retrieval.fts_query import match_expression
from memcli.retrieval.fusion import rrf
from memcli.timeparse import parse_time, to_iso


def test_rrf_sums_weighted_reciprocal_ranks():
    fused = rrf({"a": [1, 2, 3], "b": [3, 1]}, {"a": 1.0, "b": 2.0}, k=10)
    scores = {f.memory_id: f.score for f in fused}
    assert scores[1] == pytest.approx(1 / 11 + 2 / 12)
    assert scores[3] == pytest.approx(1 / 13 + 2 / 11)
    assert scores[2] == pytest.approx(1 / 12)
    assert [f.memory_id for f in fused] == [3, 1, 2]
    assert fused[0].ranks == {"a": 3, "b": 1}


def test_match_expression_quotes_words_and_drops_stop_words():
    assert match_expression("Where do I live?") == '"live"'
    assert match_expression('NEAR(a b) OR "x" * (y)') == '"near" OR "b" OR "x" OR "y"'
    assert match_expression("the") == '"the"'  # only stop words: keep them rather than match nothing
    assert match_expression("?!") is None


def test_parse_time_forms():
    now = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc)
    assert to_iso(parse_time("2024-03-01", now=now)) == "2024-03-01T00:00:00Z"
    assert to_iso(parse_time("2024-03-01T10:00:00+02:00", now=now)) == "2024-03-01T08:00:00Z"
    assert to_iso(parse_time("7d", now=now)) == "2024-05-03T12:00:00Z"
    assert to_iso(parse_time("yesterday", now=now)) == "2024-05-09T00:00:00Z"
    assert to_iso(parse_time(1700000000123)) == "2023-11-14T22:13:20Z"
    with pytest.raises(ValueError):
        parse_time("someday")


def test_dropping_ubiquitous_terms_preserves_the_bm25_ranking(tmp_path):
    """A term in half of all memories has bm25 idf clamped to 1e-6: dropping it must leave the ranking of every
    memory that matches another term as it was, and only lose the near-zero tail."""
    import random

    from memcli.core import Memory, RawInput
    from memcli.models.hashing import HashEmbedder
    from memcli.types import Filters

    rng = random.Random(3)
    topics = ["lisbon harbour", "lisbon", "dentist", "garden", "kyoto trip", "harbour view", "pottery", "tax forms",
              "violin", "camera", "wedding", "bike", "sourdough", "atlas", "concert", "puppy", "jacket", "report",
              "violin", "camera", "wedding", "bike", "sourdough", "atlas", "concert", "puppy", "jacket", "report"]
    lines = [f"Ana: {rng.choice(topics)} {' '.join(rng.choice(['we', 'went', 'again', 'later']) for _ in range(rng.randint(0, 6)))}"
             f" #{i}" for i in range(300)]
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("chat", "\n".join(lines))], fmt="chat")
        mem.recall_options.prune_min_rows = 0
        store, depth = mem.store, 300
        assert store.search.ubiquitous_terms(["ana", "lisbon", "harbour"], 0) == {"ana"}
        full = store.search.words(["ana", "lisbon", "harbour"], Filters(), depth)
        pruned = mem.search_words(["ana", "lisbon", "harbour"], Filters(), depth)
        relevant = [(mid, score) for mid, score in full if score > 1e-3]
        assert 0 < len(pruned) == len(relevant) < len(full)
        assert {m for m, _ in pruned} == {m for m, _ in relevant}
        assert all(abs(a - b) < 1e-4 for (_, a), (_, b) in zip(pruned, relevant))  # same scores, same order
        # Nothing to drop, or nothing but ubiquitous terms: the query is left exactly as it was.
        assert mem.search_words(["ana"], Filters(), depth) == store.search.words(["ana"], Filters(), depth)
        assert mem.search_words(["lisbon", "dentist"], Filters(), depth) == \
            store.search.words(["lisbon", "dentist"], Filters(), depth)
        mem.recall_options.prune_min_rows = 10_000  # small databases are never pruned
        assert mem.search_words(["ana", "lisbon"], Filters(), depth) == \
            store.search.words(["ana", "lisbon"], Filters(), depth)


def test_resident_vectors_match_sqlite_vec_exactly_and_follow_changes(tmp_path):
    """The in-memory copy must give the same ranking as sqlite-vec's exact scan, and never serve a vector of a
    memory forgotten or a miss for one added since it was loaded, by this connection or another process's."""
    import numpy as np

    from memcli.core import Memory, RawInput
    from memcli.models.hashing import HashEmbedder
    from memcli.types import Filters

    words = "lisbon harbour cat dentist garden kyoto violin camera wedding bike sourdough atlas".split()
    texts = [" ".join(words[(i * 7 + j) % len(words)] for j in range(1 + i % 5)) + f" note {i}" for i in range(200)]
    db = tmp_path / "m.db"
    emb = HashEmbedder()
    with Memory(db, embedder=emb) as mem:
        mem.remember([RawInput("notes", "\n\n".join(texts))])
        mem.keep_vectors_resident()
        store = mem.store
        for query in ["lisbon harbour", "violin camera wedding", "note 17", "kyoto"]:
            q = emb.embed_query(query)
            exact = store.search.nearest(q, Filters(), 50)
            resident = store.search.nearest(q, Filters(), 50, resident=mem.resident)
            assert np.allclose([s for _, s in resident], [s for _, s in exact], atol=1e-5)
            # Same memories in the same order; the hash embedder makes exact ties, whose order is arbitrary.
            last = exact[-1][1] + 1e-5
            assert {i for i, s in resident if s > last} == {i for i, s in exact if s > last}
        top = mem.recall("violin camera wedding", limit=1)[0].id
        loads = mem.resident._version
        mem.recall("violin camera wedding", limit=1)  # a recall's own touch/audit write must not force a reload
        assert mem.resident._version == loads
        mem.forget([top])
        assert top not in [h.id for h in mem.recall("violin camera wedding", limit=50)]
        with Memory(db, embedder=emb) as other:  # another connection adds a memory
            new = other.remember([RawInput("other", "zebra quokka axolotl")]).created[0]
        assert mem.recall("zebra quokka axolotl", limit=1)[0].id == new
        mem.forget(mem.store.memories.select_ids(Filters()))  # nothing left: an empty copy, not an error
        assert mem.recall("zebra quokka axolotl") == []


def test_fts_without_the_join_returns_what_the_joined_query_returns(tmp_path):
    """The status is checked on FTS5's own top rows; archived memories among them must neither show up nor
    push active ones out (when too many of the top rows are archived, the joined query runs instead)."""
    from memcli.core import Memory, RawInput
    from memcli.models.hashing import HashEmbedder
    from memcli.changes import Op
    from memcli.types import Filters

    texts = [" ".join(["lisbon"] * (1 + i % 7) + ["harbour"] * (i % 3) + [f"n{i}"]) for i in range(200)]
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("notes", "\n\n".join(texts))])
        store = mem.store
        ranked = [i for i, _ in store.search.words_joined('"lisbon"', Filters(), 200, (1.0, 0.3))]
        for archived in (ranked[:5], ranked[:60]):  # few (no fallback) and most of the top rows (fallback)
            with mem.ctx.change(Op.RESTORE):
                store.memories.set_status(ranked, "active")
            with mem.ctx.change(Op.ARCHIVE):
                store.memories.set_status(archived, "archived")
            for limit in (10, 50):
                fast = store.search.words(["lisbon", "harbour"], Filters(), limit)
                joined = store.search.words_joined('"lisbon" OR "harbour"', Filters(), limit, (1.0, 0.3))
                assert [round(s, 6) for _, s in fast] == [round(s, 6) for _, s in joined]
                assert len(fast) == limit and not set(archived) & {i for i, _ in fast}


def test_binary_codes_count_the_dimensions_on_different_sides_of_the_mean():
    import numpy as np

    from memcli.retrieval.resident import binary_codes, hamming, nearest_rows, shortlist_size

    rng = np.random.default_rng(5)
    m = rng.normal(size=(50, 384)).astype(np.float32)
    mean = m.mean(axis=0)
    codes = binary_codes(m, mean)
    assert codes.shape == (6, 50) and codes.dtype == np.uint64
    distance = hamming(codes, codes[:, 0])
    assert list(distance) == [int(((m[0] > mean) != (row > mean)).sum()) for row in m]
    odd = binary_codes(m[:, :100], mean[:100])  # 100 bits pad to two words
    assert odd.shape == (2, 50)
    near = nearest_rows(distance, 10)  # the 10 smallest distances and any row tied with the 10th
    tenth = np.sort(distance)[9]
    assert set(near) == set(np.flatnonzero(distance <= tenth)) and len(near) >= 10
    assert shortlist_size(1_000_000, 50) == 32_000 and shortlist_size(100_000, 50) == 10_119
    assert shortlist_size(1_000, 10) == 1_000 and shortlist_size(2_000, 10) == 1_431
    assert shortlist_size(1_000_000, 5_000) == 40_000  # never fewer than 8 rows per row wanted
    assert shortlist_size(300, 50) == 300


def test_fast_vector_path_reranks_exactly(tmp_path, monkeypatch):
    """The binary shortlist may only decide which rows are scored: every score returned is the exact cosine,
    the order is the exact order among them, a shortlist covering every row gives the exact result itself, and a
    stored vector searched for is always found first."""
    import numpy as np

    from memcli.core import Memory, RawInput
    from memcli.models.hashing import HashEmbedder
    from memcli.retrieval import resident as res
    from memcli.storage import vector_signs
    from memcli.types import Filters

    words = "lisbon harbour cat dentist garden kyoto violin camera wedding bike sourdough atlas pottery".split()
    texts = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(1 + i % 6)) + f" item {i}"
             for i in range(400)]
    emb = HashEmbedder()
    monkeypatch.setattr(vector_signs, "FAST_FROM", 100)
    res_nearest = res.nearest_rows
    with Memory(tmp_path / "m.db", embedder=emb) as mem:
        mem.remember([RawInput("notes", "\n\n".join(texts))])
        store = mem.store
        exact = res.ResidentVectors(exact=True)
        fast = res.ResidentVectors()
        vectors = store.vectors.first_of(store.memories.select_ids(Filters()))  # one chunk per memory here
        scored = []
        monkeypatch.setattr(res, "nearest_rows", lambda d, size: scored.append(size) or res_nearest(d, size))
        for query in ["lisbon harbour", "violin camera wedding", "item 17", "kyoto pottery"]:
            q = emb.embed_query(query)
            monkeypatch.setattr(res, "shortlist_size", lambda n, wanted: 64)  # a real shortlist: 64 of 400 rows
            got = fast.search(store.vectors, q, 10)
            assert fast._codes is not None and scored[-1] == 64
            assert len(got) == 10
            for mid, score in got:  # exact scores ...
                assert score == pytest.approx(float(vectors[mid] @ q), abs=1e-6)
            assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)  # ... in exact order
            monkeypatch.setattr(res, "shortlist_size", lambda n, wanted: n)  # every row: the exact answer
            every, reference = fast.search(store.vectors, q, 10), exact.search(store.vectors, q, 10)
            assert [m for m, _ in every] == [m for m, _ in reference]  # the fast copy keeps int8 rows and
            assert np.allclose([s for _, s in every], [s for _, s in reference], atol=1e-6)  # scales after
        assert exact._codes is None  # the exact copy never pays for codes
        monkeypatch.setattr(res, "shortlist_size", lambda n, wanted: 16)
        for mid in list(vectors)[::37]:  # a stored vector is at Hamming distance 0 from itself
            top, score = fast.search(store.vectors, vectors[mid], 1)[0]
            assert score == pytest.approx(1.0, abs=1e-5)
            assert top == mid or np.allclose(vectors[top], vectors[mid], atol=1e-5)  # or its exact twin


def test_int8_codes_keep_cosine_and_ranking():
    """Stored vectors are int8 with a per-vector scale: cosine moves by rounding only, zero stays zero."""
    import numpy as np

    from memcli.storage.vector_codec import as_stored, decode, encode

    rng = np.random.default_rng(3)
    m = rng.normal(size=(500, 384)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    codes = encode(m)
    assert codes.dtype == np.int8 and np.abs(codes).max() == 127
    back = decode(codes)
    assert np.min(np.sum(back * m, axis=1)) > 0.999
    q = m[0] + 0.5 * m[1]
    q /= np.linalg.norm(q)
    scores, stored_scores = m @ q, back @ as_stored(q)
    assert np.max(np.abs(stored_scores - scores)) < 0.005  # neighbours closer than that may swap places
    assert set(np.argsort(-stored_scores)[:10]) == set(np.argsort(-scores)[:10])
    assert not decode(encode(np.zeros(384))).any()
