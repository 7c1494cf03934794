"""How memcli's cost grows with the corpus: 10k, 100k (and, opt-in, 1M) synthetic memories.

    python bench/scale.py                                  # 10k and 100k, about 3 minutes on 2 cores
    python bench/scale.py --sizes 10000,100000,1000000     # add 1M (about 16 minutes, ~3 GB of disk)
    python bench/scale.py --plot bench/scale.png           # also draw the plot (pip install matplotlib)
    python bench/scale.py --workdir DIR [--reuse]          # keep the databases; --reuse searches them again

The corpus is generated deterministically (no data files): chat-like messages with REALTALK-like lengths from
templates, stored through the real `Memory.remember` path (parsing, keys, FTS, sqlite-vec, provenance, audit).
Embedding a million texts with the real model would take about three hours here, so the memories' vectors are
synthetic but shaped like real ones: normalised mixtures of 1-3 real MiniLM embeddings of generated texts plus
noise with those embeddings' own covariance (nearest-neighbour cosines ~0.7, random pairs ~0.08, as in real
data). Queries are generated questions embedded with the real model. Model-bound figures (ingest rate,
end-to-end `memcli recall`) use the real model.

Printed per size: in-process search latency (the full hybrid recall minus query embedding; the vector half
alone, through the sign codes a one-shot process uses and through sqlite-vec's scan, with the codes' recall@10; the FTS half alone, from FTS5 and from the resident copy a long-lived process keeps, with how many of its
lists equal FTS5's) against same-run baselines (numpy brute force for vectors; bm25s, if installed, for full
text), database bytes per memory beyond its text, the storage ingest rate (vectors given), and end-to-end
`memcli recall` wall time. Plus, at the smallest size, the real-model ingest rate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memcli.core import Memory, RawInput  # noqa: E402
from memcli.models.embedder import Embedder  # noqa: E402
from memcli.types import Filters  # noqa: E402

NAMES = ["Ana", "Bo", "Chen", "Dara", "Eli", "Farah", "Gus", "Hana", "Ivo", "Jules", "Kofi", "Lena"]
PLACES = ["Lisbon", "Porto", "the lake", "Kyoto", "the gym", "grandma's house", "the office", "Berlin",
          "the farmers market", "the dentist", "the library", "Madrid", "the beach", "the mountains"]
THINGS = ["a new bike", "the blue jacket", "concert tickets", "a sourdough starter", "the garden plan",
          "a used camera", "a puppy", "the quarterly report", "a pottery class", "running shoes",
          "the wedding playlist", "a violin", "an old atlas", "the tax forms"]
FEELINGS = ["really happy about it", "a bit nervous", "so tired afterwards", "surprised how cheap it was",
            "worried it might rain", "excited to show everyone", "not sure it was worth it"]
TEMPLATES = [
    "I went to {place} with {name} on {day}, and we talked about {thing} for hours.",
    "{name} finally bought {thing}! I'm {feeling}.",
    "Did you ever go back to {place}? {name} said the place changed a lot since last year.",
    "We should plan a trip to {place} in {month}. I can bring {thing} if {name} wants.",
    "Honestly I was {feeling}. The whole thing with {thing} took longer than I thought.",
    "lol yes",
    "My sister {name} is moving to {place} in {month}, she asked me to keep {thing} for her.",
    "That sounds great! How was {place}?",
    "I started learning to cook last {month} and now I make dinner for {name} every {day}. "
    "It's been a good routine, even when work is crazy and I'm {feeling}.",
    "Remember when we got lost near {place}? {name} still laughs about it. We should go again with {thing}.",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "March", "May", "July", "September", "November"]
QUESTIONS = [
    "When did {name} go to {place}?", "What did {name} buy?", "Who is moving to {place}?",
    "How did I feel about {thing}?", "Where did we get lost?", "What trip are we planning for {month}?",
]
SIGMA = 0.7  # noise scale: gives real-looking neighbour structure (see module docstring)


def _fill(template: str, rng: np.random.Generator) -> str:
    return template.format(name=rng.choice(NAMES), place=rng.choice(PLACES), thing=rng.choice(THINGS),
                           feeling=rng.choice(FEELINGS), day=rng.choice(DAYS), month=rng.choice(MONTHS))


def messages(start: int, n: int, seed: int = 7):
    """Deterministic chat messages; message i is the same whatever the batch it is generated in."""
    for i in range(start, start + n):
        rng = np.random.default_rng([seed, i])
        text = " ".join(_fill(rng.choice(TEMPLATES), rng) for _ in range(int(rng.integers(1, 3))))
        day = 1 + i // 200
        yield {"id": f"m{i}", "speaker": NAMES[i % 2], "text": f"{text} (#{i})",
               "timestamp": f"2023-{1 + (day // 28) % 12:02d}-{1 + day % 28:02d}T{8 + i % 12:02d}:00:00Z"}


class Lookup(Embedder):
    """Hands out vectors prepared in advance (by key text or query), so the real storage and recall paths run
    at scales the real model cannot embed. A key with no prepared vector is a bench bug, not a zero vector."""

    def __init__(self, model_id: str, dimension: int):
        self.model_id, self.dimension, self.table = model_id, dimension, {}

    def _embed_batch(self, texts):
        return np.stack([self.table[t] for t in texts])


class Synth:
    """Vectors shaped like MiniLM's: mixtures of real anchor embeddings plus noise with their covariance."""

    def __init__(self, anchors: np.ndarray, seed: int = 1234):
        a = anchors.astype(np.float64)
        cov = np.cov((a - a.mean(0)).T) + 1e-6 * np.eye(a.shape[1])
        self.chol = np.linalg.cholesky(cov).astype(np.float32)
        self.anchors = anchors.astype(np.float32)
        self.seed = seed

    def vectors(self, start: int, n: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, start])
        idx = rng.integers(0, len(self.anchors), size=(n, 3))
        w = rng.dirichlet([1.0, 1.0, 1.0], size=n).astype(np.float32)
        k = rng.integers(1, 4, size=n)
        w[k == 1] = [1, 0, 0]
        v = np.einsum("mk,mkd->md", w, self.anchors[idx])
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        v += SIGMA * (rng.standard_normal(v.shape, dtype=np.float32) @ self.chol.T)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def pct(values, q):
    return float(np.percentile(np.asarray(values) * 1000, q))


