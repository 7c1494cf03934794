"""Vectors: the `chunks` table (one row per embedded piece of a memory) and sqlite-vec's `vec_chunks`, and which
embedding model they come from (meta). Values are int8 codes (vector_codec.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ModelError
from . import vec0_layout, vector_codec, vector_signs
from .database import Database
from .filters import marks, parts
from .meta import Meta

META_MODEL = "embedding_model"
META_DIM = "embedding_dim"
META_SHA = "embedding_sha256"  # of the model file the vectors came from, when it is a file


class Vectors:
    VALUE = "vec_int8(?)"  # how a stored vector is written: int8 codes through sqlite-vec
    KEEPS_SIGNS = True  # sign codes for the one-shot search (vector_signs.py); Postgres searches its own way

    def __init__(self, db: Database, meta: Meta):
        self.db = db
        self.meta = meta
        self.writes = 0  # vector inserts/deletes through this connection (see version())
        self.signs = vector_signs.VectorSigns(db, meta) if self.KEEPS_SIGNS else None

    # -- how this engine keeps a vector (postgres/stores.py overrides these) ---------------------------------------
    def table_sql(self, dim: int) -> list[str]:
        """The statements that make the vector table for `dim`."""
        return [vector_codec.table_sql(dim)]

    def param(self, vector: np.ndarray) -> object:
        return vector_codec.to_blob(vector)

    def codes(self, stored: list, dim: int) -> np.ndarray:
        """Stored values back as their int8 codes."""
        if not stored:
            return np.zeros((0, dim), dtype=np.int8)
        return np.frombuffer(b"".join(stored), dtype=np.int8).reshape(len(stored), dim)

    def rows(self, stored: list, dim: int) -> np.ndarray:
        """Stored values back as unit float32 rows."""
        return vector_codec.decode(self.codes(stored, dim)) if stored else np.zeros((0, dim), dtype=np.float32)

    # -- the model --------------------------------------------------------------------------------------------------
    def model(self) -> tuple[str, int] | None:
        model, dim = self.meta.get(META_MODEL), self.meta.get(META_DIM)
        return (model, int(dim)) if model and dim else None

    def ensure_model(self, model_id: str, dim: int, sha256: str | None = None) -> bool:
        """Record the model (and its file's checksum) on first use: True when something was recorded. Refuses to
        mix vectors from two models, or from a model file that changed."""
        current = self.model()
        if current is None:
            if not self.db.has_table("vec_chunks"):
                for statement in self.table_sql(dim):  # dim is an int from the model, never user text
                    self.db.conn.execute(statement)
            self.meta.set(META_MODEL, model_id)
            self.meta.set(META_DIM, str(dim))
            if sha256:
                self.meta.set(META_SHA, sha256)
            return True
        self.check_model(model_id, dim, sha256)
        if sha256 and self.meta.get(META_SHA) is None:  # a database from before checksums were recorded
            self.meta.set(META_SHA, sha256)
            return True
        return False

    def check_model(self, model_id: str, dim: int, sha256: str | None = None) -> None:
        current = self.model()
        if current is None:
            return
        if current != (model_id, dim):
            raise ModelError(
                f"this database holds vectors from {current[0]} ({current[1]}-d) but the embedder is "
                f"{model_id} ({dim}-d); run 'memcli reindex' to re-embed every memory with the new model")
        recorded = self.meta.get(META_SHA)
        if sha256 and recorded and sha256 != recorded:
            raise ModelError(
                f"the embedding model file changed since this database's vectors were made (SHA-256 {sha256[:12]}…, "
                f"recorded {recorded[:12]}…): put the original file back, or run 'memcli reindex' to re-embed "
                "every memory with this one")

    def reset(self, model_id: str, dim: int, sha256: str | None = None) -> None:
        """Every vector goes; the table is made anew for this model."""
        self.writes += 1
        self.db.conn.execute("DROP TABLE IF EXISTS vec_chunks")
        self.db.conn.execute("DELETE FROM chunks")
        if self.signs is not None:
            self.signs.drop_all()
        self.meta.delete(META_MODEL, META_DIM, META_SHA)
        self.ensure_model(model_id, dim, sha256)

    # -- rows -------------------------------------------------------------------------------------------------------
    def add(self, memory_id: int, vectors: np.ndarray) -> None:
        self.writes += 1
        ids = []
        for seq, vec in enumerate(vectors):
            cur = self.db.conn.execute("INSERT INTO chunks(memory_id, seq) VALUES (?, ?) RETURNING id",
                                       [memory_id, seq])
            ids.append(cur.fetchone()[0])
            self.db.conn.execute(f"INSERT INTO vec_chunks(rowid, embedding) VALUES (?, {self.VALUE})",
                                 [ids[-1], self.param(vec)])
        if self.signs is not None and ids:
            unit = vector_codec.decode(vector_codec.encode(vectors))  # as stored: what a search re-ranks with
            if self.signs.mean(unit.shape[1]) is not None:
                self.signs.add(ids, unit)
            else:
                self._sign_if_due(ids[-1])

    def _sign_if_due(self, last_id: int) -> None:
        """Start keeping sign codes once the database holds vector_signs.FAST_FROM chunk vectors (or code them
        anew when the stored ones do not read back). Chunk ids are handed out above the largest, so while the
        newest id is below the threshold so is the count, and remembering costs no count (after many forgets, one
        count per memory stored, of fewer than FAST_FROM rows, until the database gets there again)."""
        if last_id >= vector_signs.FAST_FROM and \
                self.db.one("SELECT count(*) FROM chunks")[0] >= vector_signs.FAST_FROM:
            self.build_signs()

    def build_signs(self) -> None:
        """Code every stored vector against their mean, a block at a time (a migration's or a change's work:
        10-20 s for a million vectors here, most of it sqlite-vec's inserts)."""
        assert self.signs is not None
        ids, codes = self._stored()
        if len(ids):
            self.signs.build(ids, codes)

    def drop(self, ids: Sequence[int]) -> None:
        """Remove these memories' vectors (sqlite-vec clears the deleted bytes itself)."""
        for part in parts(ids):
            chunk_ids = [r[0] for r in self.db.conn.execute(
                f"SELECT id FROM chunks WHERE memory_id IN ({marks(part)})", part)]
            if chunk_ids and self.model() is not None:
                self.writes += 1
                for cid in chunk_ids:
                    self.db.conn.execute("DELETE FROM vec_chunks WHERE rowid = ?", [cid])
                if self.signs is not None:
                    self.signs.drop(chunk_ids)
                    if self.db.one("SELECT NOT EXISTS (SELECT 1 FROM chunks WHERE id NOT IN "
                                   f"({marks(chunk_ids)}))", chunk_ids)[0]:
                        self.signs.drop_all()  # the last vectors go: so does the mean taken over them
            self.db.conn.execute(f"DELETE FROM chunks WHERE memory_id IN ({marks(part)})", part)

    def replace(self, memory_id: int, vectors: np.ndarray) -> None:
        self.drop([memory_id])
        self.add(memory_id, vectors)

    def first_of(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """First-chunk vector of each memory (enough for near-duplicate and centrality checks)."""
        out: dict[int, np.ndarray] = {}
        model = self.model()
        if model is None:
            return out
        for part in parts(ids):
            for mid, blob in self.db.conn.execute(
                "SELECT c.memory_id, v.embedding FROM chunks c JOIN vec_chunks v ON v.rowid = c.id "
                f"WHERE c.seq = 0 AND c.memory_id IN ({marks(part)})", part):
                out[mid] = self.rows([blob], model[1])[0]
        return out

    def of_memory(self, memory_id: int) -> np.ndarray | None:
        """Every chunk vector of one memory, in order (None without a model)."""
        model = self.model()
        if model is None or not self.db.has_table("vec_chunks"):
            return None
        blobs = [r[0] for r in self.db.conn.execute(
            "SELECT v.embedding FROM chunks c JOIN vec_chunks v ON v.rowid = c.id WHERE c.memory_id = ? "
            "ORDER BY c.seq", [memory_id])]
        return self.rows(blobs, model[1])

    def everything(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(chunk ids, memory id per chunk, int8 codes) of every stored chunk vector, for a resident copy."""
        ids, codes = self._stored()
        owners = self.owners(ids)
        known = owners >= 0
        return (ids, owners, codes) if known.all() else (ids[known], owners[known], codes[known])

    def owners(self, chunk_ids: np.ndarray) -> np.ndarray:
        """The memory id of each of these chunk ids; -1 for a vector whose chunk row is gone (a damaged file:
        such a vector is never an answer)."""
        if not len(chunk_ids):
            return np.zeros(0, dtype=np.int64)
        # SQLite keeps whatever a file holds: a memory id that is not an integer is no memory (Postgres's column
        # is typed)
        typed = "TRUE" if self.db.postgres else "typeof(memory_id) = 'integer'"
        if len(chunk_ids) <= 20_000:  # a search's shortlist: its own rows, not the whole table (1 s at 1M)
            found: list = []
            for part in parts([int(i) for i in chunk_ids]):
                found += self.db.conn.execute(f"SELECT id, memory_id FROM chunks WHERE id IN ({marks(part)}) "
                                              f"AND {typed} ORDER BY id", part).fetchall()
            pairs = np.array(sorted(found), dtype=np.int64).reshape(-1, 2)
        else:
            pairs = np.array(self.db.conn.execute(f"SELECT id, memory_id FROM chunks WHERE {typed} ORDER BY id")
                             .fetchall(), dtype=np.int64).reshape(-1, 2)
        at = np.minimum(np.searchsorted(pairs[:, 0], chunk_ids), max(len(pairs) - 1, 0))
        if not len(pairs):
            return np.full(len(chunk_ids), -1, dtype=np.int64)
        return np.where(pairs[at, 0] == chunk_ids, pairs[at, 1], -1)

    def _stored(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, int8 codes) of every stored vector: from sqlite-vec's chunks when their layout is the
        expected one (0.04 s at 100,000 vectors, against 0.4 s row by row)."""
        model = self.model()
        if model is None or not self.db.has_table("vec_chunks"):
            return np.zeros(0, dtype=np.int64), np.zeros((0, model[1] if model else 0), dtype=np.int8)
        dim = model[1]
        read = vec0_layout.read_all(self.db, "vec_chunks", dim) if self.KEEPS_SIGNS else None
        if read is not None:
            return read[0], read[1].view(np.int8)
        rows = self.db.conn.execute("SELECT rowid, embedding FROM vec_chunks").fetchall()
        return (np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                self.codes([r[1] for r in rows], dim))

    def version(self) -> tuple[int, int]:
        """Changes whenever the vectors may have: another connection committed anything (PRAGMA data_version
        is all SQLite offers), or this one wrote vectors. This connection's other writes (a recall's touch and
        audit record) leave it alone, so a long-lived process does not reload after every recall."""
        return self.db.one("PRAGMA data_version")[0], self.writes
