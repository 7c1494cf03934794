"""Model files from the hub: `catalog:NAME` (memcli's curated list, models/catalog.py), `hf:OWNER/REPO/FILE.gguf`,
or a local path.

Downloads go through huggingface_hub (an optional dependency: `pip install 'memcli[hub]'`, imported only here and
only when something is fetched) into cache_dir()/models/hub/OWNER/REPO/FILE, with its progress bars on stderr and
its retries: a connection that drops mid-file is resumed with a Range request. ($HF_ENDPOINT points it at a mirror,
or at a test server; the hub's own token settings apply for gated repos.)

A downloaded file is used only once it matches the SHA-256 the hub reports for it (the LFS object id, sent as
X-Linked-Etag) and the catalog's pinned hash when there is one; a file that does not is deleted. The verified hash
is written beside the file, and every later load checks the file against it (models/integrity.py: a full hash once
per change of the file), without touching the network.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelError
from ..paths import cache_dir

INSTALL_HINT = "pip install 'memcli[hub]'"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

Progress = Callable[[str], None]


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise ModelError(f"downloading models needs huggingface_hub, which is not installed: {INSTALL_HINT}") from None
    return huggingface_hub


def parse_hf_spec(spec: str) -> tuple[str, str]:
    """'hf:OWNER/REPO/FILE.gguf' -> ('OWNER/REPO', 'FILE.gguf'); the file may sit in folders of the repo."""
    parts = spec[3:].split("/")
    if len(parts) < 3 or not parts[-1].endswith(".gguf") or not all(_NAME_PART.fullmatch(p) for p in parts):
        raise ModelError(f"bad model spec {spec!r}: expected hf:OWNER/REPO/FILE.gguf")
    return "/".join(parts[:2]), "/".join(parts[2:])


def pulled_path(repo: str, filename: str) -> Path:
    """Where a hub file lives once pulled (whether or not it is there)."""
    parts = [*repo.split("/"), *filename.split("/")]
    if not all(_NAME_PART.fullmatch(p) for p in parts):  # no '..', no absolute paths out of the cache
        raise ModelError(f"bad hub file name {repo}/{filename}")
    return cache_dir().joinpath("models", "hub", *parts)


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def verified_sha256(path: Path) -> str | None:
    """The SHA-256 the file was verified against when it was pulled, if it was and is still its size."""
    try:
        saved = json.loads(_stamp(path).read_text())
        if path.is_file() and path.stat().st_size == saved["size"] and _SHA256.fullmatch(saved["sha256"]):
            return str(saved["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def download(repo: str, filename: str, *, revision: str = "main", expected_sha256: str | None = None,
             progress: Progress | None = None, quiet: bool = False, force: bool = False,
             label: str | None = None) -> Path:
    """Fetch one file of a hub repo into memcli's cache and verify it; an already verified copy is kept (unless
    `force`) once the hub confirms it is still the file it serves."""
    from ..paths import ensure_private_dir, make_private
    from .integrity import file_sha256, sha256_of

    hub = _hub()
    path = pulled_path(repo, filename)
    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now: huggingface_hub reads it once, at import
    what = label or f"{repo}/{filename}"
    try:
        meta = hub.get_hf_file_metadata(hub.hf_hub_url(repo, filename, revision=revision, endpoint=endpoint))
    except Exception as exc:  # offline, unknown repo or file, gated repo without a token: one line for the user
        kept = verified_sha256(path)
        if kept and not force and expected_sha256 in (None, kept) and file_sha256(path) == kept:
            if progress:
                progress(f"cannot reach the hub ({exc.__class__.__name__}); keeping the verified copy at {path}")
            return path
        raise ModelError(f"cannot reach {what} on the hub: {_reason(exc)}") from exc
    hub_sha = meta.etag if meta.etag and _SHA256.fullmatch(meta.etag) else None
    if expected_sha256 and hub_sha and expected_sha256 != hub_sha:
        raise ModelError(f"the hub serves a different {what} (SHA-256 {hub_sha[:12]}…) than the one memcli's catalog "
                         f"pins ({expected_sha256[:12]}…); refusing it")
    expected = expected_sha256 or hub_sha
    if not expected:
        raise ModelError(f"the hub reports no SHA-256 for {what} (not an LFS file?), so it cannot be verified; "
                         "refusing it")
    if not force and verified_sha256(path) == expected and file_sha256(path) == expected:
        if progress:
            progress(f"{what} is already pulled and verified ({path})")
        return path
    # Downloaded beside, verified, then renamed over the old copy: a pull that fails half-way (the network, a
    # wrong checksum) leaves the working model as it was.
    staging = cache_dir().joinpath("models", "hub", ".staging", *repo.split("/"))
    (staging / filename).unlink(missing_ok=True)  # huggingface_hub would keep a stale staged copy as it is
    ensure_private_dir(path.parent)
    if progress:
        size = f" ({meta.size / 1e6:.1f} MB)" if meta.size else ""
        progress(f"downloading {what}{size} into {path.parent}")
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    silenced = (quiet or not sys.stderr.isatty()) and not are_progress_bars_disabled()
    if silenced:  # bars for a person watching; none under -q, in pipes and cron logs
        disable_progress_bars()
    try:
        got = Path(hub.hf_hub_download(repo_id=repo, filename=filename, revision=meta.commit_hash or revision,
                                       local_dir=str(staging), endpoint=endpoint))
    except Exception as exc:
        raise ModelError(f"downloading {what} failed: {_reason(exc)}") from exc
    finally:
        if silenced:
            enable_progress_bars()
    digest = sha256_of(got)
    if digest != expected:
        got.unlink(missing_ok=True)
        raise ModelError(f"the downloaded {what} does not match the hub's SHA-256 ({digest[:12]}…, expected "
                         f"{expected[:12]}…); deleted it (any earlier copy is kept): run the command again")
    _stamp(path).unlink(missing_ok=True)
    os.replace(got, path)
    file_sha256(path)  # remembered for the cheap check at load
    make_private(path)
    from ..files import write_atomic

    write_atomic(_stamp(path), json.dumps({"sha256": digest, "size": path.stat().st_size, "repo": repo,
                                           "filename": filename, "revision": meta.commit_hash or revision}) + "\n")
    return path


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:200]
    hint = ""
    if any(code in text for code in ("401", "403", "gated", "GatedRepo")):
        hint = " (a gated repo: accept its license on the hub, then log in with `hf auth login` or set HF_TOKEN)"
    return f"{exc.__class__.__name__}: {text}{hint}"


def ensure(repo: str, filename: str, *, revision: str = "main", expected_sha256: str | None = None,
           progress: Progress | None = None, fix: str = "", label: str | None = None) -> Path:
    """The verified local copy of a hub file, downloading it only when it is not pulled yet. A pulled file that
    changed since it was verified is refused (it is not silently fetched again)."""
    path = pulled_path(repo, filename)
    recorded = verified_sha256(path)
    if recorded is None:
        return download(repo, filename, revision=revision, expected_sha256=expected_sha256, progress=progress,
                        label=label)
    from .integrity import check

    check(path, recorded, "pulled model file", fix or f"fetch it again: memcli models pull --force, or delete {path}")
    return path


def resolve_spec(spec: str, progress: Progress | None = None) -> Path:
    """The local file a model spec stands for, fetching a hub file on first use."""
    from . import catalog

    spec = catalog.canonical(spec)
    if spec.startswith("catalog:"):
        entry = catalog.get(spec)
        return ensure(entry.repo, entry.filename, revision=entry.revision, expected_sha256=entry.sha256,
                      progress=progress, fix=f"fetch it again: memcli models pull {entry.name} --force",
                      label=entry.spec)
    if spec.startswith("hf:"):
        repo, filename = parse_hf_spec(spec)
        return ensure(repo, filename, progress=progress, label=spec)
    return Path(spec).expanduser()


def local_path(spec: str) -> Path | None:
    """Where a spec's file is (or would be, once pulled), without any download; None for a malformed spec."""
    from . import catalog

    spec = catalog.canonical(spec)
    try:
        if spec.startswith("catalog:"):
            entry = catalog.get(spec)
            return pulled_path(entry.repo, entry.filename)
        if spec.startswith("hf:"):
            return pulled_path(*parse_hf_spec(spec))
    except Exception:
        return None
    return Path(spec).expanduser()


def is_pulled(spec: str) -> bool:
    from . import catalog

    spec = catalog.canonical(spec)
    path = local_path(spec)
    if path is None:
        return False
    if spec.startswith(("catalog:", "hf:")):
        return verified_sha256(path) is not None
    return path.is_file()
