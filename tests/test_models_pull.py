"""`memcli models pull`: the real huggingface_hub download path against a local server speaking the hub's file API.

No hub is reachable from the machines this project is built on, so the test serves the files itself: HEAD and GET
on /{owner}/{repo}/resolve/{revision}/{file} answer like the hub does for an LFS file (302 to a storage host, with
X-Repo-Commit, X-Linked-Etag = the SHA-256 and X-Linked-Size), and a second server on another port plays the storage
host (Range requests, 206). HF_ENDPOINT points huggingface_hub at it. The file served is the prepared default
MiniLM GGUF, entered into the catalog under a test name; the real catalog entries are only checked for shape.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("huggingface_hub")

from memcli.core import Memory  # noqa: E402
from memcli.models import catalog  # noqa: E402
from memcli.models.catalog import CatalogEntry  # noqa: E402

REPO = "memcli-test/minilm-gguf"
FILE = "all-MiniLM-L6-v2-f16.gguf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ENTRY = CatalogEntry(name="test-minilm", role="embedder", repo=REPO, filename=FILE, license="Apache-2.0",
                     size_bytes=None, listed_size="46 MB", checked="made by the test", dimension=384,
                     pooling="mean", query_prefix="search_query: ", document_prefix="search_document: ")
RERANKER = CatalogEntry(name="test-reranker", role="reranker", repo=REPO, filename="rerank.gguf",
                        license="Apache-2.0", size_bytes=None, listed_size="1 MB", checked="made by the test",
                        pooling="rank")


class FakeHub:
    """The hub's resolve endpoint and a storage host, each a real HTTP server on 127.0.0.1."""

    def __init__(self):
        self.files: dict[str, bytes] = {}  # "owner/repo/file" -> bytes the storage host sends
        self.advertised: dict[str, str] = {}  # "owner/repo/file" -> SHA-256 the hub claims
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.drop_next_get_after: int | None = None  # send this many bytes of the next file GET, then hang up
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body: bool):
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path)
                if m and self.server is hub.api:
                    key = f"{m.group(1)}/{m.group(3)}"
                    if key not in hub.files:
                        self.send_response(404)
                        self.send_header("X-Error-Code", "EntryNotFound")
                        self.send_header("X-Repo-Commit", COMMIT)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    sha = hub.advertised.get(key) or hashlib.sha256(hub.files[key]).hexdigest()
                    self.send_response(302)  # LFS files: metadata here, bytes on the storage host
                    self.send_header("Location", f"{hub.storage_url}/blob/{key}")
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("X-Linked-Etag", f'"{sha}"')
                    self.send_header("X-Linked-Size", str(len(hub.files[key])))
                    self.send_header("ETag", '"0000000000000000000000000000000000000000"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                m = re.fullmatch(r"/blob/(.+)", self.path)
                if not (m and self.server is hub.storage and m.group(1) in hub.files):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = hub.files[m.group(1)]
                start = 0
                wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if wanted:
                    start = int(wanted.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if not body:
                    return
                cut = hub.drop_next_get_after
                if cut is not None:
                    hub.drop_next_get_after = None
                    self.wfile.write(data[start:start + cut])  # then the connection closes: a dropped transfer
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

        self.api = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.storage = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.api.server_address[1]}"
        self.storage_url = f"http://127.0.0.1:{self.storage.server_address[1]}"
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self.api, self.storage)]
        for t in self.threads:
            t.start()

    def gets(self) -> list[tuple[str, str, str | None]]:
        """The file downloads."""
        return [r for r in self.requests if r[0] == "GET" and r[1].startswith("/blob/")]

    def file_requests(self) -> list[tuple[str, str, str | None]]:
        """Requests for model files (huggingface_hub may also ask the endpoint for its own telemetry lists)."""
        return [r for r in self.requests if "/resolve/" in r[1] or r[1].startswith("/blob/")]

    def close(self):
        for s in (self.api, self.storage):
            s.shutdown()
            s.server_close()


@pytest.fixture
def gguf(real_embedder) -> Path:
    """The prepared default MiniLM GGUF: a real embedding model small enough to serve (46 MB)."""
    return Path(real_embedder.path)


