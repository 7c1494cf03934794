"""A plain numpy forward pass of all-MiniLM-L6-v2 from its safetensors: the known-good side of the
conversion check, independent of llama.cpp and of the GGUF writer."""

from __future__ import annotations

from math import erf, sqrt

import numpy as np

from memcli.models.safetensors_reader import read_safetensors

_erf = np.vectorize(erf)


def _layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _linear(x, t, prefix):
    return x @ t[prefix + ".weight"].astype(np.float64).T + t[prefix + ".bias"]


def forward(t: dict, token_ids, n_layers: int, n_heads: int) -> np.ndarray:
    """The last hidden states (one row per token) of a BERT encoder with HF tensor names `t` (float64)."""
    ids = np.asarray(token_ids)
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][: len(ids)]
    x = x + t["embeddings.token_type_embeddings.weight"][0]
    x = _layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    d = x.shape[1]
    dh = d // n_heads
    for i in range(n_layers):
        p = f"encoder.layer.{i}."
        q, k, v = (_linear(x, t, p + f"attention.self.{n}") for n in ("query", "key", "value"))
        split = lambda m: m.reshape(len(ids), n_heads, dh).transpose(1, 0, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        att = q @ k.transpose(0, 2, 1) / sqrt(dh)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(1, 0, 2).reshape(len(ids), d)
        x = _layer_norm(x + _linear(ctx, t, p + "attention.output.dense"),
                        t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"])
        h = _linear(x, t, p + "intermediate.dense")
        h = 0.5 * h * (1 + _erf(h / sqrt(2)))
        x = _layer_norm(x + _linear(h, t, p + "output.dense"),
                        t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"])
    return x


def embed(weights_dir, token_ids, n_layers=6, n_heads=12):
    """Mean-pooled, normalised sentence embedding (all-MiniLM-L6-v2)."""
    t = {k: np.asarray(v, dtype=np.float64) for k, v in read_safetensors(weights_dir / "model.safetensors").items()
         if not k.endswith("position_ids")}
    pooled = forward(t, token_ids, n_layers, n_heads).mean(0)
    return pooled / np.linalg.norm(pooled)


def rank(t: dict, token_ids, n_layers: int, n_heads: int) -> np.ndarray:
    """A cross-encoder's relevance logits: the [CLS] state through the classification head (dense, tanh, out),
    as RoBERTa/BERT sequence classifiers compute it."""
    cls = forward(t, token_ids, n_layers, n_heads)[0]
    h = np.tanh(_linear(cls, t, "cls"))
    return _linear(h, t, "cls.output")


def wordpiece(vocab_path, text, *, pair: str | None = None):
    """Reference BERT uncased WordPiece for plain ASCII text (lowercase, split punctuation, greedy longest match):
    [CLS] text [SEP], or [CLS] text [SEP] pair [SEP]. `vocab_path`: vocab.txt, or the token list itself."""
    tokens = vocab_path if isinstance(vocab_path, list) else vocab_path.read_text().splitlines()
    vocab = {tok: i for i, tok in enumerate(tokens)}
    ids = [vocab["[CLS]"]] + _pieces(vocab, text) + [vocab["[SEP]"]]
    if pair is not None:
        ids += _pieces(vocab, pair) + [vocab["[SEP]"]]
    return ids


def _pieces(vocab: dict, text: str) -> list[int]:
    import re

    ids = []
    for word in re.findall(r"\w+|[^\w\s]", text.lower()):
        start, pieces = 0, []
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    pieces.append(vocab[piece])
                    break
                end -= 1
            if end == start:
                pieces = [vocab["[UNK]"]]
                break
            start = end
        ids.extend(pieces)
    return ids
