"""A deterministic bag-of-words embedder with no model: for tests of ranking logic and for stress runs that
exercise SQLite rather than llama.cpp. Not for real recall."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from .embedder import Embedder


class HashEmbedder(Embedder):
    model_id = "test-hash-64"
    dimension = 64

    def _embed_batch(self, texts):
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[i, h % self.dimension] += 1.0 if (h >> 8) % 2 else -1.0
            out[i, 0] += 0.01  # never the zero vector
        return out
