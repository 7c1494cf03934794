"""The embedder interface. The base class owns chunking, batching and normalisation; runtimes only embed a batch.

Texts longer than the model window are split into overlapping token windows (never silently cut), and each window
gets its own vector; a query longer than the window is the normalised mean of its windows.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .llama_load import crash_safe_params
from .stderr import quiet_stderr


class Embedder(ABC):
    model_id: str
    dimension: int
    window: int = 254  # content tokens per chunk, leaving room for [CLS] and [SEP]
    overlap: int = 32
    batch_size: int = 64
    # What the model card says to put before a query and before a stored text (asymmetric retrievers such as
    # nomic-embed or bge are trained with them); empty for symmetric models like the default MiniLM.
    query_prefix: str = ""
    document_prefix: str = ""

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Raw vectors for texts that each fit the window."""

    def chunk(self, text: str) -> list[str]:
        """Split into pieces that fit the model window. The base embedder does not tokenize: whole text."""
        return [text]

    def embed_chunks(self, texts: list[str], progress=None) -> list[np.ndarray]:
        """One (n_chunks, dim) float32 array of unit vectors per stored text (document prefix applied);
        progress(done, total) per batch."""
        return self._embed_texts(texts, self.document_prefix, progress)

    def embed_query(self, text: str) -> np.ndarray:
        """One unit vector for a search query (query prefix applied)."""
        chunks = self._embed_texts([text], self.query_prefix)[0]
        return _normalize(chunks.mean(axis=0, keepdims=True))[0]

    def _embed_texts(self, texts: list[str], prefix: str, progress=None) -> list[np.ndarray]:
        pieces: list[str] = []
        owners: list[int] = []
        for i, text in enumerate(texts):
            for piece in self.chunk(text):  # windows of the text itself; the prefix goes before each
                pieces.append(prefix + piece)
                owners.append(i)
        vectors = np.zeros((len(pieces), self.dimension), dtype=np.float32)
        for start in range(0, len(pieces), self.batch_size):
            batch = pieces[start : start + self.batch_size]
            vectors[start : start + len(batch)] = self._embed_batch(batch)
            if progress:
                progress(start + len(batch), len(pieces))
        if not np.isfinite(vectors).all():  # a damaged model file: no vector is stored, nothing is searched
            raise ModelError(f"the embedding model {self.model_id} returned NaN or infinite values; its file may "
                             "be damaged (memcli doctor checks it; memcli models prepare --force rebuilds it)")
        vectors = _normalize(vectors)
        out: list[list[np.ndarray]] = [[] for _ in texts]
        for owner, vec in zip(owners, vectors):
            out[owner].append(vec)
        return [np.stack(v) for v in out]


