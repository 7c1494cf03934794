"""What the rerank stage costs and what it could win, with the models this machine has.

    python bench/rerank.py [--data PATH] [--depths 30,50,100] [--queries 40]

1. Ceiling: on REALTALK, R@10 if a perfect reranker re-ordered the default recall's top N (every evidence turn
   among the top N moved to the front). No real reranker can be downloaded here, so this is the most the second
   stage can add at each depth, not what one adds.
2. Cost: the time to score N (question, memory) pairs with a cross-encoder the size of all-MiniLM-L6-v2 (22M
   parameters: MiniLM's real weights plus a random classification head, so the arithmetic is a real model's),
   through memcli's Reranker (llama.cpp rank pooling, batched), on REALTALK questions and their top-N memories,
   with the first stage's own time beside it. Scores from a random head mean nothing; only the time is measured.
   bge-reranker-v2-m3 has ~568M parameters (about 25 times as many) and was not run.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from realtalk import HOLDOUT, asked_at, bench_parser, chat_files, load_chat  # noqa: E402

from memcli.core import Memory, RawInput  # noqa: E402


def minilm_sized_reranker(out: Path) -> Path:
    from memcli.models import minilm
    from memcli.models.bert_gguf import convert_bert_to_gguf

    rng = np.random.default_rng(0)
    head = {"cls.weight": rng.standard_normal((384, 384)) * 0.05, "cls.bias": np.zeros(384),
            "cls.output.weight": rng.standard_normal((1, 384)) * 0.05, "cls.output.bias": np.zeros(1)}
    return convert_bert_to_gguf(minilm.locate_weights(lambda m: None), out, name="minilm-sized-reranker",
                                head=head)


def main(argv=None):
    ap = bench_parser(__doc__)
    ap.add_argument("--depths", default="30,50,100")
    ap.add_argument("--queries", type=int, default=40, help="questions timed per depth")
    args = ap.parse_args(argv)
    depths = [int(d) for d in args.depths.split(",")]
    files = chat_files(args.data)
    if files is None:
        return 0
    from memcli.models.embedder import load_embedder
    from memcli.models.reranker import Reranker

    embedder = load_embedder()
    ceiling: dict[str, dict[int, list[float]]] = {"all": {d: [] for d in [10, *depths]}, "holdout": {}}
    ceiling["holdout"] = {d: [] for d in [10, *depths]}
    timed_chat = None
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            records, questions = load_chat(path)
            mem = Memory(Path(tmp) / f"{path.stem}.db", embedder=embedder)
            mem.remember([RawInput("realtalk", "\n".join(json.dumps(r) for r in records))], fmt="jsonl")
            when = asked_at(records)
            for q in questions:
                hits = mem.recall(q["question"], limit=max(depths), touch=False, asked_at=when)
                ids = [[s["message_id"] for s in h.sources] for h in hits]
                evidence = set(q["evidence"])
                for d in ceiling["all"]:
                    found = {m for group in ids[:d] for m in group} & evidence
                    r = min(len(found), 10) / len(evidence)
                    ceiling["all"][d].append(r)
                    if path.name in HOLDOUT:
                        ceiling["holdout"][d].append(r)
            if timed_chat is None:
                timed_chat = (mem, questions[: args.queries], when)
            else:
                mem.close()
            print(f"{path.name}: {len(questions)} questions", file=sys.stderr)

        print("Ceiling: REALTALK R@10 (%) if a perfect reranker re-ordered recall's top N")
        print("| N | " + " | ".join(str(d) for d in ceiling["all"]) + " |")
        print("|---|" + "---:|" * len(ceiling["all"]))
        for split, by_depth in ceiling.items():
            print(f"| {split} | " + " | ".join(f"{100 * statistics.mean(v):.1f}" for v in by_depth.values()) + " |")

        mem, questions, when = timed_chat
        model = minilm_sized_reranker(Path(tmp) / "minilm-sized-reranker.gguf")
        print(f"\nCost: {len(questions)} REALTALK questions, their top-N memories, a MiniLM-sized cross-encoder")
        print("| N | first stage p50 | rerank p50 | rerank p95 | per pair |")
        print("|---:|---:|---:|---:|---:|")
        for threads in (2,):
            reranker = Reranker(model, threads=threads)
            for depth in depths:
                first, second = [], []
                for q in questions:
                    t0 = time.perf_counter()
                    hits = mem.recall(q["question"], limit=depth, touch=False, asked_at=when)
                    first.append(time.perf_counter() - t0)
                    docs = [f"{h.speaker}: {h.text}" if h.speaker else h.text for h in hits]
                    t0 = time.perf_counter()
                    reranker.score(q["question"], docs)
                    second.append(time.perf_counter() - t0)
                second.sort()
                print(f"| {depth} | {1000 * statistics.median(first):.1f} ms | {1000 * statistics.median(second):.0f} ms "
                      f"| {1000 * second[int(0.95 * (len(second) - 1))]:.0f} ms "
                      f"| {1000 * statistics.median(second) / depth:.2f} ms |")
        mem.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
