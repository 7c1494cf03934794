"""Inputs too large to hold in memory: spooled to a private temporary file, checked whole, then stored in parts.

Why parts: a 200 MB transcript takes hours to embed on a laptop. Holding the write lock (or the whole input)
for hours is worse than committing in parts: each part is one transaction (all or nothing), and rerunning the
same input skips the parts already stored (each part is a source with its own content hash), so an interrupted
ingest resumes without duplicates. Everything is validated (UTF-8, NUL bytes, every line parsed) before the
first part is written, so bad input anywhere stores nothing.

A zip archive (a ChatGPT or Claude.ai data export) is unpacked first (unzip): only the files that hold
conversations, through the same checks, bounded in size and member count so a zip bomb is refused.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import InputError
from .parse import ZIP_MAGIC, Message, detect, split_long

SMALL_INPUT = 8 * 1024 * 1024  # up to this, inputs are read whole and stored in one transaction
# formats that cannot be streamed (one JSON document, plugin formats) are parsed whole: Python's objects take
# ~5-25x the text, so this bounds the memory a single input can take
WHOLE_LIMIT = 256 * 1024 * 1024
PART_MESSAGES = 1000
PART_CHARS = 4 * 1024 * 1024
HEAD_BYTES = 64 * 1024
LINE_PIECE = 1024 * 1024  # text and chat lines longer than this are read in pieces (a JSON line must be whole)
_BLOCK = 1024 * 1024
ZIP_MAX_BYTES = WHOLE_LIMIT  # unpacked, all members read together
ZIP_MAX_MEMBERS = 100_000  # entries in the archive's directory (an export with images has thousands)
ZIP_MAX_RATIO = 200  # unpacked / packed bytes of a member: chat JSON packs 5-20x; a zip bomb packs 1000x


@dataclass
class Spool:
    """A large input on a seekable file, already checked to be non-empty UTF-8 without NUL bytes."""

    origin: str
    file: BinaryIO
    size: int
    sha256: str

    def head(self) -> str:
        self.file.seek(0)
        data = self.file.read(HEAD_BYTES)
        text = data.decode("utf-8", errors="ignore").removeprefix("\ufeff")
        return text if len(data) < HEAD_BYTES else text.rsplit("\n", 1)[0]

    def read_range(self, start: int, end: int) -> str:
        """Positioned read (os.pread): must not move the file offset that iter_parts is reading from."""
        chunks, pos = [], start
        while pos < end:
            block = os.pread(self.file.fileno(), min(end - pos, _BLOCK * 8), pos)
            if not block:
                break
            chunks.append(block)
            pos += len(block)
        return b"".join(chunks).decode("utf-8").removeprefix("\ufeff")

    def read_all(self) -> bytes:
        if self.size > WHOLE_LIMIT:
            raise InputError(f"{self.origin}: larger than {WHOLE_LIMIT // (1024 * 1024)} MB in a format that "
                             "cannot be streamed; use JSON Lines, chat or plain text")
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()


class _Checker:
    """Incremental checks over the raw bytes: NUL, strict UTF-8 (with the byte offset of the first error),
    emptiness, and the content hash."""

    def __init__(self, origin: str):
        self.origin = origin
        self.size = 0
        self.sha = hashlib.sha256()
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.blank = True

    def feed(self, block: bytes, final: bool = False) -> None:
        nul = block.find(b"\x00")
        if nul >= 0:
            raise InputError(f"{self.origin}: input looks binary (NUL byte at offset {self.size + nul}); "
                             "nothing stored")
        try:
            pending = len(self.decoder.getstate()[0])
            text = self.decoder.decode(block, final)
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.origin}: input is not valid UTF-8 (byte offset "
                             f"{self.size - pending + exc.start}); nothing stored") from None
        if self.blank and text.strip().removeprefix("\ufeff").strip():
            self.blank = False
        self.sha.update(block)
        self.size += len(block)

    def finish(self) -> None:
        self.feed(b"", final=True)
        if self.blank:
            raise InputError(f"{self.origin}: input is empty; nothing to remember")


def read_input(stream: BinaryIO, origin: str, *, small: int = SMALL_INPUT) -> bytes | Spool:
    """Small input as bytes; larger input spooled to an unlinked owner-only temporary file (checked as it goes),
    so memory stays bounded however much is piped in."""
    buf = bytearray()
    while len(buf) <= small:
        block = stream.read(_BLOCK)
        if not block:
            return bytes(buf)
        buf += block
        if buf[:4] == ZIP_MAGIC:
            return _stdin_zip(buf, stream, origin, small)
    checker = _Checker(origin)
    spool = tempfile.TemporaryFile(prefix="memcli-")  # mode 0600, no name on disk
    try:
        checker.feed(bytes(buf))
        spool.write(buf)
        del buf
        while block := stream.read(_BLOCK):
            checker.feed(block)
            spool.write(block)
        checker.finish()
    except OSError as exc:
        spool.close()
        raise InputError(f"{origin}: cannot spool input to a temporary file: {exc.strerror}") from None
    except BaseException:
        spool.close()
        raise
    return Spool(origin, spool, checker.size, checker.sha.hexdigest())


def open_file(path, *, small: int = SMALL_INPUT) -> bytes | Spool:
    """A file's bytes, or for a large file a Spool over the file itself (checked in one pass, not copied)."""
    try:
        size = path.stat().st_size
        fh = open(path, "rb")
        if fh.read(4) == ZIP_MAGIC:  # a zip of any size is unpacked through the same checks
            with fh:
                return unzip(fh, str(path), small)
        if size <= small:
            with fh:
                fh.seek(0)
                return fh.read()
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    checker = _Checker(str(path))
    try:
        fh.seek(0)
        while block := fh.read(_BLOCK):
            checker.feed(block)
        checker.finish()
    except BaseException:
        fh.close()
        raise
    return Spool(str(path), fh, checker.size, checker.sha.hexdigest())


