"""Model faults: a truncated or wrong-architecture GGUF is a one-line error that stores nothing; a generator
that would run on forever is stopped by its token limit and deadline."""

from __future__ import annotations

import json
import time
from pathlib import Path

from memcli.models import gemma, minilm


def _stored(cli) -> int:
    r = cli("stats", "--json")
    return 0 if r.exit_code else json.loads(r.stdout)["memories"]


def test_truncated_embedding_gguf_is_refused(cli, tmp_path, real_embedder):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(minilm.gguf_path().read_bytes()[: 20 * 1024 * 1024])
    r = cli("--embedder", str(cut), "remember", "hello")
    assert r.exit_code == 1 and "cannot load embedding model" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and _stored(cli) == 0


def test_generative_gguf_as_embedder_is_refused_by_name(cli, real_generator):
    r = cli("--embedder", str(gemma.gguf_path()), "remember", "hello")
    assert r.exit_code == 1 and "not a sentence-embedding model" in r.stderr
    assert "Traceback" not in r.output and _stored(cli) == 0


def test_truncated_generator_gguf_is_a_clear_error_for_ask(cli, tmp_path, real_generator):
    assert cli("remember", "I moved to Lisbon in March").exit_code == 0
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(gemma.gguf_path().read_bytes()[: 50 * 1024 * 1024])
    r = cli("--generator", str(cut), "ask", "where did I move?")
    assert r.exit_code == 1 and "cannot load generator model" in r.stderr and _stored(cli) == 1


def test_endless_generation_is_cut_by_the_deadline(real_generator):
    prompt = "Count forever, one number per line, never stop:\n1\n2\n3\n"
    start = time.monotonic()
    out = real_generator.complete(prompt, max_tokens=100_000, deadline_s=2.0)
    elapsed = time.monotonic() - start
    # Unbounded, 100k tokens at this model's ~100 tokens/s would take many minutes; the deadline stops it.
    assert elapsed < 30, elapsed
    assert isinstance(out, str)
    start = time.monotonic()
    out = real_generator.complete(prompt, max_tokens=12, deadline_s=600)
    assert len(real_generator._llm.tokenize(out.encode(), add_bos=False)) <= 12 + 2


def test_models_load_without_amx_extra_buffers_only_where_the_build_has_amx():
    """llama.cpp 0.3.36's AMX kernels crash on repacked quantized weights (gemma-3 Q4_K_M on a Xeon with AMX):
    memcli loads without extra buffers there, and leaves every other build as it is."""
    import llama_cpp.llama_cpp as low

    from memcli.models.llama_load import crash_safe_params, has_amx

    before = low.llama_model_default_params
    with crash_safe_params():
        assert low.llama_model_default_params().use_extra_bufts is (not has_amx(low))
    assert low.llama_model_default_params is before and low.llama_model_default_params().use_extra_bufts


def test_an_embedder_that_returns_nan_stores_nothing(tmp_path):
    """A damaged model file can load and still compute NaN: refused, nothing stored, recall keeps working."""
    import numpy as np

    from memcli.core import Memory, RawInput
    from memcli.errors import ModelError
    from memcli.models.hashing import HashEmbedder

    class Damaged(HashEmbedder):
        def _embed_batch(self, texts):
            out = np.asarray(super()._embed_batch(texts), dtype=np.float32)
            out[:, 3] = np.nan
            return out

    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "a sound note")])
    with Memory(tmp_path / "m.db", embedder=Damaged()) as mem:
        try:
            mem.remember([RawInput("b", "a note the damaged model reads")])
        except ModelError as exc:
            assert "NaN" in str(exc)
        else:
            raise AssertionError("NaN vectors were accepted")
        assert mem.stats()["memories"] == 1


def test_two_first_uses_of_the_generator_at_once_both_succeed(tmp_path):
    """Each assembles its own copy and renames it into place (they used to fail each other's checksum)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MEMCLI_CACHE_DIR": str(tmp_path)}
    code = "from memcli.models import gemma; print(gemma.prepare(force=True))"
    procs = []
    for delay in (0.0, 0.2):  # the second starts while the first is writing
        time.sleep(delay)
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    env_path = outs[0][0].strip()
    assert gemma.is_prepared(Path(env_path))
    assert not [p for p in os.listdir(tmp_path / "models") if p.endswith(".part")]