@pytest.fixture
def hub(gguf, tmp_path, monkeypatch):
    server = FakeHub()
    server.files[f"{REPO}/{FILE}"] = gguf.read_bytes()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("MEMCLI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no user token or hub cache from this machine
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setitem(catalog.CATALOG, ENTRY.name, ENTRY)
    monkeypatch.setitem(catalog.CATALOG, RERANKER.name, RERANKER)
    yield server
    server.close()


def pulled(tmp_path) -> Path:
    return tmp_path / "cache" / "models" / "hub" / REPO / FILE


def error_line(stderr: str) -> str:
    """The one error line (progress notes may come before it)."""
    (line,) = [ln for ln in stderr.splitlines() if ln.startswith("memcli: error:")]
    assert stderr.rstrip("\n").endswith(line)
    return line


def test_pull_downloads_into_the_cache_and_verifies_against_the_hubs_sha256(cli, hub, gguf, tmp_path):
    r = cli("models", "pull", "test-minilm", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    expected = hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert result["path"] == str(pulled(tmp_path)) and result["sha256"] == expected
    assert result["spec"] == "catalog:test-minilm" and "configured" not in result
    assert pulled(tmp_path).read_bytes() == gguf.read_bytes()
    assert (pulled(tmp_path).stat().st_mode & 0o077) == 0  # private, like every model file memcli writes
    assert hub.file_requests()[0][:2] == ("HEAD", f"/{REPO}/resolve/main/{FILE}")
    assert len(hub.gets()) == 1
    # Pulled again: the hub is asked what it serves, the verified copy is kept, nothing is downloaded.
    r = cli("models", "pull", "test-minilm")
    assert r.exit_code == 0, r.output
    assert "already pulled and verified" in r.stderr and len(hub.gets()) == 1
    assert "use it: memcli models use embedder test-minilm" in r.stdout
    rows = {row["name"]: row for row in json.loads(cli("models", "list", "--catalog", "--json").stdout)}
    assert rows["test-minilm"]["pulled"] and not rows["test-minilm"]["in_use"]
    assert not rows["nomic-embed-text-v1.5"]["pulled"]


def test_a_dropped_transfer_is_resumed_with_a_range_request(cli, hub, gguf, tmp_path):
    hub.drop_next_get_after = 30_000_000  # of 46 MB; huggingface_hub writes in 10 MiB chunks
    r = cli("models", "pull", "test-minilm")
    assert r.exit_code == 0, r.output
    first, second = hub.gets()
    assert first[2] is None
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", second[2] or "").group(1))  # continues, does not start over
    assert 0 < resumed_at <= 30_000_000
    assert pulled(tmp_path).read_bytes() == gguf.read_bytes()


def test_a_file_that_differs_from_the_hubs_sha256_is_refused_and_deleted(cli, hub, gguf, tmp_path):
    good = gguf.read_bytes()
    tampered = bytearray(good)
    tampered[len(good) // 2] ^= 0xFF  # same size: only the checksum can tell
    hub.files[f"{REPO}/{FILE}"] = bytes(tampered)
    hub.advertised[f"{REPO}/{FILE}"] = hashlib.sha256(good).hexdigest()
    r = cli("models", "pull", "test-minilm", "--use")
    assert r.exit_code == 1
    assert "does not match the hub's SHA-256" in error_line(r.stderr)
    assert not pulled(tmp_path).exists()
    assert not Path(str(pulled(tmp_path)) + ".verified").exists()
    assert not (tmp_path / "config.toml").exists()  # --use configured nothing


def test_pull_use_configures_the_embedder_and_reindex_switches_the_vectors(cli, hub, tmp_path):
    assert cli("remember", "I moved to Lisbon in March and my cat is called Miso").exit_code == 0
    r = cli("models", "pull", "test-minilm", "--use")
    assert r.exit_code == 0, r.output
    assert "embedder: catalog:test-minilm" in r.stdout and "memcli reindex" in r.stdout
    assert 'embedder = "catalog:test-minilm"' in (tmp_path / "config.toml").read_text()
    r = cli("models", "list")
    assert "catalog:test-minilm" in r.stdout and re.search(r"test-minilm\s+embedder.*in use", r.stdout)
    # The database still holds the default model's vectors: recall says to reindex instead of mixing them.
    r = cli("recall", "where do I live?")
    assert r.exit_code == 1 and "reindex" in r.stderr
    r = cli("reindex", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["embedding_model"].startswith("test-minilm:")
    r = cli("recall", "where do I live?", "--json")
    assert r.exit_code == 0 and "Lisbon" in json.loads(r.stdout)[0]["text"]
    with Memory(tmp_path / "cli.db", create=False) as mem:
        assert [a.detail["embedder"] for a in mem.audit_log(op="config")] == ["catalog:test-minilm"]
        (reindexed,) = mem.audit_log(op="reindex")
        assert reindexed.detail["from"][0] == "all-MiniLM-L6-v2-f16"
        assert reindexed.detail["embedding_model"].startswith("test-minilm:")
    assert len(hub.gets()) == 1  # loading the configured model used the pulled file, not the network


def test_the_pulled_embedder_applies_the_model_cards_prefixes(hub, gguf, tmp_path):
    from memcli.models.embedder import LlamaEmbedder, load_embedder

    embedder = load_embedder("catalog:test-minilm")
    assert Path(embedder.path) == pulled(tmp_path)
    plain = LlamaEmbedder(embedder.path)  # the same file, no prefixes
    assert float(np.dot(embedder.embed_query("x"), plain.embed_query("search_query: x"))) > 0.99999
    stored = embedder.embed_chunks(["x"])[0][0]
    assert float(np.dot(stored, plain.embed_chunks(["search_document: x"])[0][0])) > 0.99999
    assert float(np.dot(embedder.embed_query("x"), plain.embed_query("x"))) < 0.99  # the prefix changes the vector
    # A long text is cut into windows that still fit once the prefix goes before each.
    assert embedder.window < plain.window
    # The id vectors are stored under: stable across loads, the same however the model is named, and different
    # from the raw file's (which embeds without prefixes).
    again = load_embedder(f"hf:{REPO}/{FILE}")
    assert again.model_id == embedder.model_id and embedder.model_id.startswith("test-minilm:")
    assert embedder.model_id != plain.model_id
    assert len(hub.gets()) == 1


def test_a_pulled_file_changed_later_is_refused_at_load(hub, tmp_path):
    from memcli.errors import ModelError
    from memcli.models.embedder import load_embedder

    load_embedder("catalog:test-minilm")
    path = pulled(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="models pull test-minilm --force"):
        load_embedder("catalog:test-minilm")


def test_offline_with_a_verified_copy_keeps_it_and_without_one_fails_in_one_line(cli, hub, tmp_path, monkeypatch):
    assert cli("models", "pull", "test-minilm").exit_code == 0
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    r = cli("models", "pull", "test-minilm")
    assert r.exit_code == 0 and "keeping the verified copy" in r.stderr
    r = cli("models", "pull", "test-minilm", "--force")
    assert r.exit_code == 1 and "cannot reach test-minilm on the hub" in error_line(r.stderr)


def test_pull_errors_are_one_line(cli, hub, monkeypatch):
    r = cli("models", "pull", "no-such-model")
    assert r.exit_code == 2 and "known:" in r.stderr and "nomic-embed-text-v1.5" in r.stderr
    r = cli("models", "use", "generator", "test-minilm")
    assert r.exit_code == 1 and "is an embedder model, not a generator" in r.stderr
    monkeypatch.setitem(__import__("sys").modules, "huggingface_hub", None)  # not installed
    r = cli("models", "pull", "test-minilm")
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "pip install 'memcli[hub]'" in error_line(r.stderr)
    assert hub.file_requests() == []


def test_models_use_accepts_a_catalog_name(cli, hub, tmp_path):
    r = cli("models", "use", "embedder", "test-minilm")
    assert r.exit_code == 0, r.output
    assert "not pulled yet" in r.stdout and "memcli reindex" in r.stdout
    assert 'embedder = "catalog:test-minilm"' in (tmp_path / "config.toml").read_text()
    shown = json.loads(cli("models", "show", "embedder", "--json").stdout)
    assert shown["model"] == "catalog:test-minilm" and shown["path"] == str(pulled(tmp_path))
    assert shown["ready"] is False


def test_the_real_catalog_names_exact_files_and_the_model_cards_prefixes():
    entries = {name: e for name, e in catalog.CATALOG.items() if not name.startswith("test-")}
    assert {"bge-small-en-v1.5", "nomic-embed-text-v1.5", "embeddinggemma-300m", "bge-reranker-v2-m3",
            "qwen3-reranker-0.6b", "qwen2.5-1.5b-instruct"} <= set(entries)
    for e in entries.values():
        assert e.role in catalog.ROLES and e.filename.endswith(".gguf") and e.repo.count("/") == 1
        assert e.checked and e.license and e.listed_size
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256)
        if e.role == "embedder":
            assert e.dimension and e.pooling in ("mean", "cls")
    assert entries["nomic-embed-text-v1.5"].query_prefix == "search_query: "
    assert entries["nomic-embed-text-v1.5"].document_prefix == "search_document: "
    assert entries["embeddinggemma-300m"].query_prefix == "task: search result | query: "
    assert entries["embeddinggemma-300m"].document_prefix == "title: none | text: "
    assert entries["bge-small-en-v1.5"].query_prefix == "Represent this sentence for searching relevant passages: "
    assert catalog.for_spec("hf:nomic-ai/nomic-embed-text-v1.5-GGUF/nomic-embed-text-v1.5.f16.gguf") \
        is entries["nomic-embed-text-v1.5"]


def test_a_failed_update_keeps_the_working_copy(cli, hub, gguf, tmp_path):
    """A pull that failed half-way deleted the verified model first, leaving the configured embedder unusable."""
    assert cli("models", "pull", "test-minilm").exit_code == 0
    good = gguf.read_bytes()
    newer = bytearray(good)
    newer[len(good) // 2] ^= 0xFF
    hub.files[f"{REPO}/{FILE}"] = bytes(newer)
    hub.advertised[f"{REPO}/{FILE}"] = hashlib.sha256(good + b"x").hexdigest()  # a new version, served wrong
    r = cli("models", "pull", "test-minilm", "--force")
    assert r.exit_code == 1 and "any earlier copy is kept" in error_line(r.stderr)
    assert pulled(tmp_path).read_bytes() == good
    from memcli.models.embedder import load_embedder

    assert load_embedder("catalog:test-minilm").dimension == 384


def test_a_pulled_reranker_is_used_by_recall(cli, hub, tmp_path):
    """The whole path for the second stage: pull from the hub, --use configures it, recall re-orders with it."""
    from tests import tiny_reranker

    served = tiny_reranker.write(tmp_path / "served.gguf")
    hub.files[f"{REPO}/rerank.gguf"] = served.read_bytes()
    assert cli("remember", "Ana moved to Lisbon in May").exit_code == 0
    assert cli("remember", "Ana likes jazz and coffee").exit_code == 0
    r = cli("models", "pull", "test-reranker", "--use", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["configured"] and 'reranker = "catalog:test-reranker"' in \
        (tmp_path / "config.toml").read_text()
    hits = json.loads(cli("recall", "where does ana live?", "--json").stdout)
    assert len(hits) == 2 and all(h["match"]["rerank"] is not None for h in hits)
    assert [h["match"]["rerank"] for h in hits] == sorted((h["match"]["rerank"] for h in hits), reverse=True)
    rows = {row["name"]: row for row in json.loads(cli("models", "list", "--catalog", "--json").stdout)}
    assert rows["test-reranker"]["in_use"]


def test_a_bare_catalog_name_is_the_catalog_entry_everywhere(cli, hub, tmp_path, monkeypatch):
    """Review finding: MEMCLI_RERANKER=NAME reranked, but `models show` gave the name as its path and `models
    prepare` 'prepared' it without fetching anything."""
    from tests import tiny_reranker

    hub.files[f"{REPO}/rerank.gguf"] = tiny_reranker.write(tmp_path / "served.gguf").read_bytes()
    monkeypatch.setenv("MEMCLI_RERANKER", "test-reranker")
    shown = json.loads(cli("models", "show", "reranker", "--json").stdout)
    expected = tmp_path / "cache" / "models" / "hub" / REPO / "rerank.gguf"
    assert shown["path"] == str(expected) and shown["ready"] is False
    r = cli("models", "prepare", "reranker", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["reranker"] == str(expected) and expected.is_file()
    assert json.loads(cli("models", "show", "reranker", "--json").stdout)["ready"] is True
