"""The rerank stage: llama.cpp rank pooling checked against an independent numpy forward pass on a tiny GGUF the
tests write (no reranker ships on PyPI), batching, the time budget, and recall's second stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memcli.core import Memory, RawInput, RecallOptions
from memcli.errors import ModelError
from memcli.models.reranker import Reranker
from memcli.types import Filters
from tests import bert_reference, tiny_reranker
from tests.conftest import HashEmbedder

QUERY = "where does ana live?"
DOCS = ["ana moved to lisbon in may.", "bo likes jazz and coffee!", "the cat sat on the mat",
        "what is bo's favourite music?", "she moved to lisbon", "ana likes the cat"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_reranker.write(tmp_path_factory.mktemp("rerank") / "tiny-reranker.gguf")


@pytest.fixture(scope="module")
def reranker(tiny):
    return Reranker(tiny)


def reference(query: str, doc: str) -> float:
    t = {k: v.astype(np.float64) for k, v in tiny_reranker.weights().items()}
    ids = bert_reference.wordpiece(tiny_reranker.VOCAB, query, pair=doc)
    return float(bert_reference.rank(t, ids, tiny_reranker.LAYERS, tiny_reranker.HEADS)[0])


def test_rank_pooling_matches_a_numpy_forward_pass(reranker):
    scores = reranker.score(QUERY, DOCS)
    expected = [reference(QUERY, d) for d in DOCS]
    for doc in DOCS:  # the pair llama.cpp reads is BERT's [CLS] q [SEP] d [SEP], token for token
        assert reranker.pair_tokens(QUERY, doc) == bert_reference.wordpiece(tiny_reranker.VOCAB, QUERY, pair=doc)
    # llama.cpp's GELU is the tanh approximation, the reference's is erf: agreement to ~3e-3 on these logits
    assert np.allclose(scores, expected, atol=1e-2), (scores, expected)
    assert np.argsort(scores).tolist() == np.argsort(expected).tolist()
    assert len(set(np.round(expected, 3))) == len(DOCS)  # the random head does tell the documents apart


def test_batches_score_as_pairs_one_at_a_time_do(reranker):
    together = reranker.score(QUERY, DOCS * 8)
    alone = [reranker.score(QUERY, [d])[0] for d in DOCS]
    assert np.allclose(together, alone * 8, atol=1e-3)  # batch layouts change float sums by ~3e-4


def test_a_spent_budget_leaves_the_rest_unscored(tiny):
    small = Reranker(tiny, n_ctx=32)  # a pair is ~12 tokens: two pairs per batch
    scores = small.score(QUERY, DOCS, budget_s=0.0)
    assert scores[:2] == pytest.approx(small.score(QUERY, DOCS[:2]), abs=1e-4)  # the first batch always runs
    assert scores[2:] == [None] * (len(DOCS) - 2)
    assert None not in small.score(QUERY, DOCS, budget_s=60.0)


def test_a_long_document_is_cut_to_the_window_and_still_ends_the_pair(tiny):
    small = Reranker(tiny, n_ctx=32)
    tokens = small.pair_tokens(QUERY, "ana likes jazz " * 200)
    assert len(tokens) == 32 and tokens[-1] == tiny_reranker.VOCAB.index("[SEP]")
    assert small.score(QUERY, ["ana likes jazz " * 200])[0] is not None


def test_a_rerank_template_in_the_gguf_lays_out_the_pair(tmp_path, reranker):
    templated = Reranker(tiny_reranker.write(tmp_path / "templated.gguf",
                                             template="[CLS] {query} [SEP] {document} [SEP]"))
    assert templated.template
    for doc in DOCS[:3]:  # the template spells out BERT's own layout: the same tokens, the same scores
        assert templated.pair_tokens(QUERY, doc) == reranker.pair_tokens(QUERY, doc)
    assert np.allclose(templated.score(QUERY, DOCS), reranker.score(QUERY, DOCS), atol=1e-5)
    flipped = Reranker(tiny_reranker.write(tmp_path / "flipped.gguf",
                                           template="[CLS] {document} [SEP] {query} [SEP]"))
    assert flipped.pair_tokens(QUERY, DOCS[0]) == bert_reference.wordpiece(tiny_reranker.VOCAB, DOCS[0], pair=QUERY)


def test_models_that_are_not_rerankers_are_refused_in_one_line(tmp_path):
    headless = tiny_reranker.write(tmp_path / "headless.gguf", head=False, pooling="cls")
    with pytest.raises(ModelError, match="not a reranker: it has no classification head"):
        Reranker(headless)  # checked on the file: llama.cpp would abort the process on it
    # Heads whose first output is not the one relevance score: refused, not silently ranked by the wrong number.
    two = tiny_reranker.write(tmp_path / "two.gguf", outputs=2)
    with pytest.raises(ModelError, match="classification head with 2 outputs"):
        Reranker(two)
    dense_only = tiny_reranker.write(tmp_path / "dense.gguf", output_layer=False)
    with pytest.raises(ModelError, match=f"classification head with {tiny_reranker.HIDDEN} outputs"):
        Reranker(dense_only)
    (tmp_path / "junk.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelError, match="cannot read reranker"):
        Reranker(tmp_path / "junk.gguf")
    with pytest.raises(ModelError, match="reranker not found"):
        Reranker(tmp_path / "missing.gguf")


def _memory(tmp_path, reranker, **opts):
    mem = Memory(tmp_path / "m.db", embedder=HashEmbedder(), reranker=reranker,
                 recall_options=RecallOptions(**opts))
    for i, text in enumerate(DOCS * 3):
        mem.remember([RawInput("test", f"{text} ({i})")], fmt="text", scope="work" if i % 2 else "home")
    return mem


def test_recall_reorders_only_what_the_first_stage_found(tmp_path, reranker):
    mem = _memory(tmp_path, reranker)
    first = Memory(mem.db_path, embedder=HashEmbedder())
    for filters in (Filters(), Filters(scope="work")):
        plain = first.recall(QUERY, limit=50, filters=filters, touch=False)
        hits = mem.recall(QUERY, limit=50, filters=filters, touch=False)
        assert sorted(h.id for h in hits) == sorted(h.id for h in plain)  # a permutation, filters kept
        scores = [h.match["rerank"] for h in hits]
        assert None not in scores and scores == sorted(scores, reverse=True)
        texts = {h.id: h.text for h in hits}
        for h in hits[:3]:  # the score is the cross-encoder's on the memory as stored ("Speaker: text" keys)
            assert h.match["rerank"] == pytest.approx(reranker.score(QUERY, [texts[h.id]])[0], abs=1e-3)
        if filters.scope:
            assert {h.scope for h in hits} == {"work"}
    top = mem.recall(QUERY, limit=3, touch=False)  # the limit applies after the rerank, not before
    assert [h.id for h in top] == [h.id for h in mem.recall(QUERY, limit=50, touch=False)][:3]
    first.close()
    mem.close()


class Failing:
    def score(self, query, documents, budget_s=None):
        raise RuntimeError("decode failed")


class Partial:
    """Scores the first two documents (in reverse), as a budget spent after one batch leaves it."""

    def score(self, query, documents, budget_s=None):
        return [1.0, 2.0] + [None] * (len(documents) - 2)


def test_a_failing_or_slow_reranker_keeps_the_first_stage_order(tmp_path):
    mem = _memory(tmp_path, None)
    plain = [h.id for h in mem.recall(QUERY, limit=20, touch=False)]
    notes = []
    failing = Memory(mem.db_path, embedder=HashEmbedder(), reranker=Failing(), progress=notes.append)
    assert [h.id for h in failing.recall(QUERY, limit=20, touch=False)] == plain
    assert notes == ["reranker failed, first-stage order kept: decode failed"]
    partial = Memory(mem.db_path, embedder=HashEmbedder(), reranker=Partial())
    hits = partial.recall(QUERY, limit=20, touch=False)
    assert [h.id for h in hits] == [plain[1], plain[0]] + plain[2:]
    assert [h.match["rerank"] for h in hits[:3]] == [2.0, 1.0, None]
    for m in (mem, failing, partial):
        m.close()


def test_cli_reranker_flag_config_and_errors(cli, tmp_path, tiny):
    assert cli("remember", "Ana moved to Lisbon in May").exit_code == 0
    assert cli("remember", "Ana likes jazz and coffee").exit_code == 0
    r = cli("--reranker", str(tiny), "recall", "where does ana live?", "--json")
    assert r.exit_code == 0, r.output
    assert all(h["match"]["rerank"] is not None for h in json.loads(r.stdout))
    assert "rerank" not in json.loads(cli("recall", "where does ana live?", "--json").stdout)[0]["match"]
    assert cli("models", "use", "reranker", str(tiny)).exit_code == 0
    assert f'reranker = "{tiny}"' in (tmp_path / "config.toml").read_text()
    shown = json.loads(cli("models", "show", "reranker", "--json").stdout)
    assert shown["model"] == str(tiny) and shown["ready"] is True
    r = cli("recall", "where does ana live?", "--json")
    assert all(h["match"]["rerank"] is not None for h in json.loads(r.stdout))
    r = cli("--reranker", "off", "recall", "where does ana live?", "--json")
    assert "rerank" not in json.loads(r.stdout)[0]["match"]
    assert cli("models", "use", "reranker", "off").exit_code == 0  # review finding: 'off' was "no such file"
    assert "reranker" not in (tmp_path / "config.toml").read_text()
    r = cli("--reranker", "default", "recall", "where does ana live?", "--json")
    assert r.exit_code == 0 and "rerank" not in json.loads(r.stdout)[0]["match"]
    embedder_file = tiny_reranker.write(tmp_path / "embedder.gguf", head=False, pooling="mean")
    r = cli("models", "use", "reranker", str(embedder_file))  # review finding: saved, then every recall failed
    assert r.exit_code == 1 and "not a reranker" in r.stderr and "reranker" not in \
        (tmp_path / "config.toml").read_text()
    for bad, message in ((str(tmp_path / "none.gguf"), "reranker not found"),
                         ("nomic-embed-text-v1.5", "is an embedder model, not a reranker")):
        r = cli("--reranker", bad, "recall", "ana")
        assert r.exit_code == 1 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert cli("models", "use", "reranker", "nomic-embed-text-v1.5").exit_code == 1


def _in_child(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a child: llama.cpp aborts the process (GGML_ASSERT) or writes past its buffers on what
    these tests feed it unless memcli stops it first, and that must fail the test, not take pytest down."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)


def test_pairs_never_pass_the_models_positions_or_the_batch(tmp_path):
    """Review finding: a model trained for 128 positions, with 512-token pairs, aborted the process (exit 134),
    and a template with the question after the memory wrote a long question past llama.cpp's batch."""
    plain = tiny_reranker.write(tmp_path / "plain.gguf")
    flipped = tiny_reranker.write(tmp_path / "flipped.gguf", template="[CLS] {document} [SEP] {query} [SEP]")
    code = f"""
from memcli.models.reranker import Reranker
for path in ({str(plain)!r}, {str(flipped)!r}):
    r = Reranker(path)
    assert r.n_ctx == 128, r.n_ctx
    long = "ana likes jazz " * 300
    for q, d in ((long, long), ("where does ana live?", long), (long, "bo")):
        assert len(r.pair_tokens(q, d)) <= 128
    scores = r.score(long, [long, "ana moved to lisbon", long])
    assert None not in scores, scores
print("ok")
"""
    done = _in_child(code)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr[-2000:])


