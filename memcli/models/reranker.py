"""Cross-encoder rerankers run by llama.cpp with rank pooling: one relevance score per (query, document) pair.

A cross-encoder reads the question and a memory together, so it can see what two separate embeddings cannot
(who did what, negation, which of two dates). It is slow (one forward pass per pair), so recall runs it only on
the fused top N, within a time budget (retrieval/rerank.py).

The pair is laid out as llama.cpp's own server lays it out: the model's rerank prompt template when its GGUF has
one (`tokenizer.chat_template.rerank`, e.g. Qwen3-Reranker, with {query} and {document}); otherwise BOS query
EOS SEP document EOS, as the vocabulary asks for each token ([CLS] q [SEP] d [SEP] for BERT, <s> q </s></s> d </s>
for XLM-RoBERTa's bge-reranker). llama-cpp-python's `embed()` reads n_embd floats per sequence, past the
n_cls_out scores rank pooling writes, so scores are read here with the low-level API.
"""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

from ..errors import ModelError
from .llama_load import crash_safe_params
from .stderr import quiet_stderr

TEMPLATE_KEY = "tokenizer.chat_template.rerank"
# Pairs are packed into one decode up to this many tokens: llama.cpp attends across the whole batch, so 50
# REALTALK pairs took 0.60 s packed into 512-token batches and 0.25-0.33 s in 128-token ones (a one-off script on
# bench/rerank.py's MiniLM-sized model; 32-256 measured, 128 kept).
PACK_TOKENS = 128


