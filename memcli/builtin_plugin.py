"""memcli's own formats and embedders, registered through the same hooks third-party plugins use. Registered
first and marked built-in: a plugin replaces one of them only by asking to (register(..., override=True))."""

from __future__ import annotations

from .plugins import hookimpl


@hookimpl
def register_importers(register):
    from .ingest import parse

    register("text", parse.parse_text)
    register("chat", parse.parse_chat)
    register("jsonl", parse.parse_jsonl)
    register("json", parse.parse_json)


@hookimpl
def register_embedders(register):
    from .models.hashing import HashEmbedder

    register("hash", HashEmbedder)  # model-free, for tests and stress runs (`--embedder hash`); not for recall


@hookimpl
def register_exporters(register):
    from .transfer import export_jsonl

    register("jsonl", lambda source, out, options: export_jsonl(source, out, vectors=options.get("vectors", True)))
