"""Convert a sentence-transformers BERT checkpoint (safetensors + tokenizer.json) to a GGUF llama.cpp can embed with.

Torch-free on purpose: the default embedder must install from PyPI on a laptop without pulling in torch.
What llama.cpp insists on is listed in ../shared/FACTS.md; each requirement is commented where it is met.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

# Tensors llama.cpp's BERT graph does not use.
_SKIP_PREFIXES = ("embeddings.position_ids", "pooler.", "cls.")
# Kept in F32 even in an F16 file: small, and precision matters at the input of the network.
_KEEP_F32 = ("embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight")


def _phantom(token: str) -> str:
    """WordPiece -> llama.cpp's "phantom space" form: drop '##' on continuations, mark word starts with U+2581."""
    if token.startswith("[") and token.endswith("]"):
        return token
    if token.startswith("##"):
        return token[2:]
    return "\u2581" + token


def convert_bert_to_gguf(model_dir: Path, out_path: Path, *, name: str = "all-MiniLM-L6-v2",
                         head: dict[str, np.ndarray] | None = None) -> Path:
    """Write `out_path` atomically (temp file + rename) so an interrupted conversion never leaves a bad model.
    `head`: a classification head (HF names cls.weight, cls.bias, cls.output.weight, cls.output.bias) to add,
    making a rank-pooling cross-encoder of the same size (bench/rerank.py times one)."""
    import gguf

    from .safetensors_reader import read_safetensors

    config = json.loads((model_dir / "config.json").read_text())
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    pooling_file = model_dir / "1_Pooling" / "config.json"
    pooling = json.loads(pooling_file.read_text()) if pooling_file.exists() else {"pooling_mode_mean_tokens": True}
    if tok["model"]["type"] != "WordPiece":
        raise ValueError(f"{model_dir}: tokenizer is {tok['model']['type']}, expected WordPiece (BERT)")

    vocab: dict[str, int] = tok["model"]["vocab"]
    tokens = [""] * len(vocab)
    for text, idx in vocab.items():
        tokens[idx] = text
    special = {a["id"] for a in tok.get("added_tokens", []) if a.get("special")}
    toktypes = [gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tokens))]

    n_layers = int(config["num_hidden_layers"])
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_layers)
    arch = gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT]

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + f".tmp{os.getpid()}")
    writer = gguf.GGUFWriter(str(tmp), arch)
    try:
        writer.add_name(name)
        writer.add_context_length(int(config["max_position_embeddings"]))
        writer.add_embedding_length(int(config["hidden_size"]))
        writer.add_feed_forward_length(int(config["intermediate_size"]))
        writer.add_block_count(n_layers)
        writer.add_head_count(int(config["num_attention_heads"]))
        writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
        writer.add_causal_attention(False)
        # MEAN pooling, else llama.cpp's embed() returns one vector per token.
        if head is not None:
            writer.add_pooling_type(gguf.PoolingType.RANK)
        elif pooling.get("pooling_mode_cls_token"):
            writer.add_pooling_type(gguf.PoolingType.CLS)
        else:
            writer.add_pooling_type(gguf.PoolingType.MEAN)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        writer.add_token_type_count(int(config.get("type_vocab_size", 2)))
        writer.add_tokenizer_model("bert")
        writer.add_token_list([_phantom(t) for t in tokens])
        writer.add_token_types(toktypes)

        for hf_name, array in read_safetensors(model_dir / "model.safetensors").items():
            if hf_name.startswith(_SKIP_PREFIXES) or hf_name.startswith(tuple("bert." + p for p in _SKIP_PREFIXES)):
                continue
            new_name = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
            if new_name is None:
                raise ValueError(f"{model_dir}: cannot map tensor {hf_name!r} to a GGUF name")
            data = np.asarray(array, dtype=np.float32)
            if data.ndim > 1 and not hf_name.endswith(_KEEP_F32):
                data = data.astype(np.float16)
            writer.add_tensor(new_name, data)
        for hf_name, array in (head or {}).items():
            kind = gguf.MODEL_TENSOR.CLS_OUT if hf_name.startswith("cls.output.") else gguf.MODEL_TENSOR.CLS
            writer.add_tensor(f"{gguf.TENSOR_NAMES[kind]}.{hf_name.rsplit('.', 1)[1]}",
                              np.asarray(array, dtype=np.float32))

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, out_path)
    return out_path
