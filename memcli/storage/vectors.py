"""Vectors: the `chunks` table (one row per embedded piece of a memory) and sqlite-vec's `vec_chunks`, and which
embedding model they come from (meta). Values are int8 codes (vector_codec.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ModelError
from . import vector_codec
from .database import Database
from .filters import marks, parts
from .meta import Meta

META_MODEL = "embedding_model"
META_DIM = "embedding_dim"
META_SHA = "embedding_sha256"  # of the model file the vectors came from, when it is a file


class Vectors:
    VALUE = "vec_int8(?)"  # how a stored vector is written: int8 codes through sqlite-vec

    def __init__(self, db: Database, meta: Meta):
        self.db = db
        self.meta = meta
        self.writes = 0  # vector inserts/deletes through this connection (see version())

    # -- how this engine keeps a vector (postgres/stores.py overrides these) ---------------------------------------
    def table_sql(self, dim: int) -> list[str]:
        """The statements that make the vector table for `dim`."""
        return [vector_codec.table_sql(dim)]

    def param(self, vector: np.ndarray) -> object:
        return vector_codec.to_blob(vector)

    def rows(self, stored: list, dim: int) -> np.ndarray:
        """Stored values back as unit float32 rows."""
        return vector_codec.from_blobs(stored, dim)

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
        self.meta.delete(META_MODEL, META_DIM, META_SHA)
        self.ensure_model(model_id, dim, sha256)

    # -- rows -------------------------------------------------------------------------------------------------------
    def add(self, memory_id: int, vectors: np.ndarray) -> None:
        self.writes += 1
        for seq, vec in enumerate(vectors):
            cur = self.db.conn.execute("INSERT INTO chunks(memory_id, seq) VALUES (?, ?) RETURNING id",
                                       [memory_id, seq])
            self.db.conn.execute(f"INSERT INTO vec_chunks(rowid, embedding) VALUES (?, {self.VALUE})",
                                 [cur.fetchone()[0], self.param(vec)])

    def drop(self, ids: Sequence[int]) -> None:
        """Remove these memories' vectors (sqlite-vec clears the deleted bytes itself)."""
        for part in parts(ids):
            chunk_ids = [r[0] for r in self.db.conn.execute(
                f"SELECT id FROM chunks WHERE memory_id IN ({marks(part)})", part)]
            if chunk_ids and self.model() is not None:
                self.writes += 1
                for cid in chunk_ids:
                    self.db.conn.execute("DELETE FROM vec_chunks WHERE rowid = ?", [cid])
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

    def everything(self) -> tuple[np.ndarray, np.ndarray]:
        """(memory id per chunk, unit float32 rows of the stored chunk vectors), for a resident copy."""
        model = self.model()
        if model is None:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        owner_of = dict(self.db.conn.execute("SELECT id, memory_id FROM chunks"))
        rows = self.db.conn.execute("SELECT rowid, embedding FROM vec_chunks").fetchall()
        owners = np.fromiter((owner_of[r[0]] for r in rows), dtype=np.int64, count=len(rows))
        return owners, self.rows([r[1] for r in rows], model[1])

    def version(self) -> tuple[int, int]:
        """Changes whenever the vectors may have: another connection committed anything (PRAGMA data_version
        is all SQLite offers), or this one wrote vectors. This connection's other writes (a recall's touch and
        audit record) leave it alone, so a long-lived process does not reload after every recall."""
        return self.db.one("PRAGMA data_version")[0], self.writes
