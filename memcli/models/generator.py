"""The generator interface. Every call is bounded (max tokens and a wall-clock deadline), deterministic
(temperature 0) and guarded against repetition; a model that fails produces an empty result, not a crash."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .llama_load import crash_safe_params
from .stderr import quiet_stderr


class Generator(ABC):
    model_id: str

    @abstractmethod
    def complete(self, prompt: str, *, grammar: str | None = None, max_tokens: int = 160,
                 stop: list[str] | None = None, deadline_s: float = 60.0) -> str:
        """Plain-text continuation of `prompt`; `grammar` is GBNF constraining the output."""


class LlamaGenerator(Generator):
    def __init__(self, path: Path, *, model_id: str | None = None, n_ctx: int = 2048, threads: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"generator model not found: {path}")
        import llama_cpp

        try:
            # llama.cpp prints cache notes to fd 2 even with verbose=False; AMX CPUs crash on repacked weights
            with quiet_stderr(), crash_safe_params():
                self._llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx,
                                            n_threads=threads or min(os.cpu_count() or 2, 8), verbose=False)
        except Exception as exc:
            raise ModelError(f"cannot load generator model {path}: {exc}") from exc
        self._llama_cpp = llama_cpp
        self.path = path
        self.model_id = model_id or f"gguf:{path.stem}"
        self.n_ctx = n_ctx

    def fits(self, prompt: str, max_tokens: int) -> bool:
        return len(self._llm.tokenize(prompt.encode("utf-8", "replace"))) + max_tokens < self.n_ctx

    def complete(self, prompt: str, *, grammar: str | None = None, max_tokens: int = 160,
                 stop: list[str] | None = None, deadline_s: float = 60.0) -> str:
        deadline = time.monotonic() + deadline_s

        def out_of_time(_tokens, _logits) -> bool:
            return time.monotonic() > deadline

        kwargs: dict[str, Any] = {}
        if grammar:
            kwargs["grammar"] = self._llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
        try:
            result = self._llm.create_completion(
                prompt, temperature=0.0, max_tokens=max_tokens, stop=stop or [], repeat_penalty=1.15,
                stopping_criteria=self._llama_cpp.StoppingCriteriaList([out_of_time]), **kwargs)
        except Exception:  # a model that cannot continue this prompt degrades the step
            return ""
        finally:
            self._llm.reset()
        # llama_cpp types the result as a response or a stream, with no overload for stream=False
        return result["choices"][0]["text"]  # type: ignore[index]


def load_generator(spec: str | None = None, progress=None) -> Generator:
    """The default gemma-3-270m (assembled on first use), or a GGUF given by path, `hf:` spec or `catalog:NAME`."""
    if spec and spec not in ("default", "gemma-3-270m"):
        from . import catalog
        from .hub import resolve_spec

        entry = catalog.for_spec(spec)
        if entry is None:
            return LlamaGenerator(resolve_spec(spec, progress))
        if entry.role != "generator":
            raise ModelError(f"{entry.name} is a{'n' if entry.role == 'embedder' else ''} {entry.role} model, "
                             "not a generator")
        path = resolve_spec(entry.spec, progress)
        from .integrity import file_sha256

        return LlamaGenerator(path, model_id=catalog.model_id(entry, file_sha256(path)))
    from . import gemma

    path = gemma.prepare(progress)
    gemma.check(path)
    return LlamaGenerator(path, model_id=gemma.MODEL_ID)