def test_texts_in_a_template_are_never_control_tokens(tmp_path, reranker):
    """Review finding: the question went into the template as text with special tokens parsed, so '[SEP]' in a
    question ended the pair where the question said."""
    templated = Reranker(tiny_reranker.write(tmp_path / "t.gguf", template="[CLS] {query} [SEP] {document} [SEP]"))
    for r in (templated, reranker):
        tokens = r.pair_tokens("ana [SEP] [CLS] bo", "[SEP] cat")
        assert tokens.count(tiny_reranker.VOCAB.index("[SEP]")) == 2
        assert tokens.count(tiny_reranker.VOCAB.index("[CLS]")) == 1


def test_a_score_that_is_not_a_number_counts_as_unscored(tmp_path):
    """Review finding: -inf went out as '-Infinity' in --json (not JSON) and NaN broke the sort."""
    nan = Reranker(tiny_reranker.write(tmp_path / "nan.gguf", out_bias=float("nan")))
    assert nan.score(QUERY, DOCS) == [None] * len(DOCS)


def test_threads_are_the_ones_asked_for(tiny):
    """Review finding: n_threads_batch stayed at every core, so threads=1 did nothing to a batch decode."""
    one = Reranker(tiny, threads=1)
    assert one._llm.context_params.n_threads_batch == 1 and one._llm.context_params.n_threads == 1


