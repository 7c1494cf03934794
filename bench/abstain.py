"""Does recall say "nothing" when nothing relevant is stored, and still answer real questions?

    python bench/abstain.py                 # REALTALK chats 9 and 10 (the hold-out), 300 noise queries

Noise queries are made here from a fixed seed: letter strings ('zzqvkw'), strings with a stop word ('zzzqqq
nothing'), and words of other domains that these chats never use. A false hit is any hit returned for a noise
query. Abstention on real questions: the share of REALTALK questions for which recall returns nothing (each has
evidence in the chat, so each abstention is a miss). The default model is used: similarity is the point.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.realtalk import HOLDOUT, asked_at, bench_parser, chat_files, load_chat  # noqa: E402
from memcli.core import Memory, RawInput  # noqa: E402

OTHER_DOMAINS = ("zeolite catalysis", "quaternion slerp", "mitochondrial haplogroup", "bessel function",
                 "tokamak plasma", "phloem transport", "kerberos ticket", "cadastral survey", "isotonic regression",
                 "pyroclastic flow", "annealing schedule", "ribosomal subunit", "fresnel lens", "hadamard gate",
                 "lignin polymer", "geodesic dome", "abelian group", "vulcanized rubber", "cepheid variable",
                 "mordant dye")


def noise_queries(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    letters = "bcdfghjklmnpqrstvwxz"
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append(" ".join("".join(rng.choice(letters) for _ in range(rng.randint(5, 9)))
                                for _ in range(rng.randint(1, 3))))
        elif kind == 1:
            out.append("".join(rng.choice(letters) for _ in range(6)) + " " + rng.choice(
                ["nothing", "something", "the", "what", "about it"]))
        else:
            out.append(rng.choice(OTHER_DOMAINS) + " " + rng.choice(OTHER_DOMAINS).split()[0])
    return out


def main() -> None:
    ap = bench_parser(__doc__ or "")
    ap.add_argument("--noise", type=int, default=300)
    args = ap.parse_args()
    files = chat_files(args.data)
    if files is None:
        return
    files = [f for f in files if f.name in HOLDOUT]
    noise = noise_queries(args.noise)
    kinds = ("letter strings", "letters and a common word", "other-domain words")
    false_hits = {k: 0 for k in kinds}
    asked = abstained = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(files):
            records, questions = load_chat(path)
            with Memory(Path(tmp) / f"{i}.db") as mem:
                mem.remember([RawInput("realtalk", "\n".join(json.dumps(r) for r in records))], fmt="jsonl")
                when = asked_at(records)
                for q in questions:
                    asked += 1
                    abstained += not mem.recall(q["question"], limit=10, touch=False, asked_at=when)
                for j, q in enumerate(noise):
                    false_hits[kinds[j % 3]] += bool(mem.recall(q, limit=10, touch=False, asked_at=when))
    per_kind = len(noise) * len(files) // 3
    for k in kinds:
        print(f"noise queries ({k}) with any hit: {false_hits[k]} of {per_kind} "
              f"({100 * false_hits[k] / per_kind:.1f} %)")
    print(f"REALTALK hold-out questions answered with nothing: {abstained} of {asked} ({100 * abstained / asked:.1f} %)")


if __name__ == "__main__":
    main()
