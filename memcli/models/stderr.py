"""llama.cpp writes notes straight to file descriptor 2 even with verbose=False; they are noise in a CLI whose
stderr carries one-line errors and progress."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


@contextmanager
def quiet_stderr():
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. under a test runner)
        yield
        return
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
