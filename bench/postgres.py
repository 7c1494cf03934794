"""memcli on PostgreSQL + pgvector beside memcli on SQLite, same corpus, same queries, same run.

    python bench/postgres.py                        # 10k and 100k memories (about 15 minutes on 2 cores)
    python bench/postgres.py --sizes 2000 --queries 20   # a smoke run

Needs `pip install pgserver 'psycopg[binary]'` (the test extra has both): the bench starts its own private
PostgreSQL 16 + pgvector 0.6 (pgserver), over a unix socket, in a temporary directory. The corpus and the vectors
are bench/scale.py's (synthetic, MiniLM-shaped; queries embedded with the real model), stored through the real
`Memory.remember` path on both engines.

Printed per size and engine: storage ingest rate (vectors given; the audit record, full text and vectors of every
memory written), one-shot recall p50/p95 (a new process's first connection is not included: a warm connection,
query embedding excluded, as scale.py measures), the vector half alone, and the full-text half alone. memcli's
Postgres vectors have no index (exact search); the bench then adds pgvector's HNSW index (m=16, ef_construction=64;
memcli sets ef_search to the k asked for, 100 at least) to show what it would give — latency, top-10 recall against
exact — and what it would cost each forget, whose file scrub (VACUUM FULL) then rebuilds it. The scrub without the
index is timed too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memcli.core import Memory, RawInput  # noqa: E402
from memcli.retrieval.fts_query import query_terms  # noqa: E402
from memcli.types import Filters  # noqa: E402
from scale import QUESTIONS, Lookup, Synth, _fill, messages  # noqa: E402
from scale import timed_queries as timed  # noqa: E402


def build(target, n: int, synth: Synth, lookup: Lookup, batch: int = 2000) -> float:
    from memcli.ingest.keys import labelled

    t0 = time.perf_counter()
    with Memory(target, embedder=lookup) as mem:
        for start in range(0, n, batch):
            msgs = list(messages(start, min(batch, n - start)))
            lookup.table = {labelled(m["speaker"], m["text"]): v for m, v in zip(msgs, synth.vectors(start, len(msgs)))}
            mem.remember([RawInput(f"synthetic {start}", "\n".join(json.dumps(m) for m in msgs))], fmt="jsonl")
    return n / (time.perf_counter() - t0)


def latency(target, queries, qvecs, lookup: Lookup, postgres: bool) -> dict:
    lookup.table = dict(zip(queries, qvecs))
    out: dict = {}
    with Memory(target, embedder=lookup) as mem:
        mem.set_recall_logging(False)
        store = mem.store
        depth = mem.recall_options.depth
        out["recall"] = timed(lambda q, v: mem.recall(q, limit=10, touch=False), queries, qvecs)
        out["vector"] = timed(lambda q, v: store.search.nearest(v, Filters(), depth), queries, qvecs)
        out["fts"] = timed(lambda q, v: mem.search_words(query_terms(q), Filters(), depth), queries, qvecs)
        if postgres:
            # memcli's default is exact (no index). What an HNSW index would give, and cost a forget:
            exact = [[i for i, _ in store.search.nearest(v, Filters(), 10)] for v in qvecs]
            t = time.perf_counter()
            out["scrub_ok"] = store.maintenance.scrub_files()  # what each forget runs after its delete (no index)
            out["scrub_s"] = time.perf_counter() - t
            raw = store.conn.raw
            raw.execute("SET default_transaction_read_only = off")
            t = time.perf_counter()
            raw.execute(f"CREATE INDEX vec_chunks_hnsw ON vec_chunks USING hnsw (embedding {store.conn.ext}.vector_cosine_ops)")
            out["hnsw_build_s"] = time.perf_counter() - t
            out["vector_hnsw"] = timed(lambda q, v: store.search.nearest(v, Filters(), depth), queries, qvecs)
            # the top 10 of the list recall fuses (depth neighbours; ef_search = 3 x depth), and of a search for 10
            top = [[i for i, _ in store.search.nearest(v, Filters(), depth)[:10]] for v in qvecs]
            top10 = [[i for i, _ in store.search.nearest(v, Filters(), 10)] for v in qvecs]
            t = time.perf_counter()
            raw.execute("VACUUM (FULL) vec_chunks")  # the vector table's share of a forget, with the index
            out["scrub_vectors_hnsw_s"] = time.perf_counter() - t
            raw.execute("DROP INDEX vec_chunks_hnsw")
            raw.execute("SET default_transaction_read_only = on")
            out["hnsw_recall_at_10"] = float(np.mean([len(set(a) & set(b)) / max(len(b), 1)
                                                      for a, b in zip(top, exact)]))
            out["hnsw_recall_at_10_k10"] = float(np.mean([len(set(a) & set(b)) / max(len(b), 1)
                                                          for a, b in zip(top10, exact)]))
            out["bytes"] = store.maintenance.size_bytes()
        else:
            out["bytes"] = Path(target).stat().st_size
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--anchors", type=int, default=1500)
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    import pgserver
    import psycopg

    from memcli.models.embedder import load_embedder

    real = load_embedder()
    anchors = np.concatenate([c[:1] for c in real.embed_chunks(
        [m["text"] for m in messages(10**9, args.anchors, seed=3)])])
    qrng = np.random.default_rng(5)
    queries = [_fill(qrng.choice(QUESTIONS), qrng) + f" ({i})" for i in range(args.queries)]
    qvecs = np.stack([real.embed_query(q) for q in queries])
    synth, lookup = Synth(anchors), Lookup(real.model_id, real.dimension)

    rows = []
    with tempfile.TemporaryDirectory(prefix="memcli-pg-bench-") as tmp:
        srv = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        with psycopg.connect(srv.get_uri(), autocommit=True) as admin:
            admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
            version = admin.execute("SELECT version()").fetchone()[0].split(" on ")[0]
            pgvector = admin.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
        print(f"{version}, pgvector {pgvector} (pgserver, unix socket); SQLite beside it in the same run")
        for n in sizes:
            with psycopg.connect(srv.get_uri(), autocommit=True) as admin:
                admin.execute(f'CREATE ROLE "bench{n}" LOGIN')
                admin.execute(f'GRANT CREATE ON DATABASE postgres TO "bench{n}"')
            engines = {"sqlite": Path(tmp) / f"bench-{n}.db",
                       "postgres": srv.get_uri().replace("postgres:@", f"bench{n}@", 1)}
            for engine, target in engines.items():
                rate = build(target, n, synth, lookup)
                row = {"n": n, "engine": engine, "ingest_per_s": rate,
                       **latency(target, queries, qvecs, lookup, engine == "postgres")}
                rows.append(row)
                print(json.dumps(row), flush=True)

    print("\n| memories | engine | recall p50 / p95 ms | vector half (exact) | FTS half | storage ingest /s "
          "| bytes per memory | forget's file scrub |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ms = lambda key: f"{r[key][0]:.1f} / {r[key][1]:.1f}" if key in r else "–"  # noqa: E731
        scrub = f"{r['scrub_s']:.2f} s (VACUUM FULL)" if "scrub_s" in r else "checkpoint"
        print(f"| {r['n']:,} | {r['engine']} | {ms('recall')} | {ms('vector')} | {ms('fts')} "
              f"| {r['ingest_per_s']:,.0f} | {r['bytes'] / r['n']:,.0f} | {scrub} |")
    print("\nWith an HNSW index on Postgres (not memcli's default):\n")
    print("| memories | index build | vector half p50 / p95 ms | R@10 vs exact: recall's list (asking for 10) "
          "| the vector table's rewrite in a forget |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "vector_hnsw" in r:
            print(f"| {r['n']:,} | {r['hnsw_build_s']:.1f} s | {r['vector_hnsw'][0]:.1f} / {r['vector_hnsw'][1]:.1f} "
                  f"| {r['hnsw_recall_at_10']:.3f} ({r['hnsw_recall_at_10_k10']:.3f}) "
                  f"| {r['scrub_vectors_hnsw_s']:.1f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
