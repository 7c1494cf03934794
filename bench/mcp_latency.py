"""How fast the MCP server answers, measured with the official MCP client over stdio.

    python bench/mcp_latency.py                                  # the hash embedder and the default model
    python bench/mcp_latency.py --embedders hash --runs 5 --recalls 50

For each embedder and each run: a fresh database in a private temporary directory, seeded with --notes short notes
through the library (not timed, so recall has something to rank), then a fresh server started the way `memcli mcp
config` wires clients up (this memcli's script, `mcp --scope bench`). Timed, from the client's side:

    start           spawning the server until list_tools answers (interpreter, imports, the MCP handshake)
    first remember  the first tool call: opens the database, loads the embedding model, embeds, writes
    first recall    the next call: the first search (the server keeps the vectors in memory from here on)
    steady recall   p50 (and p95) of the next --recalls recalls, queries taken in turn from a small list

Printed: a markdown table, medians over --runs runs. The machine is whatever runs it: say what else was running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUERIES = ("which build tool do we use", "where is the staging database", "who reviews the release notes",
           "what did we decide about the cache", "when is the deploy window", "how are secrets stored")
TOPICS = ("build", "staging database", "release notes", "cache", "deploy window", "secrets", "tests", "linting",
          "logging", "the API client", "migrations", "the dashboard")


def seed(db: Path, embedder: str | None, notes: int) -> None:
    from memcli.core import Memory, RawInput

    with Memory(db, embedder_spec=embedder, actor="bench") as mem:
        mem.remember([RawInput(f"n{i}", f"Note {i}: we decided that {TOPICS[i % len(TOPICS)]} follows rule {i} "
                                         f"since sprint {i // 7}") for i in range(notes)], scope="bench")


def _text(result: Any) -> str:
    return getattr(result.content[0], "text", "") if result.content else ""


async def one_run(db: Path, embedder: str | None, recalls: int) -> dict[str, float]:
    from mcp import Client, StdioServerParameters

    from memcli_mcp.clients import memcli_command  # type: ignore[import-not-found,unused-ignore]

    env = {k: v for k, v in os.environ.items() if k not in ("MEMCLI_EMBEDDER", "MEMCLI_AGENT_SCOPES")}
    env["MEMCLI_DB"] = str(db)
    if embedder:
        env["MEMCLI_EMBEDDER"] = embedder
    command = memcli_command()
    params = StdioServerParameters(command=command[0], args=[*command[1:], "mcp", "--scope", "bench"], env=env,
                                   cwd=str(db.parent))
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        out["start"] = time.perf_counter() - t0
        t = time.perf_counter()
        r = await client.call_tool("remember", {"text": "The staging database moved to db-3 on Monday"})
        out["first remember"] = time.perf_counter() - t
        assert not r.is_error, _text(r)
        t = time.perf_counter()
        r = await client.call_tool("recall", {"query": QUERIES[0]})
        out["first recall"] = time.perf_counter() - t
        assert not r.is_error and r.structured_content and r.structured_content["hits"], _text(r)
        times = []
        for i in range(recalls):
            t = time.perf_counter()
            r = await client.call_tool("recall", {"query": QUERIES[(i + 1) % len(QUERIES)]})
            times.append(time.perf_counter() - t)
            assert not r.is_error
        out["steady recall p50"] = statistics.median(times)
        out["steady recall p95"] = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embedders", default="hash,default",
                    help="comma-separated: hash, default (the configured default model) or a GGUF path")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--recalls", type=int, default=30)
    ap.add_argument("--notes", type=int, default=200)
    args = ap.parse_args()
    rows = []
    for name in args.embedders.split(","):
        embedder = None if name == "default" else name
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="memcli-mcp-bench-") as tmp:
                db = Path(tmp) / "bench.db"
                seed(db, embedder, args.notes)
                runs.append(asyncio.run(one_run(db, embedder, args.recalls)))
        rows.append((name, {k: statistics.median(r[k] for r in runs) for k in runs[0]}))
        print(f"{name}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in rows[-1][1].items()), file=sys.stderr)
    keys = list(rows[0][1])
    print(f"| embedder | {' | '.join(keys)} |")
    print(f"|---|{'---:|' * len(keys)}")
    for name, medians in rows:
        print(f"| {name} | " + " | ".join(f"{medians[k] * 1000:.0f} ms" for k in keys) + " |")
    print(f"\n{args.runs} runs each (medians), {args.notes} notes stored, {args.recalls} steady recalls per run.")


if __name__ == "__main__":
    main()
