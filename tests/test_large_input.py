"""Inputs too large to hold in memory: spooled, checked whole, stored in parts that a rerun resumes."""

from __future__ import annotations

import io
import json
import random
import tracemalloc

import pytest

from memcli.core import Memory, RawInput
from memcli.errors import InputError
from memcli.ingest import stream
from memcli.ingest.parse import MAX_MESSAGE_CHARS, Message, iter_chat, parse, split_long
from memcli.ingest.stream import Spool, read_input
from memcli.models.hashing import HashEmbedder


def _paragraphs(n: int, seed: int = 7, words_per: tuple[int, int] = (5, 80)) -> list[str]:
    rng = random.Random(seed)
    words = "lisbon cat dentist trip coffee project deadline sister garden book train river".split()
    suffixes = ["", "s", "ed", "ing", "er", "ly", "ness", "ful"]
    return [" ".join(rng.choice(words) + rng.choice(suffixes) for _ in range(rng.randint(*words_per)))
            for _ in range(n)]


def _spool(data: bytes, origin: str = "stdin") -> Spool:
    spooled = read_input(io.BytesIO(data), origin, small=1024)
    assert isinstance(spooled, Spool)
    return spooled


def test_small_input_stays_in_memory_and_large_input_is_spooled():
    assert read_input(io.BytesIO(b"short note"), "stdin") == b"short note"
    spooled = _spool(b"x" * 5000)
    assert spooled.size == 5000 and spooled.read_range(10, 20) == "x" * 10


def test_large_input_is_stored_in_parts_and_an_interrupted_ingest_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "PART_MESSAGES", 40)
    paras = _paragraphs(230)
    data = ("\n\n".join(paras) + "\n").encode()
    db = tmp_path / "m.db"

    def interrupt(done, total):
        if done >= 100:  # inside the third part: parts 1 and 2 are committed, part 3 is not
            raise KeyboardInterrupt

    with Memory(db, embedder=HashEmbedder()) as mem:
        with pytest.raises(KeyboardInterrupt):
            mem.remember([RawInput("stdin", _spool(data))], progress=interrupt)
        assert mem.stats()["memories"] == 80 and mem.stats()["sources"] == 2

    with Memory(db, embedder=HashEmbedder()) as mem:
        result = mem.remember([RawInput("stdin", _spool(data))])
        assert len(result.skipped_sources) == 2 and len(result.created) == 150 and len(result.existing) == 80
        assert mem.stats()["memories"] == 230 and mem.stats()["sources"] == 6
        texts = [mem.store.memories.row(i)["text"] for i in range(1, 231)]
        assert sorted(texts) == sorted(paras)  # every paragraph exactly once, none cut at a part boundary
        raw = "".join(r[0] for r in mem.store.conn.execute("SELECT raw FROM sources ORDER BY id"))
        assert raw.encode() == data  # the parts' verbatim text is the input, byte for byte
        assert mem.audit_verify()["ok"]


def test_parts_are_parsed_like_the_whole_input(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "PART_MESSAGES", 7)
    lines = [f"[2024-05-{1 + i % 28:02d}T10:00:00] {'Ana' if i % 2 else 'Bo'}: message {i}" for i in range(50)]
    lines[10] += "\n  a continuation line"
    chat = "\r\n".join(lines) + "\r\n"
    _, whole = parse(chat, "chat", "x")
    parts = list(stream.iter_parts(_spool(chat.encode()), iter_chat))
    assert len(parts) == 8
    assert [m for _, _, msgs in parts for m in msgs] == whole
    assert stream.stream_format(_spool(chat.encode()), "auto") == "chat"


def test_bad_bytes_or_a_bad_line_late_in_a_large_input_store_nothing(tmp_path):
    good = ("\n".join(json.dumps({"id": i, "text": p}) for i, p in enumerate(_paragraphs(300)))).encode()
    with pytest.raises(InputError, match=rf"not valid UTF-8 \(byte offset {len(good) + 1}\)"):
        _spool(good + b"\n\xff\xfe")
    with pytest.raises(InputError, match=rf"NUL byte at offset {len(good)}"):
        _spool(good + b"\x00")
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        with pytest.raises(InputError, match=r"stdin:301: invalid JSON"):
            mem.remember([RawInput("stdin", _spool(good + b'\n{"text": "unterminated'))])
        assert mem.stats()["memories"] == 0 and mem.stats()["sources"] == 0
    with pytest.raises(InputError, match="empty"):
        _spool(b" \n" * 3000)


def test_a_large_json_document_is_read_whole_up_to_a_limit(tmp_path, monkeypatch):
    doc = json.dumps([{"role": "user", "content": p} for p in _paragraphs(60)]).encode()
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        assert len(mem.remember([RawInput("stdin", _spool(doc))]).created) == 60
        monkeypatch.setattr(stream, "WHOLE_LIMIT", 1000)
        with pytest.raises(InputError, match="cannot be streamed; use JSON Lines"):
            mem.remember([RawInput("stdin", _spool(doc))], scope="other")