def build(db: Path, n: int, synth: Synth, lookup: Lookup, batch: int = 5000) -> dict:
    from memcli.ingest.keys import labelled

    t0 = time.perf_counter()
    text_bytes = 0
    with Memory(db, embedder=lookup) as mem:
        for start in range(0, n, batch):
            msgs = list(messages(start, min(batch, n - start)))
            vecs = synth.vectors(start, len(msgs))
            lookup.table = {labelled(m["speaker"], m["text"]): v for m, v in zip(msgs, vecs)}
            text_bytes += sum(len(m["text"].encode()) for m in msgs)
            mem.remember([RawInput(f"synthetic {start}", "\n".join(json.dumps(m) for m in msgs))], fmt="jsonl")
        elapsed = time.perf_counter() - t0
        mem.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    return {"build_s": elapsed, "ingest_per_s": n / elapsed, "bytes_per_memory": size / n,
            "overhead_per_memory": (size - text_bytes) / n, "text_per_memory": text_bytes / n}


def timed_queries(fn, queries: list[str], qvecs: np.ndarray) -> tuple[float, float]:
    """p50 and p95 in ms of fn(query, vector) over the queries, after five unmeasured ones (warm caches)."""
    for q, v in zip(queries[:5], qvecs[:5]):
        fn(q, v)
    times = []
    for q, v in zip(queries, qvecs):
        t = time.perf_counter()
        fn(q, v)
        times.append(time.perf_counter() - t)
    return pct(times, 50), pct(times, 95)


