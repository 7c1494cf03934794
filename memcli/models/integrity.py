"""Model files are checked before they are used: a changed byte in an embedder silently changes every vector
(reported: 40 bytes changed gave vectors scoring 0.10-0.19 against the good model's, stored under the same id).

Hashing the 46 MB default embedder on every command would cost ~60 ms, so the full SHA-256 is computed once per
version of the file and remembered with the file's size, mtime and inode (a stamp in the cache dir); a command
then costs one stat(). A file changed in place gets a new mtime and is hashed again. What escapes the cheap check:
a change that also puts back the old mtime and inode — `memcli doctor` hashes the default models in full.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import ModelError


def _stamp(path: Path) -> Path:
    from ..paths import cache_dir

    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    return cache_dir() / "verified" / f"{key}.json"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed again only when its size, mtime or inode changed since the last time."""
    path = Path(path)
    st = path.stat()
    ident = {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}
    stamp = _stamp(path)
    try:
        saved = json.loads(stamp.read_text())
        if {k: saved.get(k) for k in ident} == ident and isinstance(saved.get("sha256"), str):
            return saved["sha256"]
    except (OSError, ValueError):
        pass
    digest = sha256_of(path)
    try:
        from ..paths import ensure_private_dir

        from ..files import write_atomic

        ensure_private_dir(stamp.parent)
        write_atomic(stamp, json.dumps({**ident, "sha256": digest}))
    except OSError:
        pass  # a read-only cache: hash again next time
    return digest


def check(path: Path, expected: str, what: str, fix: str) -> str:
    """The file's SHA-256 if it is `expected`, else a ModelError naming the fix."""
    digest = file_sha256(path)
    if digest != expected:
        raise ModelError(f"the {what} at {path} is damaged or was changed (SHA-256 {digest[:12]}…, expected "
                         f"{expected[:12]}…); {fix}")
    return digest
