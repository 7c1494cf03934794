"""A tiny BERT cross-encoder GGUF with random weights, written by the tests: no reranker ships on PyPI, so the
rank-pooling path is checked against this file and an independent numpy forward pass (bert_reference.rank)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = ("where", "does", "ana", "live", "she", "moved", "to", "lisbon", "in", "may", "bo", "likes", "jazz",
         "and", "coffee", "the", "cat", "sat", "on", "mat", "what", "is", "favourite", "music", "?", ".", ",", "!")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *LETTERS, *("##" + c for c in LETTERS)]
HIDDEN, HEADS, LAYERS, FFN, POSITIONS = 32, 4, 2, 64, 128


def weights(seed: int = 0, outputs: int = 1) -> dict[str, np.ndarray]:
    """HF-named float32 tensors of the tiny model, classification head (with `outputs` outputs) included."""
    rng = np.random.default_rng(seed)

    def w(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    t = {"embeddings.word_embeddings.weight": w(len(VOCAB), HIDDEN, scale=1.0),
         "embeddings.position_embeddings.weight": w(POSITIONS, HIDDEN, scale=0.5),
         "embeddings.token_type_embeddings.weight": w(2, HIDDEN, scale=0.5),
         "embeddings.LayerNorm.weight": 1 + w(HIDDEN, scale=0.1), "embeddings.LayerNorm.bias": w(HIDDEN, scale=0.1)}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t[p + name + ".weight"], t[p + name + ".bias"] = w(HIDDEN, HIDDEN), w(HIDDEN, scale=0.05)
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = w(FFN, HIDDEN), w(FFN, scale=0.05)
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = w(HIDDEN, FFN), w(HIDDEN, scale=0.05)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + norm + ".weight"], t[p + norm + ".bias"] = 1 + w(HIDDEN, scale=0.1), w(HIDDEN, scale=0.1)
    t["cls.weight"], t["cls.bias"] = w(HIDDEN, HIDDEN, scale=0.5), w(HIDDEN, scale=0.1)
    t["cls.output.weight"], t["cls.output.bias"] = w(outputs, HIDDEN, scale=1.0), w(outputs, scale=0.1)
    return t


def write(path: Path, seed: int = 0, *, pooling: str = "rank", head: bool = True, template: str | None = None,
          outputs: int = 1, output_layer: bool = True, out_bias: float | None = None) -> Path:
    """The GGUF llama.cpp loads as a reranker (`pooling='rank'`); `head=False` leaves out the classifier;
    `template`: a rerank prompt template ({query}, {document}), as Qwen3-Reranker's GGUF carries one;
    `outputs`: the head's outputs; `output_layer=False`: only its dense layer; `out_bias`: that bias's value (nan)."""
    import gguf

    from memcli.models.bert_gguf import _phantom

    arch = gguf.MODEL_ARCH.BERT
    tmap = gguf.get_tensor_name_map(arch, LAYERS)
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name("tiny-reranker")
    writer.add_context_length(POSITIONS)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_block_count(LAYERS)
    writer.add_head_count(HEADS)
    writer.add_layer_norm_eps(1e-12)
    writer.add_causal_attention(False)
    writer.add_pooling_type(getattr(gguf.PoolingType, pooling.upper()))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_token_type_count(2)
    writer.add_tokenizer_model("bert")
    writer.add_token_list([_phantom(t) for t in VOCAB])
    writer.add_token_types([gguf.TokenType.CONTROL if t.startswith("[") else gguf.TokenType.NORMAL for t in VOCAB])
    for name, idx in (("pad", 0), ("unk", 1), ("bos", 2), ("sep", 3), ("mask", 4)):
        getattr(writer, f"add_{name}_token_id")(idx)
    if head:
        writer.add_classifier_output_labels(["relevant"] if outputs == 1 else ["irrelevant", "relevant"])
    if template is not None:
        writer.add_string("tokenizer.chat_template.rerank", template)
    tensors = weights(seed, outputs)
    if out_bias is not None:
        tensors["cls.output.bias"][:] = out_bias
    for hf_name, array in tensors.items():
        if hf_name.startswith("cls"):
            if not head or (hf_name.startswith("cls.output.") and not output_layer):
                continue
            kind = gguf.MODEL_TENSOR.CLS_OUT if hf_name.startswith("cls.output.") else gguf.MODEL_TENSOR.CLS
            new_name = f"{gguf.TENSOR_NAMES[kind]}.{hf_name.rsplit('.', 1)[1]}"
        else:
            new_name = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        writer.add_tensor(new_name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
