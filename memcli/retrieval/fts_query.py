"""Turn free text into a safe FTS5 MATCH expression.

Users type questions, not FTS5 syntax: quotes, '*', NEAR, OR and parentheses must never reach FTS5 as operators.
Each word is quoted (so it is a literal token), stop words are dropped so BM25 weighs the content words,
and the words are OR-ed so a memory needs only some of them.
"""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few
    for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him
    himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my
    myself no nor not of off on once only or other ought our ours ourselves out over own same shan't she she'd
    she'll she's should shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those through to too under until up very was wasn't we
    we'd we'll we're we've were weren't what what's when when's where where's which while who who's whom why why's
    with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves s t d ll m re ve
    did does tell know also just get got""".split()
)

_WORD = re.compile(r"\w+", re.UNICODE)


def content_words(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in STOP_WORDS]
    return kept or words


def query_terms(text: str) -> list[str]:
    """Content words, de-duplicated in order."""
    return list(dict.fromkeys(content_words(text)))


def or_expression(terms: list[str]) -> str | None:
    """OR of quoted terms (each a literal token, never an operator); None for no terms."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in terms) or None


def match_expression(text: str) -> str | None:
    """OR of quoted words, de-duplicated in order; None when the text has no word at all."""
    return or_expression(query_terms(text))