def search_latency(db: Path, queries: list[str], qvecs: np.ndarray, lookup: Lookup, all_vecs: np.ndarray) -> dict:
    lookup.table = dict(zip(queries, qvecs))
    out = {}
    with Memory(db, embedder=lookup) as mem:
        mem.set_recall_logging(False)
        store = mem.store
        from memcli.retrieval.fts_query import query_terms

        def timed(fn):
            return timed_queries(fn, queries, qvecs)

        depth = mem.recall_options.depth
        out["recall"] = timed(lambda q, v: mem.recall(q, limit=10, touch=False))
        # The vector half of a one-shot process: from FAST_FROM vectors on, the sign codes choose the rows scored
        # (storage/vector_signs.py); "vector_scan" is sqlite-vec's scan of every vector, the exact reference.
        out["vector"] = timed(lambda q, v: store.search.nearest(v, Filters(), depth))
        out["vector_scan"] = timed(lambda q, v: store.search.nearest(v, Filters(), depth, signs=False))
        signed = [[i for i, _ in store.search.nearest(v, Filters(), 10)] for v in qvecs]
        scanned = [[i for i, _ in store.search.nearest(v, Filters(), 10, signs=False)] for v in qvecs]
        out["signs_recall_at_10"] = float(np.mean([len(set(a) & set(b)) / max(len(b), 1)
                                                   for a, b in zip(signed, scanned)]))
        out["fts"] = timed(lambda q, v: mem.search_words(query_terms(q), Filters(), depth))
        fts_lists = [mem.search_words(query_terms(q), Filters(), depth) for q in queries]
        # Long-lived mode (batch recall, MCP server): vectors loaded once and searched in memory, first the default
        # copy (binary shortlist re-ranked exactly; its load timed first, as a server pays it), then the exact float
        # product, the reference the fast path is measured against.
        mem.keep_vectors_resident()
        t = time.perf_counter()  # the default copy's load: the vectors, their mean and the binary codes
        store.search.nearest(qvecs[0], Filters(), depth, resident=mem.resident)
        out["resident_load_s"] = time.perf_counter() - t
        out["vector_resident"] = timed(lambda q, v: store.search.nearest(v, Filters(), depth, resident=mem.resident))
        # The full-text half from memory (retrieval/resident_words.py): a first pass reads each word's postings
        # from FTS5 once (timed whole: what a server pays for words it has not seen), then the warm figure.
        t = time.perf_counter()
        resident_lists = [mem.search_words(query_terms(q), Filters(), depth) for q in queries]
        out["fts_resident_first_ms"] = 1000 * (time.perf_counter() - t) / len(queries)
        out["fts_resident"] = timed(lambda q, v: mem.search_words(query_terms(q), Filters(), depth))
        out["fts_identical"] = float(np.mean([a == b for a, b in zip(fts_lists, resident_lists)]))
        out["recall_resident"] = timed(lambda q, v: mem.recall(q, limit=10, touch=False))
        fast_top = [[i for i, _ in store.search.nearest(v, Filters(), 10, resident=mem.resident)] for v in qvecs]
        mem.keep_vectors_resident(exact=True)
        store.search.nearest(qvecs[0], Filters(), depth, resident=mem.resident)
        out["vector_resident_exact"] = timed(lambda q, v: store.search.nearest(v, Filters(), depth,
                                                                               resident=mem.resident))
        exact_top = [[i for i, _ in store.search.nearest(v, Filters(), 10, resident=mem.resident)] for v in qvecs]
        out["resident_recall_at_10"] = float(np.mean([len(set(a) & set(b)) / max(len(a), 1)
                                                      for a, b in zip(exact_top, fast_top)]))
    k = min(3 * depth, len(all_vecs) - 1)

    def brute(_q, v):
        scores = all_vecs @ v
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top])]

    times = []
    for q, v in zip(queries, qvecs):
        t = time.perf_counter()
        brute(q, v)
        times.append(time.perf_counter() - t)
    out["numpy"] = (pct(times, 50), pct(times, 95))
    out["bm25s"] = bm25s_baseline(db, queries, depth)
    return out


def bm25s_baseline(db: Path, queries: list[str], depth: int) -> dict | None:
    """What a user might build instead for the full-text half: bm25s (sparse matrices, top-k in numpy) over the
    same texts and contexts, English stop words, no stemming. Bench-only; skipped without `pip install bm25s`."""
    try:
        import bm25s
    except ImportError:
        return None
    import sqlean

    conn = sqlean.connect(str(db))
    corpus = [f"{t}\n{c}" for t, c in conn.execute("SELECT text, context FROM memories_fts ORDER BY rowid")]
    conn.close()
    t = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)
    build_s = time.perf_counter() - t
    times = []
    for q in queries:
        t = time.perf_counter()
        retriever.retrieve(bm25s.tokenize([q], stopwords="en", show_progress=False), k=depth, show_progress=False)
        times.append(time.perf_counter() - t)
    return {"build_s": build_s, "p50": pct(times, 50), "p95": pct(times, 95)}