def test_agents_get_the_reranked_order_and_forget_selects_without_the_model(tmp_path, reranker):
    """Review findings: the MCP server and hooks' AgentSession re-sorted hits by the first stage's score, undoing
    the rerank; `forget --query` chose what to erase through the reranker (and its time budget)."""
    from memcli.agents import AgentPolicy, AgentSession
    from memcli.forgetting import select_for_forget

    mem = _memory(tmp_path, reranker)
    plain = Memory(mem.db_path, embedder=HashEmbedder())
    ranked = [h.id for h in mem.recall(QUERY, limit=8, touch=False)]
    assert ranked != [h.id for h in plain.recall(QUERY, limit=8, touch=False)]  # the reranker changed the order
    one = AgentSession(mem, AgentPolicy(scopes=["work"]))
    assert [h.id for h in one.recall(QUERY, limit=5, touch=False)] == \
        [h.id for h in mem.recall(QUERY, limit=5, filters=Filters(scope="work"), touch=False)]
    both = AgentSession(mem, AgentPolicy(scopes=["work", "home"]))
    merged = both.recall(QUERY, limit=8, touch=False)
    assert [h.match["rerank"] for h in merged] == sorted((h.match["rerank"] for h in merged), reverse=True)
    for query in ("ana", "bo jazz", QUERY):
        assert select_for_forget(mem.ctx, query=query, query_limit=5) == \
            select_for_forget(plain.ctx, query=query, query_limit=5)
    plain.close()
    mem.close()