def stream_format(spool: Spool, fmt: str, importers: dict | None = None) -> str:
    """`importers` (name -> parse function, built-ins and plugins): their detectors are asked first (parse.detect)."""
    return detect(spool.head(), spool.origin, importers, complete=False) if fmt == "auto" else fmt


def _zip_members(zf, origin: str) -> list:
    """The members that hold conversations: the archive's conversations.json (a ChatGPT or Claude.ai export),
    else its .jsonl files in name order (Claude Code session logs), else its only file."""
    import posixpath

    infos = zf.infolist()
    if len(infos) > ZIP_MAX_MEMBERS:
        raise InputError(f"{origin}: zip archive has more than {ZIP_MAX_MEMBERS:,} entries; nothing stored")
    files = [i for i in infos if not i.is_dir()
             and not any(part.startswith(".") or part == "__MACOSX" for part in i.filename.split("/"))]
    conversations = [i for i in files if posixpath.basename(i.filename) == "conversations.json"]
    if len(conversations) > 1:
        raise InputError(f"{origin}: zip archive holds {len(conversations)} conversations.json files; unzip it and "
                         "remember them one at a time")
    chosen = conversations or sorted((i for i in files if i.filename.endswith(".jsonl")), key=lambda i: i.filename)
    if not chosen and len(files) == 1:
        chosen = files
    if not chosen:
        raise InputError(f"{origin}: zip archive holds no conversations.json, no .jsonl file and not a single file "
                         f"({len(files)} files); unzip it and remember the files you want")
    return chosen


def _unzip_into(fileobj: BinaryIO, origin: str, write) -> None:
    """Write the chosen members' bytes (a newline between two members) to `write`, refusing more than
    ZIP_MAX_BYTES in all whatever the archive's directory claims."""
    import zipfile

    total = 0
    try:
        with zipfile.ZipFile(fileobj) as zf:
            for k, info in enumerate(_zip_members(zf, origin)):
                if k:
                    write(b"\n")
                allowed = max(ZIP_MAX_RATIO * info.compress_size, 1 << 20)
                unpacked = 0
                with zf.open(info) as member:
                    while block := member.read(_BLOCK):
                        total += len(block)
                        unpacked += len(block)
                        if unpacked > allowed:
                            raise InputError(f"{origin}: {info.filename} unpacks to more than {ZIP_MAX_RATIO} times "
                                             "its packed size (a zip bomb?); nothing stored")
                        if total > ZIP_MAX_BYTES:
                            raise InputError(f"{origin}: zip archive unpacks to more than "
                                             f"{ZIP_MAX_BYTES // (1024 * 1024)} MB; nothing stored")
                        write(block)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise InputError(f"{origin}: not a readable zip archive ({exc}); nothing stored") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, or a compression method zipfile lacks
        raise InputError(f"{origin}: cannot unpack the zip archive ({exc}); nothing stored") from None