def cli_recall(db: Path, query: str, runs: int = 9) -> list[float]:
    """Wall times of `memcli recall` after one unmeasured run. An installed memcli has its bytecode compiled
    (pip does it); PYTHONDONTWRITEBYTECODE in the caller's environment would make every run compile memcli's
    modules again (67 ms in compile() in one profiled run here), so it is dropped."""
    env = {k: v for k, v in os.environ.items() if k not in ("MEMCLI_EMBEDDER", "PYTHONDONTWRITEBYTECODE")}
    walls = []
    for _ in range(runs + 1):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "memcli", "--db", str(db), "recall", query, "-q", "--no-touch"],
                           capture_output=True, text=True, env=env)
        walls.append(time.perf_counter() - t)
        if r.returncode:
            raise SystemExit(f"memcli recall failed: {r.stderr.strip()}")
    return walls[1:]


def real_ingest_rate(db: Path, n: int = 400) -> float:
    """`memcli remember` of n new generated messages with the real model, end to end, into a copy of `db` (a
    reused database already holds them: they would be skipped as duplicates)."""
    import shutil

    payload = "\n".join(json.dumps({**m, "id": "real-" + m["id"]}) for m in messages(10**8, n, seed=11))
    copy = db.with_name(db.stem + "-ingest.db")
    shutil.copyfile(db, copy)
    try:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "memcli", "--db", str(copy), "remember", "--format", "jsonl", "-q",
                            "-"], input=payload, capture_output=True, text=True)
        elapsed = time.perf_counter() - t
    finally:
        for path in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
            path.unlink(missing_ok=True)
    if r.returncode:
        raise SystemExit(f"memcli remember failed: {r.stderr.strip()}")
    return n / elapsed


def bm25s_cell(b: dict | None) -> str:
    return "not installed" if b is None else f"{b['p50']:.1f} / {b['p95']:.1f} ({b['build_s']:.0f} s)"


