"""The real default embedder: the converted GGUF run by llama.cpp, checked against an independent reference."""

import numpy as np
import pytest

from memcli.models import minilm
from tests import bert_reference

SENTENCES = [
    "I moved to Lisbon in March and my cat is called Miso.",
    "The quarterly tax report is due next Friday!",
    "Unaffable gnomes rarely visit the lighthouse, said Professor O'Neil.",
]


def test_gguf_matches_numpy_reference_forward_pass(real_embedder):
    weights = minilm.locate_weights(lambda _m: None)
    for sentence in SENTENCES:
        ours = real_embedder._llm.tokenize(sentence.encode(), add_bos=True, special=False)
        ref_ids = bert_reference.wordpiece(weights / "vocab.txt", sentence)
        assert list(ours) == ref_ids, sentence  # same WordPiece ids, [CLS] ... [SEP]
        expected = bert_reference.embed(weights, ref_ids)
        got = real_embedder.embed_query(sentence)
        assert float(np.dot(expected, got)) > 0.999, sentence


def test_vectors_are_normalised_deterministic_and_semantic(real_embedder):
    texts = ["I relocated to Lisbon this spring", "This spring I moved to Lisbon",
             "The invoice total was 40 euros", "Bananas are rich in potassium"]
    vecs = np.stack([v[0] for v in real_embedder.embed_chunks(texts)])
    assert vecs.shape == (4, 384) and real_embedder.dimension == 384
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > 0.8
    assert sims[0, 1] > sims[0, 2] + 0.4 and sims[0, 1] > sims[0, 3] + 0.4
    # Alone or in a batch, the same text gets the same vector (llama.cpp batching moves only float rounding).
    again = real_embedder.embed_chunks(texts[:1])[0][0]
    assert float(np.dot(again, vecs[0])) > 0.99999


def test_long_text_is_split_into_windows_not_cut(real_embedder):
    words = [f"item{i}" for i in range(600)] + ["zanzibar"]
    text = " ".join(words)
    chunks = real_embedder.chunk(text)
    assert len(chunks) > 1
    assert all(len(real_embedder._tokens(c)) <= real_embedder.window for c in chunks)
    assert "zanzibar" in chunks[-1] and "item0" in chunks[0]
    vecs = real_embedder.embed_chunks([text])[0]
    assert vecs.shape == (len(chunks), 384)


def test_short_and_long_texts_get_the_vectors_one_full_size_context_gives(real_embedder):
    """With smaller contexts (each text in the smallest it fits: 64, 128 or 256 tokens), texts mixed in one batch
    must get the vector the default single 256-token context gives them; and flash attention (the default) the
    vectors of plain attention."""
    from memcli.models.embedder import LlamaEmbedder

    assert real_embedder.sizes == [256] and real_embedder.flash_attn
    several = LlamaEmbedder(real_embedder.path, contexts=(64, 128))
    plain = LlamaEmbedder(real_embedder.path, flash_attn=False)
    sentence = "We walked along the river and talked about the garden, the bikes and the weather."
    texts = [SENTENCES[0], " ".join([sentence] * 8), " ".join([sentence] * 4), SENTENCES[1]]
    lengths = [len(real_embedder._tokens(t)) for t in texts]
    assert lengths[0] <= 62 and 62 < lengths[2] <= 126 < lengths[1] <= real_embedder.window
    want = np.stack([v[0] for v in real_embedder.embed_chunks(texts)])
    for other in (several, plain):  # flash attention rounds differently: within 5e-4, cosine 0.9999 and more
        got = np.stack([v[0] for v in other.embed_chunks(texts)])
        assert np.allclose(got, want, atol=5e-4) and (np.einsum("ij,ij->i", got, want) > 0.9999).all()
    assert sorted(several._contexts) == [64, 128, 256]


def test_prepared_model_is_verified_and_corruption_is_detected(tmp_path, monkeypatch, real_embedder):
    path = minilm.gguf_path()
    assert minilm.is_prepared(path) and minilm.verify(path)
    # A copy with one flipped byte fails the full check.
    bad = tmp_path / "copy.gguf"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "copy.sha256").write_text(minilm._stamp_path(path).read_text())
    assert minilm.is_prepared(bad) and not minilm.verify(bad)
    bad.write_bytes(bytes(data[:1000]))
    assert not minilm.is_prepared(bad)


def test_conversion_reruns_when_cached_model_is_missing(tmp_path, monkeypatch, real_embedder):
    monkeypatch.setenv("MEMCLI_CACHE_DIR", str(tmp_path / "cache"))
    weights = minilm.locate_weights(lambda _m: None)  # local copy: no download in this test
    monkeypatch.setenv(minilm.ENV_WEIGHTS, str(weights))
    messages = []
    path = minilm.prepare(messages.append)
    assert path.is_file() and minilm.verify(path) and any("converting" in m for m in messages)
    path.write_bytes(b"GGUF truncated")
    assert not minilm.is_prepared(path)
    path = minilm.prepare(messages.append)
    assert minilm.verify(path)


def test_wrong_weights_are_refused(tmp_path, monkeypatch):
    fake = tmp_path / "fake"
    (fake / "1_Pooling").mkdir(parents=True)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "1_Pooling/config.json"):
        (fake / name).write_text("{}")
    monkeypatch.setenv(minilm.ENV_WEIGHTS, str(fake))
    with pytest.raises(Exception, match="SHA-256"):
        minilm.locate_weights(lambda _m: None)


def test_a_damaged_tokenizer_beside_good_weights_is_refused_by_name(tmp_path, monkeypatch, real_embedder):
    import shutil

    good = minilm.locate_weights(lambda _m: None)
    copy = tmp_path / "weights"
    shutil.copytree(good, copy)
    tok = copy / "tokenizer.json"
    tok.write_bytes(tok.read_bytes()[:1000])  # truncated: the weights alone still pass their check
    monkeypatch.setenv(minilm.ENV_WEIGHTS, str(copy))
    with pytest.raises(Exception, match="tokenizer.json .*SHA-256"):
        minilm.locate_weights(lambda _m: None)


def test_a_build_that_refuses_flash_attention_embeds_with_plain_attention(real_embedder, monkeypatch):
    import llama_cpp

    from memcli.models.embedder import LlamaEmbedder

    real = llama_cpp.Llama

    def refusing(*args, **kwargs):
        if kwargs.get("flash_attn"):
            raise ValueError("flash attention is not supported")
        return real(*args, **kwargs)

    monkeypatch.setattr(llama_cpp, "Llama", refusing)
    plain = LlamaEmbedder(real_embedder.path)
    assert not plain.flash_attn
    got = plain.embed_chunks([SENTENCES[0]])[0][0]
    assert float(got @ real_embedder.embed_chunks([SENTENCES[0]])[0][0]) > 0.9999