def _normalize(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (v / norms).astype(np.float32)


def _file_fingerprint(path: Path) -> str:
    """Stable id for a user-supplied GGUF without hashing hundreds of MB on every run."""
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
    h.update(str(st.st_size).encode())
    return h.hexdigest()[:12]


_POOLING = {"mean": "LLAMA_POOLING_TYPE_MEAN", "cls": "LLAMA_POOLING_TYPE_CLS",
            "last": "LLAMA_POOLING_TYPE_LAST", "rank": "LLAMA_POOLING_TYPE_RANK"}


class LlamaEmbedder(Embedder):
    """Any GGUF embedding model run by llama.cpp (settings from FACTS.md: n_ctx = n_batch = n_ubatch = 256).

    llama.cpp attends over the whole batch. With flash attention (the default) one 256-token context packs the
    most texts into each decode and is fastest: 250-265 REALTALK turns/s against 185-200 for the smallest of 64,
    128 and 256 without it, the vectors within 1.4e-4 (2-core Zen 4 EPYC, a one-off script; without flash
    attention the small contexts were the faster choice, 35-40 % over 256 alone). `contexts` adds smaller
    contexts, each text going to the smallest it fits; chunk windows are cut for the largest, `n_ctx`. Contexts
    are created on first need.
    """

    def __init__(self, path: Path, *, model_id: str | None = None, n_ctx: int = 256,
                 contexts: tuple[int, ...] = (), threads: int | None = None, repack: bool = False,
                 query_prefix: str = "", document_prefix: str = "", pooling: str | None = None,
                 flash_attn: bool = True):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"embedding model not found: {path}")
        self.path = path
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        if pooling is not None and pooling not in _POOLING:
            raise ModelError(f"unknown pooling {pooling!r} for {path}; one of {', '.join(_POOLING)}")
        self.pooling = pooling  # None: what the GGUF says
        # Repacked weights ("extra buffers") embed ~10% faster on AVX-512 but crash AMX CPUs on quantized weights
        # (models/llama_load.py): only the default F16 MiniLM, which has no AMX kernel, keeps them there.
        self.repack = repack
        self.flash_attn = flash_attn
        self.threads = threads or min(os.cpu_count() or 2, 8)
        self.sizes = sorted({min(c, n_ctx) for c in contexts} | {n_ctx})
        self._contexts = {self.sizes[0]: self._context(self.sizes[0])}
        self._llm = self._contexts[self.sizes[0]]  # tokenizes, and embeds every text that fits it
        self.model_id = model_id or f"gguf:{path.stem}:{_file_fingerprint(path)}"
        from .integrity import file_sha256

        self.sha256 = file_sha256(path)  # recorded with the vectors: a changed file is caught (Vectors.check_model)
        self.dimension = int(self._llm.n_embd())
        # A generative GGUF loads fine in embedding mode but has no pooling: llama.cpp would return one vector per
        # token, or (seen with gemma-3 on an AVX-512 build) crash the process in embed(). Refuse it by name first.
        import llama_cpp

        unpooled = f"{path} is not a sentence-embedding model (llama.cpp returns per-token vectors, no pooling); " \
                   "use an embedding GGUF such as the default all-MiniLM-L6-v2"
        if self._llm.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_NONE:
            raise ModelError(unpooled)
        try:
            shape = np.asarray(self._llm.embed(["probe"], normalize=False, truncate=True), dtype=np.float32).shape
        except ValueError:  # ragged per-token output
            shape = None
        if shape != (1, self.dimension):
            raise ModelError(unpooled)
        # Chunks leave room for [CLS], [SEP] and the longer of the two prefixes, so a prefixed chunk still fits.
        prefix_tokens = max((len(self._tokens(p)) for p in (query_prefix, document_prefix) if p), default=0)
        self.window = n_ctx - 2 - prefix_tokens
        if self.window < 32:
            raise ModelError(f"the prefixes of {path} leave no room in a {n_ctx}-token window")
        self.batch_size = 32  # texts per embed() call: 16 and 32 within noise with flash attention (8 was slower without)

    def _context(self, n_ctx: int):
        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ModelError(f"llama-cpp-python is not installed: {exc}") from exc
        try:
            options = {} if self.pooling is None else {"pooling_type": getattr(llama_cpp, _POOLING[self.pooling])}
            if self.flash_attn:
                options["flash_attn"] = True
            with quiet_stderr(), (nullcontext() if self.repack else crash_safe_params()):
                return llama_cpp.Llama(
                    model_path=str(self.path),
                    embedding=True,
                    n_ctx=n_ctx,
                    n_batch=n_ctx,
                    n_ubatch=n_ctx,  # n_ubatch < n_batch aborts the process with mean pooling
                    n_threads=self.threads,
                    verbose=False,
                    **options,
                )
        except Exception as exc:  # llama.cpp raises ValueError/RuntimeError on unusable files
            if self.flash_attn:  # a model or build without flash attention: plain attention (vectors within 5e-4)
                self.flash_attn = False
                return self._context(n_ctx)
            raise ModelError(f"cannot load embedding model {self.path}: {exc}") from exc

    def _tokens(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=False)

    def embed_query(self, text: str) -> np.ndarray:
        """One thread for one short text: ~5 ms either way on an idle machine, but two threads spin against each
        other while the other core is busy (1.1 s per decode measured under load, 3-4 ms with one thread), and a
        hook or a server answering a query is exactly when something else runs."""
        import llama_cpp

        contexts = list(self._contexts.values())
        for llm in contexts:
            llama_cpp.llama_set_n_threads(llm._ctx.ctx, 1, 1)
        try:
            return super().embed_query(text)
        finally:
            for llm in contexts:
                llama_cpp.llama_set_n_threads(llm._ctx.ctx, self.threads, self.threads)

    def word_pieces(self, word: str) -> int:
        """How many vocabulary pieces a word takes: 1 for a word the model knows, many for letter noise."""
        return len(self._tokens(word))

    def chunk(self, text: str) -> list[str]:
        tokens = self._tokens(text)
        if len(tokens) <= self.window:
            return [text]
        # Leave slack: detokenized windows can re-tokenize a few tokens longer.
        size = self.window - 16
        step = size - self.overlap
        pieces = []
        for start in range(0, len(tokens), step):
            window = tokens[start : start + size]
            pieces.append(self._llm.detokenize(window).decode("utf-8", "replace").strip())
            if start + size >= len(tokens):
                break
        return pieces

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        # Empty strings make llama.cpp decode a zero-length sequence; embed a space instead.
        texts = [t if t.strip() else " " for t in texts]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # the smallest context with room for the text plus [CLS] and [SEP]; the largest takes the rest
        if len(self.sizes) == 1:
            size_of = [self.sizes[0]] * len(texts)  # one context (the default): no second tokenization
        else:
            lengths = [len(self._tokens(t)) for t in texts]
            size_of = [next((n for n in self.sizes if length <= n - 2), self.sizes[-1]) for length in lengths]
        for size in self.sizes:
            rows = [i for i, n in enumerate(size_of) if n == size]
            if not rows:
                continue
            if size not in self._contexts:
                self._contexts[size] = self._context(size)
            result = self._contexts[size].embed([texts[i] for i in rows], normalize=False, truncate=True)
            out[rows] = np.asarray(result, dtype=np.float32).reshape(len(rows), self.dimension)
        return out