def unzip_bytes(data: bytes, origin: str) -> bytes:
    """A zip archive held in memory -> the bytes of its conversation files (see _zip_members)."""
    import io

    out = bytearray()
    _unzip_into(io.BytesIO(data), origin, out.extend)
    return bytes(out)


def unzip(fileobj: BinaryIO, origin: str, small: int = SMALL_INPUT) -> bytes | Spool:
    """A zip archive on a seekable file -> its conversation files' bytes, as bytes when small, else as a Spool
    (unpacked into a private temporary file and checked on the way, as read_input does)."""
    checker = _Checker(origin)
    spool = tempfile.TemporaryFile(prefix="memcli-")
    try:
        def write(block: bytes) -> None:
            checker.feed(block)
            spool.write(block)

        _unzip_into(fileobj, origin, write)
        checker.finish()
        if checker.size <= small:
            spool.seek(0)
            data = spool.read()
            spool.close()
            return data
    except OSError as exc:
        spool.close()
        raise InputError(f"{origin}: cannot unpack the zip archive to a temporary file: {exc.strerror}") from None
    except BaseException:
        spool.close()
        raise
    return Spool(origin, spool, checker.size, checker.sha.hexdigest())


def _stdin_zip(buf: bytearray, stream: BinaryIO, origin: str, small: int) -> bytes | Spool:
    """A zip archive piped in: zipfile needs to seek, so it is kept in a private temporary file first."""
    with tempfile.TemporaryFile(prefix="memcli-") as raw:
        size = len(buf)
        raw.write(buf)
        while block := stream.read(_BLOCK):
            size += len(block)
            if size > WHOLE_LIMIT:
                raise InputError(f"{origin}: zip archive larger than {WHOLE_LIMIT // (1024 * 1024)} MB; nothing stored")
            raw.write(block)
        raw.seek(0)
        return unzip(raw, origin, small)


def _utf8_cut(data: bytes) -> int:
    """Where to cut `data` so no UTF-8 character is split: after the last space if there is one, else before
    any trailing partial character."""
    space = data.rfind(b" ")
    if space >= 0:
        return space + 1
    cut = len(data)
    while cut > 0 and len(data) - cut < 4 and (data[cut - 1] & 0xC0) == 0x80:
        cut -= 1
    if cut > 0 and data[cut - 1] >= 0xC0:  # lead byte of the split character
        cut -= 1
    return cut or len(data)


def _lines(spool: Spool, fragment: bool = True) -> Iterator[tuple[int, int, str]]:
    """(line number, byte offset, text) per line. With `fragment`, a line longer than LINE_PIECE bytes comes in
    pieces (cut after a space where possible), so a 50 MB single line never sits in memory whole."""
    spool.file.seek(0)
    offset, lineno, carry = 0, 1, b""
    while True:
        raw = carry + spool.file.readline(LINE_PIECE if fragment else -1)
        carry = b""
        if not raw:
            return
        ended = raw.endswith(b"\n")
        if not ended and fragment and len(raw) >= LINE_PIECE:
            cut = _utf8_cut(raw)
            raw, carry = raw[:cut], raw[cut:]
        line = raw.decode("utf-8")
        if offset == 0:
            line = line.removeprefix("\ufeff")
        yield lineno, offset, line.removesuffix("\n").removesuffix("\r")
        offset += len(raw)
        if ended:
            lineno += 1


def iter_parts(spool: Spool, parse, fragment: bool = True) -> Iterator[tuple[int, int, list[Message]]]:
    """(start byte, end byte, messages) per part. Parts end at message boundaries and depend only on the
    input, so a rerun cuts the same parts and recognises those already stored."""
    part: list[Message] = []
    start = chars = 0
    for offset, msg in parse(_lines(spool, fragment), spool.origin):
        if not msg.text.strip():
            continue
        if part and (len(part) >= PART_MESSAGES or chars >= PART_CHARS):
            yield start, offset, part
            part, start, chars = [], offset, 0
        pieces = split_long(msg)
        part.extend(pieces)
        chars += len(msg.text)
    if part:
        yield start, spool.size, part
