"""A small curated catalog of stronger models, each one `memcli models pull NAME` away.

Every entry names the exact hub repository and GGUF file, and how the model card says to use it: the pooling and
the prefixes for queries and for documents (an asymmetric retriever embeds "search_query: where do I live?"
against "search_document: I moved to Lisbon"; without them it is measurably worse). A catalog model is configured
as the spec `catalog:NAME`, which carries all of that into the embedder (see models/embedder.py).

Downloads are verified against the SHA-256 the hub itself reports for the file (its LFS object id, sent as
X-Linked-Etag), and against `sha256` here when one is pinned. None of these models could be downloaded or run on
the machine this catalog was written on (no hub reachable): the values come from the hub's pages and model cards
as indexed by a search engine, and `checked` says, per entry, what was confirmed and how. A value that could not
be confirmed is None, not a guess.

Changing an entry's file, pooling or prefixes changes the `model_id` its vectors are stored under (model_id()
below), so a database embedded with the old setup asks for `memcli reindex` instead of mixing two kinds of vector.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..errors import InputError

ROLES = ("embedder", "reranker", "generator")
SPEC_PREFIX = "catalog:"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    role: str  # embedder | reranker | generator
    repo: str  # OWNER/REPO on the hub
    filename: str  # the GGUF file in that repo
    license: str
    size_bytes: int | None  # exact byte count where a source gave one; None: unconfirmed (see listed_size)
    listed_size: str  # as the hub's file listing shows it, rounded
    checked: str  # what was confirmed about this entry, and how
    dimension: int | None = None  # embedders: vector size
    pooling: str | None = None  # mean | cls | last | rank; passed to llama.cpp
    query_prefix: str = ""
    document_prefix: str = ""
    sha256: str | None = None  # pinned file hash; None: the hub's own SHA-256 is the reference
    revision: str = "main"

    @property
    def spec(self) -> str:
        return SPEC_PREFIX + self.name


CATALOG: dict[str, CatalogEntry] = {e.name: e for e in (
    CatalogEntry(
        name="bge-small-en-v1.5", role="embedder",
        repo="CompendiumLabs/bge-small-en-v1.5-gguf", filename="bge-small-en-v1.5-f16.gguf",
        license="MIT", size_bytes=None, listed_size="67.3 MB", dimension=384, pooling="cls",
        query_prefix="Represent this sentence for searching relevant passages: ", document_prefix="",
        checked="repo and file in the hub's file listing of the repo (4 files: f16, f32, q4_k_m, q8_0), MIT on "
                "the repo page; query instruction from BAAI's bge model card (documents take none); CLS pooling "
                "as FlagEmbedding's default and the bge-v1.5 family's pooling config; exact size and SHA-256 "
                "not confirmed (two third-party manifests disagree on the hash)"),
    CatalogEntry(
        name="nomic-embed-text-v1.5", role="embedder",
        repo="nomic-ai/nomic-embed-text-v1.5-GGUF", filename="nomic-embed-text-v1.5.f16.gguf",
        license="Apache-2.0", size_bytes=274290560, listed_size="274 MB", dimension=768, pooling="mean",
        query_prefix="search_query: ", document_prefix="search_document: ",
        checked="repo on the hub (Apache-2.0, its card's usage section requires the task prefixes); file name "
                "from several projects downloading it from this repo; byte size from one third-party manifest, "
                "consistent with the 274 MB listed; prefixes from nomic's model card; SHA-256 not confirmed"),
    CatalogEntry(
        name="embeddinggemma-300m", role="embedder",
        repo="ggml-org/embeddinggemma-300M-GGUF", filename="embeddinggemma-300M-Q8_0.gguf",
        license="Gemma Terms of Use", size_bytes=333590944, listed_size="334 MB", dimension=768,
        pooling="mean", query_prefix="task: search result | query: ", document_prefix="title: none | text: ",
        checked="ggml-org's GGUF of google/embeddinggemma-300m (the one llama.cpp's authors publish); repo and "
                "file from several projects using it, byte size from two independent manifests; prompts from "
                "Google's model card (retrieval query / document) and its sentence-transformers prompt config; "
                "needs llama.cpp with the gemma-embedding architecture (the installed llama-cpp-python 0.3.36 "
                "has it); SHA-256 not confirmed"),
    CatalogEntry(
        name="bge-reranker-v2-m3", role="reranker",
        repo="gpustack/bge-reranker-v2-m3-GGUF", filename="bge-reranker-v2-m3-Q8_0.gguf",
        license="Apache-2.0", size_bytes=635676416, listed_size="636 MB", pooling="rank",
        checked="repo and file from several projects using them; byte size from one third-party manifest; "
                "license of BAAI/bge-reranker-v2-m3; XLM-RoBERTa cross-encoder, pairs laid out <s> q </s></s> d "
                "</s> as llama.cpp's server does; not run here (no hub); SHA-256 not confirmed"),
    CatalogEntry(
        name="qwen3-reranker-0.6b", role="reranker",
        repo="ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF", filename="qwen3-reranker-0.6b-q8_0.gguf",
        license="Apache-2.0", size_bytes=None, listed_size="about 640 MB", pooling="rank",
        checked="repo and file from several projects using them; size only as reported by a user (about "
                "640 MB); license of Qwen/Qwen3-Reranker-0.6B; it scores with its own yes/no prompt, which "
                "memcli reads from the GGUF's rerank template when the file has one; not run here (no hub); "
                "SHA-256 not confirmed"),
    CatalogEntry(
        name="qwen2.5-1.5b-instruct", role="generator",
        repo="Qwen/Qwen2.5-1.5B-Instruct-GGUF", filename="qwen2.5-1.5b-instruct-q4_k_m.gguf",
        license="Apache-2.0", size_bytes=1117320736, listed_size="1.12 GB",
        checked="Qwen's own GGUF repo; file name from many projects downloading it; byte size from one "
                "third-party manifest pinning a revision; instruction-tuned, for fact extraction and summaries "
                "instead of the default base gemma-3-270m; SHA-256 not confirmed"),
)}


def names(role: str | None = None) -> list[str]:
    return [n for n, e in CATALOG.items() if role is None or e.role == role]


def get(name: str) -> CatalogEntry:
    """The entry called `name` (a `catalog:` prefix is accepted), or an InputError listing the known names."""
    key = name[len(SPEC_PREFIX):] if name.startswith(SPEC_PREFIX) else name
    entry = CATALOG.get(key)
    if entry is None:
        raise InputError(f"no model called {key!r} in memcli's catalog; known: {', '.join(names())}")
    return entry


def canonical(spec: str) -> str:
    """`catalog:NAME` for a bare catalog name (as people type it: `--reranker bge-reranker-v2-m3`) unless a file
    of that name exists; any other spec as given."""
    from pathlib import Path

    return SPEC_PREFIX + spec if spec in CATALOG and not Path(spec).expanduser().exists() else spec


def for_spec(spec: str | None) -> CatalogEntry | None:
    """The catalog entry a model spec stands for: `catalog:NAME`, or an `hf:OWNER/REPO/FILE` spec naming exactly a
    catalogued file (so the model card's prefixes apply however it was configured). None for anything else."""
    if not spec:
        return None
    spec = canonical(spec)
    if spec.startswith(SPEC_PREFIX):
        return get(spec)
    if spec.startswith("hf:"):
        for entry in CATALOG.values():
            if spec[3:] == f"{entry.repo}/{entry.filename}":
                return entry
    return None


def model_id(entry: CatalogEntry, file_sha256: str) -> str:
    """The id vectors are stored under: the entry's name plus a digest of the file's bytes and of how texts are
    fed to it (pooling and prefixes). Stable across runs, machines and cache locations; it changes only when the
    file or the embedding recipe changes, and then the database asks for a reindex."""
    recipe = "\0".join([file_sha256, entry.pooling or "", entry.query_prefix, entry.document_prefix])
    return f"{entry.name}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