def load_embedder(spec: str | None = None, progress=None) -> Embedder:
    """The default MiniLM (prepared on first use), or a GGUF given by path, `hf:` spec or `catalog:NAME` spec. A
    catalogued model (also when named by its exact `hf:` spec) embeds with its model card's pooling and prefixes."""
    if spec and spec not in ("default", "minilm", "all-MiniLM-L6-v2"):
        from . import catalog
        from .hub import resolve_spec

        entry = catalog.for_spec(spec)
        if entry is None:
            return LlamaEmbedder(resolve_spec(spec, progress))
        if entry.role != "embedder":
            raise ModelError(f"{entry.name} is a {entry.role} model, not an embedding model"
                             + (f" (memcli models use reranker {entry.name})" if entry.role == "reranker" else ""))
        path = resolve_spec(entry.spec, progress)
        from .integrity import file_sha256

        return LlamaEmbedder(path, model_id=catalog.model_id(entry, file_sha256(path)), pooling=entry.pooling,
                             query_prefix=entry.query_prefix, document_prefix=entry.document_prefix)
    from . import minilm

    path = minilm.prepare(progress)
    try:
        minilm.check(path)
        return LlamaEmbedder(path, model_id=minilm.MODEL_ID, repack=True)
    except ModelError as exc:
        # The cached default is ours to rebuild from its PyPI package: a damaged or refused file is made again,
        # once, and said so, rather than failing forever or being used as it is.
        if progress:
            progress(f"{exc}; rebuilding it")
        path = minilm.prepare(progress, force=True)
        minilm.check(path)
        return LlamaEmbedder(path, model_id=minilm.MODEL_ID, repack=True)
