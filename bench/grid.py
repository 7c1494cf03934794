"""Grid search of ranking weights on the REALTALK tuning split (never the hold-out chats).

    python bench/grid.py [--data PATH]

Ingests each chat once per key policy, then scores every combination of fusion settings on the same databases.
Prints one line per combination, sorted by R@10 + R@25. Used to choose RecallOptions/KeyOptions defaults.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realtalk import HOLDOUT, bench_parser, chat_files, load_chat, run_memcli, score  # noqa: E402

from memcli.core import RecallOptions  # noqa: E402
from memcli.ingest.keys import KeyOptions  # noqa: E402


def main(argv=None):
    ap = bench_parser(__doc__)
    args = ap.parse_args(argv)
    files = chat_files(args.data)
    if files is None:
        return 0
    files = [f for f in files if f.name not in HOLDOUT]

    from memcli.models.embedder import load_embedder

    embedder = load_embedder()
    keys = {
        "ctx1": KeyOptions(),
        "ctx2": KeyOptions(context_before=2, context_after=2),
        "ctx2+date": KeyOptions(context_before=2, context_after=2, date_in_context=True),
    }
    base = RecallOptions()
    grid = {}
    for k, wv, cw in itertools.product((10, 20, 30, 60), (0.5, 0.75, 1.0), (0.3, 0.5)):
        grid[f"k={k} wvec={wv} ctxw={cw}"] = replace(base, rrf_k=float(k), weight_vector=wv, fts_weights=(1.0, cw))
    retrieved = defaultdict(list)
    questions_all = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            records, questions = load_chat(path)
            questions_all += questions
            for kname, kopts in keys.items():
                res, _ = run_memcli(records, questions, embedder, kopts, grid, Path(tmp))
                for gname, (lists, _secs) in res.items():
                    retrieved[f"{kname} {gname}"] += lists
            print(path.name, file=sys.stderr, flush=True)
    rows = []
    for name, lists in retrieved.items():
        s = score(lists, questions_all)["all"]
        rows.append((s[10] + s[25], name, s))
    for _, name, s in sorted(rows, reverse=True):
        print(f"{name:40s} R@5 {s[5]:.1f} R@10 {s[10]:.1f} R@25 {s[25]:.1f} R@50 {s[50]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
