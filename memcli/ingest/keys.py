"""What a memory is found by. The verbatim text is kept as is; the keys add what a question may mention.

- key_text (embedded): 'Speaker: text'.
- fts text: the same, so speaker names match.
- context (second FTS column, lower weight): the two turns before and after, because answers often sit in a
  reply to the message that names the topic, plus the event date spelled out ('Friday 29 December 2023') so
  a question naming a month or a weekday can match. Chosen with bench/grid.py; ablation in bench/realtalk.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keys are needed by the CLI's output layer, which must not pay for the parsers on --help
    from .parse import Message


@dataclass(frozen=True)
class KeyOptions:
    context_before: int = 2
    context_after: int = 2
    context_chars: int = 600  # cap per neighbour, so a long neighbour does not drown the message itself
    embed_context: bool = False
    date_in_context: bool = True  # add 'Friday 29 December 2023' to the context column


def date_words(iso: str | None) -> str:
    """Spell the event date out so 'December', '2023' or 'Friday' in a question can match it."""
    if not iso:
        return ""
    from datetime import datetime

    try:
        return datetime.strptime(iso[:10], "%Y-%m-%d").strftime("%A %d %B %Y")
    except ValueError:
        return ""


def labelled(speaker: str | None, text: str) -> str:
    """'Speaker: text', the form every key and prompt shows a message in."""
    return f"{speaker}: {text}" if speaker else text


def label(msg: Message) -> str:
    return labelled(msg.speaker, msg.text)


def build_keys(messages: list[Message], opts: KeyOptions,
               times: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(key_text, fts_text, context) per message; `times` are the resolved event times, if known."""
    out = []
    for i, msg in enumerate(messages):
        own = label(msg)
        neighbours = messages[max(0, i - opts.context_before) : i] + messages[i + 1 : i + 1 + opts.context_after]
        context = "\n".join(label(n)[: opts.context_chars] for n in neighbours)
        if opts.date_in_context and times:
            context = (date_words(times[i]) + "\n" + context).strip()
        key = own
        if opts.embed_context and i > 0 and opts.context_before:
            key = label(messages[i - 1])[: opts.context_chars] + "\n" + own
        out.append((key, own, context))
    return out
