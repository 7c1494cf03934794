"""Model specs: a local path, or 'hf:OWNER/REPO/FILE.gguf' fetched through huggingface_hub when the user has
network. huggingface_hub is optional: it is imported only for hf: specs."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from ..paths import cache_dir


def resolve_spec(spec: str, progress=None) -> Path:
    if not spec.startswith("hf:"):
        return Path(spec).expanduser()
    parts = spec[3:].split("/")
    if len(parts) < 3 or not parts[-1].endswith(".gguf"):
        raise ModelError(f"bad model spec {spec!r}: expected hf:OWNER/REPO/FILE.gguf")
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ModelError(f"{spec} needs huggingface_hub to download: pip install huggingface_hub") from exc
    if progress:
        progress(f"downloading {filename} from {repo}")
    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename, cache_dir=str(cache_dir() / "hub")))
    except Exception as exc:  # offline, unknown repo, HTTP errors: all one message for the user
        raise ModelError(f"cannot download {spec}: {exc.__class__.__name__}: {str(exc)[:200]}") from exc