def check_file(path: Path) -> int:
    """The positions the model was trained for, after checking on the file what llama.cpp would abort the whole
    process on (GGML_ASSERT) instead of raising: rank pooling without a classification head, and pairs longer
    than the model's position table. A head with several outputs is refused too: memcli reads one relevance
    score per pair (the first output, as llama.cpp's own server does), which would be the wrong one."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
        fields = reader.fields
        arch = bytes(fields["general.architecture"].parts[-1]).decode()
        field = fields.get(f"{arch}.context_length")
        n_ctx_train = int(field.parts[-1][0]) if field is not None else 0
        shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}
    except Exception as exc:  # not a GGUF, truncated
        raise ModelError(f"cannot read reranker {path}: {exc}") from None
    if "cls.weight" not in shapes and "cls.output.weight" not in shapes:
        raise ModelError(f"{path} is not a reranker: it has no classification head (cls tensors); use a "
                         "cross-encoder GGUF such as bge-reranker-v2-m3")
    last = shapes.get("cls.output.weight") or shapes["cls.weight"]  # ggml order: (inputs, outputs)
    outputs = last[1] if len(last) > 1 else 1
    if outputs != 1:
        raise ModelError(f"{path} has a classification head with {outputs} outputs; memcli reads one relevance "
                         "score per pair, so it takes rerankers with one")
    if n_ctx_train < 8:
        raise ModelError(f"{path} does not say how many tokens it reads ({arch}.context_length)")
    return n_ctx_train


class Reranker:
    """Scores (query, document) pairs with a rank-pooling GGUF. `n_ctx` tokens per pair at most, or the model's
    trained positions if fewer (the document is cut to fit); pairs are packed into decodes of PACK_TOKENS."""

    def __init__(self, path: Path, *, model_id: str | None = None, n_ctx: int = 512, threads: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"reranker not found: {path}")
        # a pair is never longer than the model's position table: llama.cpp aborts the process on a position
        # past it
        n_ctx = min(n_ctx, check_file(path))
        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ModelError(f"llama-cpp-python is not installed: {exc}") from exc
        self.path = path
        self.threads = threads or min(os.cpu_count() or 2, 8)
        try:
            with quiet_stderr(), crash_safe_params():
                self._llm = llama_cpp.Llama(model_path=str(path), embedding=True, n_ctx=n_ctx, n_batch=n_ctx,
                                            n_ubatch=n_ctx, n_threads=self.threads, n_threads_batch=self.threads,
                                            verbose=False,
                                            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_RANK)
        except Exception as exc:
            raise ModelError(f"cannot load reranker {path}: {exc}") from exc
        self.n_ctx = n_ctx
        self.pack = min(PACK_TOKENS, n_ctx)  # the batch holds n_ctx tokens at most
        self.n_cls_out = int(llama_cpp.llama_model_n_cls_out(self._llm._model.model))
        if self.n_cls_out < 1 or self._llm.pooling_type() != llama_cpp.LLAMA_POOLING_TYPE_RANK:
            raise ModelError(f"{path} is not a reranker (llama.cpp gives it no rank pooling)")
        self.template = self._llm.metadata.get(TEMPLATE_KEY) or None
        vocab = llama_cpp.llama_model_get_vocab(self._llm._model.model)
        self._bos = llama_cpp.llama_vocab_bos(vocab) if llama_cpp.llama_vocab_get_add_bos(vocab) else -1
        self._eos = llama_cpp.llama_vocab_eos(vocab)
        self._sep = llama_cpp.llama_vocab_sep(vocab) if llama_cpp.llama_vocab_get_add_sep(vocab) else -1
        add_eos = bool(llama_cpp.llama_vocab_get_add_eos(vocab))
        if self._eos < 0 or not add_eos:
            # BERT's vocabulary adds no EOS: its pair ends with [SEP], and a lone [SEP] separates the two
            self._eos, self._sep = (self._sep if self._sep >= 0 else -1), -1
        from .integrity import file_sha256

        self.model_id = model_id or f"gguf:{path.stem}:{file_sha256(path)[:12]}"

    def _tokens(self, text: str, special: bool = False) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=special)

    def pair_tokens(self, query: str, document: str) -> list[int]:
        """The tokens the model reads for one pair, at most n_ctx: the document is cut, the query kept (cut to
        half the window only if it alone is that long). The texts are read as text, never as control tokens:
        a memory or a question holding '[SEP]' or '<|im_end|>' cannot end the pair early."""
        q = self._tokens(query)[: self.n_ctx // 2]
        d = self._tokens(document)
        if self.template:
            parts = re.split(r"(\{query\}|\{document\})", self.template)
            pieces = [q if part == "{query}" else None if part == "{document}" else self._tokens(part, special=True)
                      for part in parts if part]
        else:
            pieces = [[t for t in (self._bos,) if t >= 0], q, [t for t in (self._eos, self._sep) if t >= 0], None,
                      [self._eos] if self._eos >= 0 else []]
        fixed = sum(len(p) for p in pieces if p is not None)
        slots = sum(1 for p in pieces if p is None)
        room = max(self.n_ctx - fixed, 0) // max(slots, 1)
        tokens = [t for p in pieces for t in (d[:room] if p is None else p)]
        return tokens[: self.n_ctx]  # a template longer than the window itself: cut, never past the batch

    def score(self, query: str, documents: list[str], *, budget_s: float | None = None) -> list[float | None]:
        """A relevance logit per document (higher is more relevant), in the given order. With a budget, batches
        stop once it is spent: documents not reached get None (the caller keeps its own order for them)."""
        import llama_cpp

        llm, ctx = self._llm, self._llm._ctx
        start = time.perf_counter()
        out: list[float | None] = [None] * len(documents)
        pairs = [self.pair_tokens(query, d) for d in documents]
        n_seq_max = max(1, int(llm.context_params.n_seq_max))
        i = 0
        while i < len(pairs):
            if budget_s is not None and i and time.perf_counter() - start > budget_s:
                break
            batch: list[int] = []
            used = 0
            while i < len(pairs) and len(batch) < n_seq_max and (not batch or used + len(pairs[i]) <= self.pack):
                batch.append(i)
                used += len(pairs[i])
                i += 1
            llm._batch.reset()
            for seq, idx in enumerate(batch):
                llm._batch.add_sequence(pairs[idx], seq, True)
            ctx.kv_cache_clear()
            ctx.decode(llm._batch)
            for seq, idx in enumerate(batch):
                ptr = llama_cpp.llama_get_embeddings_seq(ctx.ctx, seq)
                if not ptr:
                    raise ModelError(f"{self.path}: llama.cpp returned no score")
                value = float(ptr[0])
                out[idx] = value if math.isfinite(value) else None  # no order, nor valid JSON, from inf or NaN
        return out


def load_reranker(spec: str, progress=None) -> Reranker:
    """A reranker from a GGUF path, an `hf:` spec or a catalogued name (`catalog:NAME` or the bare name)."""
    from . import catalog
    from .hub import resolve_spec

    entry = catalog.for_spec(spec)  # a bare catalog name too, as `models use` takes it
    if entry is None:
        return Reranker(resolve_spec(spec, progress))
    if entry.role != "reranker":
        raise ModelError(f"{entry.name} is a{'n' if entry.role == 'embedder' else ''} {entry.role} model, "
                         "not a reranker")
    return Reranker(resolve_spec(entry.spec, progress), model_id=entry.name)
