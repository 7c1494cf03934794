"""How much the binary-code shortlist loses on real MiniLM vectors and real questions (REALTALK).

    python bench/binary_loss.py [--data PATH]

bench/scale.py measures the fast vector path against the exact one at 10k-1M memories, but its vectors are
synthetic, and synthetic neighbours are easier for one-bit codes than real ones. This embeds every REALTALK message
('Speaker: text', as memcli keys them) into one pool (8,944 vectors), embeds every question as a query, and
prints recall@10 and @100 of the shortlist + exact re-rank against the exact product, for shortlists that are the
same share of the pool as memcli's at 100k and 1M memories, and the same after the second stage (the query's
floats over each code's bits), at that stage's share. (At 8,944 vectors memcli itself scores them all:
the fast path starts at 20,000.)
Skips cleanly (exit 0) when the data directory is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realtalk import bench_parser, chat_files, load_chat  # noqa: E402

from memcli.retrieval.resident import binary_codes, hamming, nearest_rows, shortlist_size  # noqa: E402
from memcli.retrieval.sign_search import byte_sums, exact_rows  # noqa: E402


def main(argv=None) -> int:
    ap = bench_parser(__doc__)
    args = ap.parse_args(argv)
    files = chat_files(args.data)
    if files is None:
        return 0
    from memcli.models.embedder import load_embedder

    embedder = load_embedder()
    keys, questions = [], []
    for path in files:
        records, qs = load_chat(path)
        keys += [f"{r['speaker']}: {r['text']}" for r in records]
        questions += [q["question"] for q in qs]
    vectors = np.concatenate([np.asarray(c, dtype=np.float32)[:1] for c in embedder.embed_chunks(keys)])
    queries = np.stack([embedder.embed_query(q) for q in questions]).astype(np.float32)
    n = len(vectors)
    mean = vectors.mean(axis=0)
    codes = binary_codes(vectors, mean)
    sizes = {f"memcli's share at {big:,} ({100 * shortlist_size(big, 200) / big:.1f}%)":
             int(n * shortlist_size(big, 200) / big) for big in (100_000, 1_000_000)}
    print(f"{n:,} real message vectors, {len(queries)} real questions ({embedder.model_id})")
    # The one-shot search's second stage (retrieval/sign_search.py) keeps exact_rows(N, 300) of the shortlist
    # (300 chunks wanted for recall's depth of 100) by the query's floats, weighed by each dimension's spread,
    # over each code's bits.
    second = {big: exact_rows(big, 300) for big in (100_000, 1_000_000)}
    packed = np.packbits(vectors > mean, axis=1)
    spread = np.abs(vectors - mean).mean(axis=0)
    print("| shortlist | rows | recall@10 vs exact | recall@100 vs exact | then by estimate: rows | recall@10 "
          "| recall@100 |\n|---|---|---|---|---|---|---|")
    for (label, size), big in zip(sizes.items(), (100_000, 1_000_000)):
        size = min(n, max(size, 10))
        kept = min(size, max(int(n * second[big] / big), 10))
        r10, r100, e10, e100 = [], [], [], []
        for q in queries:
            sims = vectors @ q
            exact = np.argsort(-sims)
            rows = nearest_rows(hamming(codes, binary_codes(q[None, :], mean)[:, 0]), size)
            fast = rows[np.argsort(-sims[rows])]
            r10.append(len(set(exact[:10]) & set(fast[:10])) / min(10, n))
            r100.append(len(set(exact[:100]) & set(fast[:100])) / min(100, n))
            estimate = byte_sums(q * spread, packed.shape[1])[packed[rows], np.arange(packed.shape[1])].sum(axis=1)
            best = rows[np.argpartition(-estimate, kept - 1)[:kept]] if kept < len(rows) else rows
            both = best[np.argsort(-sims[best])]
            e10.append(len(set(exact[:10]) & set(both[:10])) / min(10, n))
            e100.append(len(set(exact[:100]) & set(both[:100])) / min(100, n))
        print(f"| {label} | {size:,} | {np.mean(r10):.3f} | {np.mean(r100):.3f} | {kept:,} | {np.mean(e10):.3f} "
              f"| {np.mean(e100):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
