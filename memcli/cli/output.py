"""One output layer: human tables on the terminal, --json for programs, -q for scripts that only want ids.

Stored text is data, never markup or terminal control: cells are rich Text objects (no markup parsing) and
control characters are shown escaped.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..ingest.keys import labelled

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str | None) -> str:
    """Escape control characters (ANSI escapes included) so stored text cannot drive the terminal."""
    if text is None:
        return ""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def local_time(iso: str | None) -> str:
    """A stored UTC time as the user's local time with its offset, for people ('2024-05-03 17:00 +02:00');
    JSON output keeps the stored ISO-8601 UTC."""
    if not iso:
        return "-"
    from datetime import datetime

    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return safe(iso)
    offset = when.strftime("%z")
    return when.strftime("%Y-%m-%d %H:%M ") + (f"{offset[:3]}:{offset[3:]}" if offset else "")


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=stderr)  # messages on stderr are never wrapped


@dataclass
class Output:
    json_mode: bool = False
    quiet: bool = False
    nl: bool = False  # JSON Lines: one hit per line instead of one list

    def emit_json(self, payload) -> None:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")

    def info(self, message: str) -> None:
        """Progress and notes go to stderr so stdout stays parseable."""
        if not self.quiet:
            _console(stderr=True).print(safe(message), markup=False)

    def warn(self, message: str) -> None:
        """Warnings show even with --quiet and --json: they are about the data, not chatter."""
        _console(stderr=True).print("memcli: warning: " + safe(message), markup=False)

    @contextmanager
    def progress(self, description: str) -> Iterator:
        """A progress bar on stderr when a person is watching; a no-op callback for pipes, cron and --quiet."""
        if self.quiet or not sys.stderr.isatty():
            yield lambda done, total: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=_console(stderr=True), transient=True) as bar:
            task = bar.add_task(description, total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield advance

    def remembered(self, result, facts=None) -> None:
        if self.json_mode:
            payload = {
                "created": result.created, "existing": result.existing, "sources": result.sources,
                "skipped_sources": result.skipped_sources, "messages": result.messages,
                "flagged": {str(k): v for k, v in result.flagged.items()},
            }
            if facts is not None:
                payload["facts"] = facts.to_json()
            self.emit_json(payload)
            return
        if self.quiet:
            for mid in result.created:
                print(mid)
            return
        parts = [f"remembered {len(result.created)} new memor{'y' if len(result.created) == 1 else 'ies'}"]
        if result.created:
            parts.append("ids " + _ranges(result.created))
        if result.existing:
            parts.append(f"{len(result.existing)} already stored")
        if facts is not None:
            parts.append(f"facts: {facts.proposed} proposed, {len(facts.accepted)} grounded and kept, "
                         f"{facts.rejected} rejected")
        print(", ".join(parts))

    def hits(self, query: str, hits: list, *, batch: bool = False, batch_id=None) -> None:
        """A list of hits; in batch mode one JSON line per query: {"query", "id", "hits"}."""
        if self.nl and not batch:
            for h in hits:
                self.emit_json(h.to_json())
            return
        if self.json_mode:
            payload = [h.to_json() for h in hits]
            if batch:
                self.emit_json({"query": query, "id": batch_id, "hits": payload})
            else:
                self.emit_json(payload)
            return
        if self.quiet:
            for h in hits:
                print(h.id)
            return
        if not hits:  # a note for people, on stderr: a pipe reading tab-separated hits gets no lines at all
            print(f"No memory matches {safe(query)!r}.", file=sys.stderr)
            return
        if not sys.stdout.isatty():
            # Pipes get stable tab-separated lines (id, when, score, sources, text), not a drawn table.
            for h in hits:
                text = labelled(h.speaker, h.text)
                src = ",".join(f"{s['source_id']}" + (f":{s['message_id']}" if s["message_id"] else "")
                               for s in h.sources)
                print("\t".join([str(h.id), h.occurred_at, f"{h.score:.4f}", safe(src),
                                 safe(text).replace("\n", "\\n").replace("\t", " ")]))
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(f"recall: {safe(query)}"), show_lines=False)
        table.add_column("id", justify="right", no_wrap=True)
        table.add_column("text", overflow="fold")
        table.add_column("when", no_wrap=True)
        table.add_column("score", justify="right", no_wrap=True)
        table.add_column("source", no_wrap=True)
        for h in hits:
            text = labelled(h.speaker, h.text)
            src = ", ".join(
                f"{s['source_id']}" + (f":{s['message_id']}" if s["message_id"] else "") for s in h.sources[:3]
            )
            if len(h.sources) > 3:
                src += f" +{len(h.sources) - 3}"
            table.add_row(Text(str(h.id)), Text(safe(text)), Text(local_time(h.occurred_at)),
                          Text(f"{h.score:.4f}"), Text(safe(src)))
        _console().print(table)

    def mapping(self, data: dict) -> None:
        if self.json_mode:
            self.emit_json(data)
            return
        for key, value in data.items():
            print(f"{key}: {safe(str(value))}")


def _ranges(ids: list[int]) -> str:
    """1,2,3,7 -> '1-3, 7' so a big import does not print thousands of ids."""
    ids = sorted(ids)
    out, start, prev = [], ids[0], ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(out)