def test_the_mcp_server_takes_the_reranker_from_the_command_line(tmp_path, tiny):
    """Review finding: `memcli --reranker off mcp` still reranked with $MEMCLI_RERANKER, and `--reranker X mcp`
    did not rerank at all."""
    mcp = pytest.importorskip("mcp")
    import asyncio

    env = {**os.environ, "MEMCLI_DB": str(tmp_path / "mcp.db"), "MEMCLI_EMBEDDER": "hash",
           "MEMCLI_CONFIG": str(tmp_path / "config.toml"), "MEMCLI_AGENT_SCOPES": "work"}
    env.pop("MEMCLI_RERANKER", None)

    def reranked(flag: str, from_env: str | None) -> list:
        run_env = {**env, **({"MEMCLI_RERANKER": from_env} if from_env else {})}
        params = mcp.StdioServerParameters(command=sys.executable, args=["-m", "memcli", "--reranker", flag, "mcp"],
                                           env=run_env, cwd=tmp_path)

        async def run():
            async with mcp.Client(params) as client:
                for text in ("Ana moved to Lisbon in May", "Ana likes jazz and coffee"):
                    await client.call_tool("remember", {"text": text})
                result = await client.call_tool("recall", {"query": "where does ana live?"})
                return [h["match"].get("rerank") for h in result.structured_content["hits"]]

        return asyncio.run(run())

    assert reranked("off", str(tiny)) == [None, None]
    scores = reranked(str(tiny), None)
    assert None not in scores and scores == sorted(scores, reverse=True)
