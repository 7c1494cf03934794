"""Loading a GGUF with llama.cpp so that it runs on every CPU it compiles for.

llama-cpp-python builds llama.cpp for the machine it is installed on. On a CPU with AMX (Intel Xeon, 4th
generation on), that build moves quantized weights into AMX "extra buffers" at load time, and llama.cpp 0.3.36's
AMX matrix product then crashes the process (SIGSEGV in ggml_backend_amx_mul_mat: seen here with gemma-3 Q4_K_M,
on every completion). Loading without extra buffers keeps those weights on the ordinary AVX-512 path. The model
parameters come from llama_cpp's own defaults function, which the high-level Llama class calls without a hook, so
the flag is set by swapping that function for the duration of the load.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def has_amx(low) -> bool:
    return "AMX_INT8 = 1" in low.llama_print_system_info().decode(errors="replace")


@contextmanager
def crash_safe_params() -> Iterator[None]:
    """Inside: llama_cpp.Llama loads without AMX extra buffers where this build has AMX; elsewhere unchanged."""
    import llama_cpp.llama_cpp as low

    if not has_amx(low):
        yield
        return
    defaults = low.llama_model_default_params

    def without_extra_buffers():
        params = defaults()
        params.use_extra_bufts = False
        return params

    low.llama_model_default_params = without_extra_buffers
    try:
        yield
    finally:
        low.llama_model_default_params = defaults