def _ingest_peak(db, data: bytes) -> int:
    spooled = _spool(data)
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.store  # open the database before measuring
        tracemalloc.start()
        try:
            mem.remember([RawInput("stdin", spooled)])
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_spooled_ingest_memory_does_not_grow_with_the_input(tmp_path, monkeypatch):
    """Reading the input whole would cost at least its size twice over (bytes and str); spooled ingest grows by
    a few ints per message (the ids it reports) and otherwise holds one part at a time."""
    monkeypatch.setattr(stream, "PART_MESSAGES", 200)
    small = ("\n\n".join(_paragraphs(600, seed=3, words_per=(40, 200)))).encode()
    large = ("\n\n".join(_paragraphs(2400, seed=3, words_per=(40, 200)))).encode()
    growth = _ingest_peak(tmp_path / "large.db", large) - _ingest_peak(tmp_path / "small.db", small)
    assert growth < 0.3 * (len(large) - len(small)), f"peak grew {growth} bytes for {len(large) - len(small)}"


def test_a_very_long_line_becomes_consecutive_pieces():
    rng = random.Random(5)
    text = " ".join(f"w{rng.randrange(10**5)}" for _ in range(40_000))  # ~270 kB, one line
    pieces = split_long(Message(text=text, speaker="Ana", external_id="m1"))
    assert len(pieces) == len(text) // MAX_MESSAGE_CHARS + 1
    assert all(len(p.text) <= MAX_MESSAGE_CHARS and p.speaker == "Ana" and p.external_id == "m1" for p in pieces)
    assert " ".join(p.text for p in pieces).split() == text.split()
    unbroken = "x" * (MAX_MESSAGE_CHARS * 2 + 5)  # no whitespace: cut hard, nothing lost
    assert "".join(p.text for p in split_long(Message(text=unbroken))) == unbroken


def test_cli_streams_a_large_single_line_from_stdin(tmp_path):
    from typer.testing import CliRunner

    from memcli.cli.app import app

    rng = random.Random(9)
    line = " ".join(f"token{rng.randrange(10**6)}" for _ in range(720_000)) + " needle-in-the-haystack"
    assert len(line) > stream.SMALL_INPUT  # takes the spooled path
    args = ["--db", str(tmp_path / "m.db"), "--embedder", "hash"]
    r = CliRunner().invoke(app, [*args, "remember", "--json", "-"], input=line)
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout)["created"]
    pieces = len(line) // MAX_MESSAGE_CHARS + 1
    assert pieces <= len(created) <= pieces + len(line) // stream.LINE_PIECE + 1  # read in 1 MB pieces
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        texts = [mem.store.memories.row(i)["text"] for i in created]
    assert max(map(len, texts)) <= MAX_MESSAGE_CHARS
    assert " ".join(texts).split() == line.split()  # every word once, in order, none cut in two
    hits = json.loads(CliRunner().invoke(app, [*args, "recall", "needle-in-the-haystack", "--json"]).stdout)
    assert hits[0]["id"] == created[-1]
    again = json.loads(CliRunner().invoke(app, [*args, "remember", "--json", "-"], input=line).stdout)
    assert again["created"] == [] and len(again["existing"]) == len(created)


def test_long_lines_are_read_in_pieces_without_splitting_a_character():
    line = "é€" * (stream.LINE_PIECE // 2) + "\n" + "tail\n"  # ~2.5 MB, no spaces, multi-byte characters
    pieces = list(stream._lines(_spool(line.encode())))
    assert len(pieces) > 2 and {p[0] for p in pieces} == {1, 2}
    assert "".join(p[2] for p in pieces if p[0] == 1) == line.split("\n")[0]


def test_a_time_stated_once_carries_across_parts_as_in_one_piece(tmp_path, monkeypatch):
    """A transcript with one dated line: every later turn inherits that time, also in later parts (they were
    dated 'now' or --at from the second part on)."""
    monkeypatch.setattr(stream, "PART_MESSAGES", 3)
    lines = ["[2020-01-01 10:00] Ana: the first turn says when"] + \
            [f"{'Bo' if i % 2 else 'Ana'}: later turn {i} about the garden" + " and the river" * 12 for i in range(1, 10)]
    data = ("\n".join(lines) + "\n").encode()
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("stdin", _spool(data))], fmt="chat", at="2022-02-02")
        days = {mem.store.memories.row(i)["occurred_at"][:10] for i in range(1, 11)}
    assert days == {"2020-01-01"}


def test_json_lines_whose_first_line_is_longer_than_the_head_are_recognised(tmp_path):
    first = json.dumps({"speaker": "Ana", "text": "long " * 20_000})  # ~100 KB: longer than the 64 KB head
    data = (first + "\n" + json.dumps({"speaker": "Bo", "text": "short reply"}) + "\n").encode()
    spooled = _spool(data)
    assert stream.stream_format(spooled, "auto") == "jsonl"
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        assert len(mem.remember([RawInput("stdin", spooled)]).created) >= 2


def test_a_chat_line_read_in_pieces_keeps_its_speaker_and_text(monkeypatch):
    """A piece of a long line that happens to start with 'Note: ...' is still Ana's text, joined as written."""
    monkeypatch.setattr(stream, "LINE_PIECE", 64)
    filler = "and so on " * 5
    chat = (f"[2024-05-01T10:00:00] Ana: {filler}{'x' * 3} Note: the meeting moved to Friday {filler}end\n"
            "[2024-05-01T10:01:00] Bo: ok\n")
    _, whole = parse(chat, "chat", "x")
    streamed = [m for _, _, msgs in stream.iter_parts(_spool(chat.encode() + b"\n" * 1100), iter_chat) for m in msgs]
    assert [(m.speaker, m.text) for m in streamed] == [(m.speaker, m.text) for m in whole]
    assert [m.speaker for m in streamed] == ["Ana", "Bo"]