def plot(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(no plot: pip install matplotlib to write {path})")
        return
    sizes = [r["n"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in [("recall", "recall, one-shot path"), ("recall_resident", "recall, long-lived (resident)"),
                       ("vector", "vector half, one-shot: sign codes + exact re-rank"),
                       ("vector_scan", "vector half, sqlite-vec scan"),
                       ("vector_resident_exact", "vector half, resident exact"),
                       ("vector_resident", "vector half, resident binary shortlist + exact re-rank"),
                       ("fts", "FTS5 half (BM25)"), ("fts_resident", "FTS half, resident (same ranking)"),
                       ("numpy", "numpy brute force (baseline)")]:
        ax1.plot(sizes, [r["latency"][key][0] for r in rows], marker="o", label=label)
    ax1.set(xscale="log", yscale="log", xlabel="memories", ylabel="p50 latency (ms)", title="Search latency")
    ax1.legend(fontsize=8)
    ax2.plot(sizes, [r["overhead_per_memory"] / 1024 for r in rows], marker="o", label="beyond text")
    ax2.axhline(3, color="grey", linestyle="--", label="goal: 3 KB")
    ax2.set(xscale="log", xlabel="memories", ylabel="KB per memory", title="Database size", ylim=(0, 6))
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--workdir", type=Path, help="keep the databases here (default: a temporary directory)")
    ap.add_argument("--anchors", type=int, default=1500, help="real embeddings the synthetic vectors mix")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end `memcli` runs (smoke test)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --workdir: search databases a previous run built there (and its build figures)")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    from memcli.models.embedder import load_embedder

    real = load_embedder()
    anchor_texts = [m["text"] for m in messages(10**9, args.anchors, seed=3)]
    t = time.perf_counter()
    anchors = np.concatenate([c[:1] for c in real.embed_chunks(anchor_texts)])
    print(f"embedded {len(anchor_texts)} anchor texts with {real.model_id} in {time.perf_counter() - t:.0f} s")
    qrng = np.random.default_rng(5)
    queries = [_fill(qrng.choice(QUESTIONS), qrng) + f" ({i})" for i in range(args.queries)]
    qvecs = np.stack([real.embed_query(q) for q in queries])
    synth = Synth(anchors)
    lookup = Lookup(real.model_id, real.dimension)

    rows = []
    with tempfile.TemporaryDirectory(prefix="memcli-scale-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in sizes:
            db = work / f"scale-{n}.db"
            built = db.with_suffix(".build.json")
            if args.reuse and args.workdir and db.exists() and built.exists():
                row = {"n": n, **json.loads(built.read_text())}
                with Memory(db) as mem:  # opened first: an upgrade (a migration) may have changed its size
                    mem.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                row["bytes_per_memory"] = db.stat().st_size / n
                row["overhead_per_memory"] = row["bytes_per_memory"] - row["text_per_memory"]
            else:
                for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), built):
                    stale.unlink(missing_ok=True)
                row = {"n": n, **build(db, n, synth, lookup)}
                built.write_text(json.dumps({k: v for k, v in row.items() if k != "n"}))
            all_vecs = np.concatenate([synth.vectors(s, min(5000, n - s)) for s in range(0, n, 5000)])
            row["latency"] = search_latency(db, queries, qvecs, lookup, all_vecs)
            del all_vecs
            if not args.no_cli:
                row["cli_recall_s"] = cli_recall(db, "when did Ana go to Lisbon?")
            if n == sizes[0] and not args.no_cli:
                row["real_ingest_per_s"] = real_ingest_rate(db)
            rows.append(row)
            lat = row["latency"]
            print(f"{n:>9,}: recall p50 {lat['recall'][0]:.1f} ms, long-lived {lat['recall_resident'][0]:.1f} ms "
                  f"(vector: signs {lat['vector'][0]:.1f} / scan {lat['vector_scan'][0]:.1f} / resident exact {lat['vector_resident_exact'][0]:.1f} / fast "
                  f"{lat['vector_resident'][0]:.1f}, fts {lat['fts'][0]:.1f} / resident {lat['fts_resident'][0]:.1f}, "
                  f"numpy {lat['numpy'][0]:.1f}); {row['overhead_per_memory']:.0f} B/memory beyond text; "
                  f"storage ingest {row['ingest_per_s']:.0f}/s", flush=True)

    print("\n| memories | recall p50 / p95 ms: one-shot | long-lived | `memcli recall` wall, median "
          "| vector half, one-shot: signs (default) | sqlite-vec scan | signs R@10 vs scan | resident exact "
          "| resident fast (default) | FTS half: FTS5 | resident (warm) | resident first pass, mean "
          "| resident = FTS5 | bm25s baseline (build) | numpy brute force | resident load | fast R@10 vs exact "
          "| bytes/memory beyond text | storage ingest /s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lat = r["latency"]
        ms = lambda key: f"{lat[key][0]:.1f} / {lat[key][1]:.1f}"  # noqa: E731
        wall = f"{statistics.median(r['cli_recall_s']):.2f} s" if "cli_recall_s" in r else "not run"
        print(f"| {r['n']:,} | {ms('recall')} | {ms('recall_resident')} | {wall} | {ms('vector')} "
              f"| {ms('vector_scan')} | {lat['signs_recall_at_10']:.3f} "
              f"| {ms('vector_resident_exact')} | {ms('vector_resident')} "
              f"| {ms('fts')} | {ms('fts_resident')} | {lat['fts_resident_first_ms']:.1f} "
              f"| {100 * lat['fts_identical']:.0f} % "
              f"| {bm25s_cell(lat['bm25s'])} | {lat['numpy'][0]:.1f} | {lat['resident_load_s']:.2f} s "
              f"| {lat['resident_recall_at_10']:.3f} | {r['overhead_per_memory']:,.0f} | {r['ingest_per_s']:,.0f} |")
    first = rows[0]
    if args.no_cli:
        return 0
    for r in rows:
        walls = r["cli_recall_s"]
        print(f"end to end at {r['n']:,}: `memcli recall` wall median {statistics.median(walls):.2f} s "
              f"(min {min(walls):.2f}, {len(walls)} runs; process start, imports, model load, search)")
    print(f"real-model ingest at {first['n']:,}: {first['real_ingest_per_s']:.0f} messages/s (`memcli remember`, "
          "400 generated messages, process start and model load included)")
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
