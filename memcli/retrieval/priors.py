"""Multiplicative priors applied to fused scores: who the question is about, how much a memory says, and when.

Each was measured on the REALTALK tuning split (bench/realtalk.py --ablation prints each one removed):
- a question naming one speaker ('What are Fahim's hobbies?') is mostly answered by that speaker's own turns;
  names are matched loosely because people misspell them ('Muhammad' for 'Muhhamed');
- evidence turns are longer than average (median 110 vs 60 characters on REALTALK): BM25's length normalisation
  works against the long turns that carry the content. Only length beyond the median turn counts, and only up to
  4 times it, so among short notes (most of what people `remember` by hand) the search's own order stands;
- a question naming a date favours memories told near it, with a few days' slack after and before: people
  tell of a day's events late that night (a different UTC date) or the next day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from .fts_query import STOP_WORDS

_WORD = re.compile(r"\w+", re.UNICODE)
# Two-letter words and titles a question may capitalise that STOP_WORDS lacks: never read as a name.
_SHORT_WORDS = frozenset("ok hi oh ah eh uh um yo ya ye go us tv pm id ex ma pa la lo dr mr ms st jr".split())
DAY_SECONDS = 86400.0


def _edit_distance(a: str, b: str, cap: int) -> int:
    """Levenshtein distance, stopping early once every path exceeds `cap`."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        if min(row) > cap:
            return cap + 1
    return row[-1]


def _names_word(name_part: str, word: str) -> int:
    """How strongly `word` names `name_part`: 2 the same word (case-blind), 1 a likely misspelling, 0 not at all.

    A misspelling ('Muhammad' for 'Muhhamed') counts only when the question capitalises it and both have 5+
    letters, within 2 edits: lowercase look-alikes are ordinary words ('games' for James, 'hello' for Bella).
    Two-letter names ('Bo', 'Li') match only as written, with their capital, and never when they are a common
    word or title ('Do', 'So', 'Dr'); one letter never ('A' and 'B' as speakers would match every article)."""
    if len(name_part) < 3:
        return 2 * (len(name_part) == 2 and word == name_part and name_part[0].isupper()
                    and name_part.lower() not in STOP_WORDS and name_part.lower() not in _SHORT_WORDS)
    if word.lower() == name_part.lower():
        return 2 * (word.lower() not in STOP_WORDS)
    return int(word[:1].isupper() and len(word) >= 5 and len(name_part) >= 5
               and _edit_distance(word.lower(), name_part.lower(), 2) <= 2)


def named_speaker(question: str, speakers: Iterable[str | None]) -> str | None:
    """The one speaker the question names best, or None when it names none, or several equally.

    Each of a speaker's name parts counts once, by its strongest match: 'Ana Silva' beats 'Ana Costa' in 'What
    did Ana Silva say?', and 'Maria' spelled right beats 'Mario' one edit away."""
    words = _WORD.findall(question)
    scored = []
    for speaker in {s for s in speakers if s}:
        strengths = [max((_names_word(p, w) for w in words), default=0) for p in set(_WORD.findall(speaker))]
        score = (sum(x == 2 for x in strengths), sum(x == 1 for x in strengths))
        if score != (0, 0):
            scored.append((score, speaker))
    if not scored:
        return None
    scored.sort(reverse=True)
    return scored[0][1] if len(scored) == 1 or scored[0][0] > scored[1][0] else None


def name_spans(question: str, speaker: str) -> list[tuple[int, int]]:
    """Where `question` names `speaker`: (start, end) of each word that matches one of the speaker's name parts the
    way named_speaker counts them (the same word, or a capitalised likely misspelling). For rewriting a question
    about one person into one about another, or reading what it asks once the name is set aside."""
    parts = set(_WORD.findall(speaker))
    return [(m.start(), m.end()) for m in _WORD.finditer(question)
            if any(_names_word(p, m.group()) for p in parts)]


LENGTH_FROM, LENGTH_UP_TO = 60, 240


def length_factor(n_chars: int, exponent: float) -> float:
    """(length / 60)^exponent for 60..240 characters: 1 for shorter, (240 / 60)^exponent for longer."""
    return (min(max(n_chars, LENGTH_FROM), LENGTH_UP_TO) / LENGTH_FROM) ** exponent if exponent else 1.0


def _seconds(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class TimeProximity:
    """1 + boost inside the question's spans, fading linearly to 1 over `pad_days` outside them."""

    def __init__(self, spans: list[tuple[str | None, str | None]], boost: float, pad_days: float):
        self.spans = [(_seconds(a), _seconds(b)) for a, b in spans]
        self.boost = boost
        self.reach = (pad_days + 1.0) * DAY_SECONDS

    def factor(self, occurred_at: str | None) -> float:
        t = _seconds(occurred_at)
        if t is None or not self.spans:
            return 1.0
        gap = min(max(0.0, (lo - t) if lo is not None else 0.0, (t - hi) if hi is not None else 0.0)
                  for lo, hi in self.spans)
        return 1.0 + self.boost * max(0.0, 1.0 - gap / self.reach)
