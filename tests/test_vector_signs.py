"""Sign codes (storage/vector_signs.py) and the one-shot search they bound (storage/search.py nearest_by_signs):
kept in step with every vector by construction, erased with them, read from sqlite-vec's chunks exactly as the
virtual table reads them, and never deciding a score, only which rows are scored."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from memcli.core import Memory, RawInput
from memcli.models.hashing import HashEmbedder
from memcli.retrieval import sign_search
from memcli.storage import vec0_layout, vector_codec, vector_signs
from memcli.types import Filters

WORDS = "lisbon harbour cat dentist garden kyoto violin camera wedding bike sourdough atlas pottery".split()


def notes(n: int, start: int = 0) -> str:
    return "\n\n".join(" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(1 + i % 6)) + f" item {i}"
                       for i in range(start, start + n))


def signs_mean(mem: Memory):
    return mem.store.vectors.signs.mean(mem.store.vectors.model()[1])


def stored_signs(mem: Memory) -> dict[int, bytes]:
    ids, packed = mem.store.vectors.signs.everything(mem.store.vectors.model()[1])
    return {int(i): row.tobytes() for i, row in zip(ids, packed)}


def expected_signs(mem: Memory) -> dict[int, bytes]:
    """Every stored vector coded against the frozen mean, read row by row through sqlite-vec."""
    mean = signs_mean(mem)
    rows = mem.store.conn.execute("SELECT rowid, embedding FROM vec_chunks").fetchall()
    unit = vector_codec.from_blobs([r[1] for r in rows], mem.store.vectors.model()[1])
    return {r[0]: code.tobytes() for r, code in zip(rows, vector_signs.pack(unit, mean))}


@pytest.fixture
def low_threshold(monkeypatch):
    monkeypatch.setattr(vector_signs, "FAST_FROM", 60)


def test_signs_start_at_the_threshold_and_follow_every_change(tmp_path, low_threshold):
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", notes(50))])
        assert signs_mean(mem) is None  # below the threshold: nothing kept
        mem.remember([RawInput("b", notes(30, start=50))])  # crosses it: every vector so far is coded
        assert signs_mean(mem) is not None
        assert stored_signs(mem) == expected_signs(mem) and len(stored_signs(mem)) == 80
        mem.remember([RawInput("c", notes(5, start=80))])  # later vectors coded as they come
        gone = mem.store.memories.select_ids(Filters())[:7]
        mem.forget(gone)
        assert stored_signs(mem) == expected_signs(mem) and len(stored_signs(mem)) == 78
        with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as other:  # another connection writes
            other.remember([RawInput("d", "zebra quokka axolotl")])
        assert stored_signs(mem) == expected_signs(mem) and len(stored_signs(mem)) == 79


def test_reindex_codes_the_new_vectors_anew(tmp_path, low_threshold):
    class Other(HashEmbedder):
        model_id = "other-hash"

        def _embed_batch(self, texts):
            return np.ascontiguousarray(super()._embed_batch(texts)[:, ::-1])

    db = tmp_path / "m.db"
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", notes(80))])
        before = signs_mean(mem).copy()
    with Memory(db, embedder=Other()) as mem:
        mem.reindex()
        assert stored_signs(mem) == expected_signs(mem) and len(stored_signs(mem)) == 80
        assert not np.array_equal(signs_mean(mem), before)


def test_reading_sqlite_vecs_chunks_equals_reading_the_virtual_table(tmp_path, low_threshold):
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", notes(2500))])  # three of sqlite-vec's 1,024-row chunks
        mem.forget(mem.store.memories.select_ids(Filters())[100:1200:3])  # holes in every chunk
        store = mem.store
        dim = store.vectors.model()[1]
        ids, raw = vec0_layout.read_all(store.db, "vec_chunks", dim)
        rows = store.conn.execute("SELECT rowid, embedding FROM vec_chunks").fetchall()
        assert sorted(zip(ids.tolist(), (r.tobytes() for r in raw))) == sorted(rows)
        assert len(ids) == len(rows) == 2500 - len(range(100, 1200, 3))
        chunk_ids, owners, codes = store.vectors.everything()
        chunk_owner = dict(store.conn.execute("SELECT id, memory_id FROM chunks"))
        assert owners.tolist() == [chunk_owner[i] for i in chunk_ids.tolist()]
        assert dict(zip(chunk_ids.tolist(), (c.tobytes() for c in codes))) == dict(rows)
        # A layout this code does not know (another sqlite-vec): no shadow read; the same vectors row by row.
        assert vec0_layout.read_all(store.db, "vec_chunks", dim - 1) is None
        assert vec0_layout.read_all(store.db, "memories", dim) is None
        kept = vec0_layout.read_all
        try:
            vec0_layout.read_all = lambda *a: None
            slow = store.vectors.everything()
        finally:
            vec0_layout.read_all = kept
        order, slow_order = np.argsort(chunk_ids), np.argsort(slow[0])
        for fast_part, slow_part in zip((chunk_ids, owners, codes), slow):
            assert np.array_equal(fast_part[order], slow_part[slow_order])


def exact_search(mem: Memory, query: np.ndarray, limit: int) -> list[tuple[int, float]]:
    return mem.store.search.nearest(query, Filters(), limit, signs=False)  # the sqlite-vec scan


def test_the_one_shot_search_scores_exactly_what_the_signs_shortlist(tmp_path, low_threshold, monkeypatch):
    monkeypatch.setattr(sign_search, "EXACT_PER_ROOT", 4)  # a shortlist this small corpus does not scan instead
    emb = HashEmbedder()
    with Memory(tmp_path / "m.db", embedder=emb) as mem:
        mem.remember([RawInput("a", notes(2000))])
        store = mem.store
        first = store.vectors.first_of(store.memories.select_ids(Filters()))
        chosen = []
        real = sign_search.candidates
        monkeypatch.setattr(sign_search, "candidates", lambda *a: chosen.append(real(*a)) or chosen[-1])
        for text in ["lisbon harbour", "violin camera wedding", "item 17", "kyoto pottery"]:
            q = vector_codec.as_stored(emb.embed_query(text))
            got = store.search.nearest(q, Filters(), 10)
            assert 30 <= len(chosen[-1]) <= 250  # a real shortlist was scored, not every row
            assert len(got) == 10
            for mid, score in got:  # exact scores, in exact order
                assert score == pytest.approx(float(first[mid] @ q), abs=1e-6)
            assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        monkeypatch.setattr(sign_search, "EXACT_PER_ROOT", 10**6)  # every row: the exact answer itself
        for text in ["lisbon harbour", "item 17"]:
            q = emb.embed_query(text)
            got, exact = store.search.nearest(q, Filters(), 50), exact_search(mem, q, 50)
            assert [m for m, _ in got] == [m for m, _ in exact]
            assert np.allclose([s for _, s in got], [s for _, s in exact], atol=1e-6)
        monkeypatch.setattr(sign_search, "EXACT_PER_ROOT", 4)
        for mid in list(first)[::173]:  # a stored vector searched for is found first
            top, score = store.search.nearest(first[mid], Filters(), 1)[0]
            assert score == pytest.approx(1.0, abs=1e-5)
            assert top == mid or np.allclose(first[top], first[mid], atol=1e-5)


def test_the_sign_search_finds_the_exact_neighbours_of_clustered_vectors(tmp_path, low_threshold):
    """Ranking quality, not only exactness: 3,000 vectors in clusters (like sentence embeddings), 40 queries, the
    default shortlist sizes; the top 10 must match the exact scan's on at least 97 % (the bench measures 99.9 %
    at 100k on MiniLM-shaped vectors)."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 384)).astype(np.float32)
    vectors = centres[rng.integers(0, 30, 3000)] + 0.9 * rng.normal(size=(3000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    class Table(HashEmbedder):
        model_id, dimension = "table-384", 384

        def _embed_batch(self, texts):
            return np.stack([vectors[int(t.rsplit(" ", 1)[1])] for t in texts])

    texts = "\n\n".join(f"vector {i}" for i in range(3000))
    with Memory(tmp_path / "m.db", embedder=Table()) as mem:
        mem.remember([RawInput("v", texts)])
        assert len(stored_signs(mem)) == 3000
        overlap = []
        for q in centres[rng.integers(0, 30, 40)] + 0.9 * rng.normal(size=(40, 384)).astype(np.float32):
            q = vector_codec.as_stored(q / np.linalg.norm(q))
            got = {m for m, _ in mem.store.search.nearest(q, Filters(), 10)}
            overlap.append(len(got & {m for m, _ in exact_search(mem, q, 10)}) / 10)
        assert np.mean(overlap) >= 0.97


def test_filters_archived_rows_and_damaged_rows(tmp_path, low_threshold):
    emb = HashEmbedder()
    with Memory(tmp_path / "m.db", embedder=emb) as mem:
        mem.remember([RawInput("a", notes(200))])
        store = mem.store
        q = emb.embed_query("lisbon harbour")
        top = [m for m, _ in store.search.nearest(q, Filters(), 5)]
        mem.forget(top[:2], archive=True)
        assert not set(top[:2]) & {m for m, _ in store.search.nearest(q, Filters(), 20)}
        assert store.search.nearest(q, Filters(scope="nowhere"), 5) == []  # narrowing: the filtered scan
        # A sign whose vector is gone (a file edited behind memcli's back) is skipped, never an error.
        victim = store.conn.execute("SELECT id FROM chunks WHERE memory_id = ?", [top[2]]).fetchone()[0]
        store.db.depth += 1  # past the write guard, as a foreign writer would be
        try:
            store.conn.execute("DELETE FROM vec_chunks WHERE rowid = ?", [victim])
        finally:
            store.db.depth -= 1
        got = store.search.nearest(q, Filters(), 20)
        assert top[2] not in {m for m, _ in got} and len(got) == 20


def test_a_database_past_the_threshold_gets_its_signs_when_upgraded(tmp_path, low_threshold):
    db = tmp_path / "m.db"
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", notes(100))])
        store = mem.store
        store.db.depth += 1  # as a database from before m010 looks
        try:
            store.vectors.signs.drop_all()
            store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm010_vector_signs'")
            store.conn.commit()
        finally:
            store.db.depth -= 1
    with Memory(db, embedder=HashEmbedder()) as mem:
        assert signs_mean(mem) is not None
        assert stored_signs(mem) == expected_signs(mem) and len(stored_signs(mem)) == 100


def file_bytes(path) -> bytes:
    return b"".join(open(f, "rb").read() for f in sorted(glob.glob(str(path) + "*")))


def test_forget_erases_a_memorys_signs_from_the_file(tmp_path, low_threshold):
    db = tmp_path / "m.db"
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", notes(100))])
        victim = mem.remember([RawInput("b", "the safe combination is qzvx4417")]).created[0]
        chunk = mem.store.conn.execute("SELECT id FROM chunks WHERE memory_id = ?", [victim]).fetchone()[0]
        code = stored_signs(mem)[chunk]
        mem.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert code in file_bytes(db)  # the check can fail
        mem.forget([victim])
        assert chunk not in stored_signs(mem)
        mem.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert code not in file_bytes(db)


def test_a_long_lived_copy_shortlists_with_the_databases_signs(tmp_path, low_threshold):
    from memcli.retrieval import resident as res

    emb = HashEmbedder()
    with Memory(tmp_path / "m.db", embedder=emb) as mem:
        mem.remember([RawInput("a", notes(300))])
        mem.forget(mem.store.memories.select_ids(Filters())[10:40])  # holes: the copy aligns by chunk id
        store = mem.store
        copy = res.ResidentVectors()
        first = store.vectors.first_of(store.memories.select_ids(Filters()))
        for text in ["lisbon harbour", "item 17"]:
            q = vector_codec.as_stored(emb.embed_query(text))
            got = copy.search(store.vectors, q, 10)
            assert np.array_equal(copy._mean, signs_mean(mem))
            assert copy._matrix is None and copy._int8 is not None  # the codes kept as stored
            for mid, score in got:
                assert score == pytest.approx(float(first[mid] @ q), abs=1e-6)
        owners = copy._owners.tolist()
        for row in range(0, len(owners), 17):  # each row's signs are its own vector's
            unit = vector_codec.decode(copy._int8[row : row + 1])
            expected = res.binary_codes(unit, copy._mean)[:, 0]
            assert np.array_equal(copy._codes[:, row], expected)


# -- found by review: each of these failed before its fix ------------------------------------------------------------

def edit(mem: Memory, *sql: str) -> None:
    """Change the file behind memcli's back, as a foreign writer or a hex editor would."""
    mem.store.db.depth += 1  # past the write guard
    try:
        for statement in sql:
            mem.store.conn.execute(statement)
        mem.store.conn.commit()
    finally:
        mem.store.db.depth -= 1


@pytest.fixture
def signed(tmp_path, low_threshold):
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as m:
        m.remember([RawInput("a", notes(200))])
        assert signs_mean(m) is not None
        yield m


@pytest.mark.parametrize("value", ["not base64!", "AAAAAA==", "AAAAAAAAAAA="])
def test_a_damaged_mean_is_no_signs_for_search_and_is_rebuilt_by_the_next_remember(signed, value):
    edit(signed, f"UPDATE meta SET value = '{value}' WHERE key = 'vec_signs_mean'")
    assert signed.recall("lisbon harbour") and signs_mean(signed) is None  # searched by the scan
    signed.remember([RawInput("b", "one more note about kyoto")])
    assert signs_mean(signed) is not None and stored_signs(signed) == expected_signs(signed)


def test_an_absurd_chunk_size_costs_a_fallback_not_the_memory(tmp_path, low_threshold):
    db = tmp_path / "m.db"
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", notes(200))])
        edit(mem, "UPDATE vec_signs_chunks SET size = 1099511627776")
        assert mem.recall("lisbon harbour", touch=False)  # the one-shot search scans instead
        edit(mem, "UPDATE vec_chunks_chunks SET size = 1099511627776")  # sqlite-vec's own reads ignore it
        mem.keep_vectors_resident()
        assert mem.recall("lisbon harbour", touch=False)  # the resident copy reads row by row
        edit(mem, "DROP TABLE vec_signs", "DELETE FROM meta WHERE key = 'vec_signs_mean'",
             "DELETE FROM _sqlite_migrations WHERE name = 'm010_vector_signs'")
    with Memory(db, embedder=HashEmbedder()) as mem:  # the upgrade of a database with that damage
        assert mem.recall("lisbon harbour", touch=False) and len(stored_signs(mem)) == 200


def test_a_signs_table_of_another_width_is_no_signs(signed):
    edit(signed, "DROP TABLE vec_signs", "CREATE VIRTUAL TABLE vec_signs USING vec0(sign bit[8])",
         "INSERT INTO vec_signs(rowid, sign) VALUES (1, vec_bit(X'ff'))")
    q = HashEmbedder().embed_query("lisbon harbour")
    assert signed.store.search.nearest_by_signs(q, 30) is None
    assert signed.recall("lisbon harbour")


def test_a_rolled_back_reindex_does_not_delay_the_signs(tmp_path, low_threshold):
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", notes(55))])
        real, calls = mem.store.vectors.add, []

        def flaky(mid, v):
            calls.append(mid)
            if len(calls) == 30:
                raise RuntimeError("interrupted")
            return real(mid, v)

        mem.store.vectors.add = flaky
        with pytest.raises(RuntimeError):
            mem.reindex()
        mem.store.vectors.add = real
        mem.remember([RawInput("b", notes(10, start=55))])  # 65 vectors now
        assert signs_mean(mem) is not None and len(stored_signs(mem)) == 65


def test_many_rows_wanted_are_scanned_not_fetched_one_by_one(signed):
    q = HashEmbedder().embed_query("lisbon harbour")
    assert signed.store.search.nearest_by_signs(q, 30) is None  # 120 of 200 rows: a scan is cheaper
    assert len(signed.store.search.nearest(q, Filters(), 100)) == 100


@pytest.mark.parametrize("grid, leaks", [(2**30, True), (vector_signs.MEAN_GRID, False)])
def test_the_stored_mean_does_not_give_a_forgotten_vector_back(tmp_path, monkeypatch, grid, leaks):
    """The stored mean times the number of vectors it was taken over, minus the survivors, would be the
    forgotten vector if the mean were exact (the first case shows the attack works then); rounded, it is noise."""
    monkeypatch.setattr(vector_signs, "FAST_FROM", 2000)
    monkeypatch.setattr(vector_signs, "MEAN_GRID", grid)
    db = tmp_path / "m.db"
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", notes(1500))])
        victim = mem.remember([RawInput("b", "the safe combination is qzvx4417 lisbon")]).created[0]
        mem.remember([RawInput("c", notes(499, start=1500))])  # the 2,000th vector: frozen over all of them
        chunk = mem.store.conn.execute("SELECT id FROM chunks WHERE memory_id = ?", [victim]).fetchone()[0]
        secret = vector_codec.from_blobs([mem.store.conn.execute(
            "SELECT embedding FROM vec_chunks WHERE rowid = ?", [chunk]).fetchone()[0]], 64)[0]
        mem.forget([victim])
        dim = mem.store.vectors.model()[1]
        mean = mem.store.vectors.signs.mean(dim).astype(np.float64)
        rows = mem.store.conn.execute("SELECT embedding FROM vec_chunks").fetchall()
        assert len(rows) == 1999
        recovered = mean * 2000 - vector_codec.from_blobs([r[0] for r in rows], dim).astype(np.float64).sum(axis=0)
        cosine = float(recovered @ secret) / np.linalg.norm(recovered)
        assert (cosine > 0.99) if leaks else (cosine < 0.5)


@pytest.mark.parametrize("noise", [False, True])
def test_a_guessed_forgotten_vector_cannot_be_checked_against_the_stored_mean(tmp_path, monkeypatch, noise):
    """Deterministic rounding would let whoever holds the file recompute the stored mean and spread for a guessed
    forgotten vector and compare them value for value (the first case: the true vector matches exactly). With the
    noise that is never stored, the true vector no longer reproduces them."""
    if not noise:
        monkeypatch.setattr(vector_signs, "noise", lambda shape: np.zeros(shape))
    monkeypatch.setattr(vector_signs, "FAST_FROM", 2000)
    rng = np.random.default_rng(7)
    pool = rng.normal(size=(2000, 64)).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)

    class Table(HashEmbedder):
        def _embed_batch(self, texts):
            return np.stack([pool[int(t.rsplit(" ", 1)[1])] for t in texts])

    with Memory(tmp_path / "m.db", embedder=Table()) as mem:
        mem.remember([RawInput("v", "\n\n".join(f"vector {i}" for i in range(2000)))])
        victim = mem.store.memories.select_ids(Filters())[1234]
        secret = mem.store.vectors.first_of([victim])[victim].astype(np.float64)
        mem.forget([victim])
        mean, spread = (x.astype(np.float64) for x in mem.store.vectors.signs.frozen(64))
        rows = mem.store.conn.execute("SELECT embedding FROM vec_chunks").fetchall()
        survivors = vector_codec.from_blobs([r[0] for r in rows], 64).astype(np.float64)
    grid = vector_signs.MEAN_GRID
    recomputed_mean = np.round((survivors.sum(axis=0) + secret) / 2000 * grid) / grid
    recomputed_spread = np.round((np.abs(survivors - mean).sum(axis=0) + np.abs(secret - mean)) / 2000 * grid) / grid
    matches = np.array_equal(recomputed_mean, mean) and np.array_equal(recomputed_spread, spread)
    assert matches is not noise


def test_a_dimension_that_is_not_a_multiple_of_8_keeps_signs(tmp_path, low_threshold):
    class Odd(HashEmbedder):
        model_id, dimension = "odd-100", 100

        def _embed_batch(self, texts):
            return np.ascontiguousarray(np.tile(super()._embed_batch(texts), (1, 2))[:, :100])

    with Memory(tmp_path / "m.db", embedder=Odd()) as mem:
        mem.remember([RawInput("a", notes(200))])  # crosses the threshold
        assert signs_mean(mem) is not None and len(stored_signs(mem)) == 200
        assert mem.recall("lisbon harbour")


def test_forgetting_every_memory_takes_the_mean_with_it(signed):
    signed.forget(signed.store.memories.select_ids(Filters()))
    assert signed.store.meta.get(vector_signs.META_MEAN) is None
    assert not signed.store.db.has_table(vector_signs.TABLE)


def test_damaged_signs_tables_never_break_remember_or_recall(signed):
    edit(signed, "DROP TABLE vec_signs", "CREATE TABLE vec_signs(x)")  # not sqlite-vec's at all
    assert signed.recall("lisbon harbour")
    signed.remember([RawInput("b", "a note about kyoto")])  # codes everything anew
    assert len(stored_signs(signed)) == 201
    chunk = signed.store.conn.execute("SELECT max(id) FROM chunks").fetchone()[0]
    edit(signed, f"DELETE FROM chunks WHERE id = {chunk}", f"DELETE FROM vec_chunks WHERE rowid = {chunk}")
    signed.remember([RawInput("c", "a note about the dentist")])  # its chunk id reuses the stale sign's
    assert stored_signs(signed) == expected_signs(signed)


def test_a_missing_sign_is_noticed_and_the_scan_finds_the_memory(signed):
    q = HashEmbedder().embed_query("lisbon harbour")
    top = signed.store.search.nearest(q, Filters(), 1)[0][0]
    chunk = signed.store.conn.execute("SELECT id FROM chunks WHERE memory_id = ?", [top]).fetchone()[0]
    edit(signed, f"DELETE FROM vec_signs WHERE rowid = {chunk}")
    assert signed.store.search.nearest_by_signs(q, 30) is None
    assert signed.store.search.nearest(q, Filters(), 1)[0][0] == top


def test_a_chunk_row_with_a_text_owner_is_skipped(tmp_path, low_threshold, monkeypatch):
    monkeypatch.setattr(sign_search, "EXACT_PER_ROOT", 4)
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", notes(2000))])
        q = HashEmbedder().embed_query("lisbon harbour")
        top = mem.store.search.nearest(q, Filters(), 1)[0][0]
        edit(mem, "PRAGMA foreign_keys = OFF", f"UPDATE chunks SET memory_id = 'x' WHERE memory_id = {top}")
        assert top not in {m for m, _ in mem.store.search.nearest(q, Filters(), 10)}
